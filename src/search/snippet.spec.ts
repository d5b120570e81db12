import { tokenize } from './index/tokenizer';
import { highlightSnippet } from './snippet';

const terms = (query: string) => new Set(tokenize(query));

describe('highlightSnippet', () => {
  it('wraps every matched query term in ** and keeps the original spelling', () => {
    expect(highlightSnippet('Keep-Alive saves a TLS handshake.', terms('tls keep'))).toBe('**Keep**-Alive saves a **TLS** handshake.');
  });

  it('shows the window with the most distinct query terms, cut at whole words with ellipses', () => {
    const text = `${'lorem ipsum dolor '.repeat(40)}the pool reuses sockets ${'sit amet '.repeat(40)}`;
    const snippet = highlightSnippet(text, terms('pool sockets'), 120);
    expect(snippet).toMatch(/^….*\*\*pool\*\* reuses \*\*sockets\*\*.*…$/);
    expect(snippet.replace(/\*\*|…/g, '').length).toBeLessThanOrEqual(120);
    // whole words on both sides of the cuts
    expect(snippet).toMatch(/^…(lorem|ipsum|dolor) /);
    expect(snippet).toMatch(/ (sit|amet)…$/);
  });

  it('starts at the beginning when nothing matches, and collapses whitespace', () => {
    expect(highlightSnippet('First line.\n\n  Second   line.', terms('absent'))).toBe('First line. Second line.');
  });

  it('does not highlight inside other words', () => {
    expect(highlightSnippet('pooling is not a pool', terms('pool'))).toBe('pooling is not a **pool**');
  });
});
