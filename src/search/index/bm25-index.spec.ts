import { Bm25Index } from './bm25-index';
import { tokenize } from './tokenizer';

function indexOf(documents: Record<string, string>): Bm25Index {
  const index = new Bm25Index();
  for (const [id, text] of Object.entries(documents)) index.add(id, tokenize(text));
  return index;
}

describe('tokenize', () => {
  it('keeps unicode letters and digits, lower-cased, without stop words', () => {
    expect(tokenize('The Café serves TLS 1.3 to Zürich, and it is fast!')).toEqual(['café', 'serves', 'tls', '1', '3', 'zürich', 'fast']);
  });

  it('folds compatibility forms (NFKC), so full-width letters match ASCII', () => {
    expect(tokenize('ＨＴＴＰ keep-alive')).toEqual(['http', 'keep', 'alive']);
  });
});

describe('Bm25Index', () => {
  const corpus = {
    pool: 'connection pool keeps sockets open for reuse',
    tls: 'TLS handshake costs round trips',
    both: 'a pool of TLS connections avoids the handshake',
    long: 'pool ' + 'filler words that say nothing in particular '.repeat(20),
  };

  it('matches the BM25 formula (k1 1.2, b 0.75, Lucene idf)', () => {
    const index = indexOf({ a: 'apple banana', b: 'apple apple cherry date' });
    // N = 2, avgdl = 3; "banana": df 1 -> idf ln(1 + 1.5/1.5) = ln 2; doc a: tf 1, dl 2
    const idf = Math.log(2);
    const expected = (idf * 1 * 2.2) / (1 + 1.2 * (1 - 0.75 + (0.75 * 2) / 3));
    const [hit] = index.search(['banana'], 10);
    expect(hit.id).toBe('a');
    expect(hit.score).toBeCloseTo(expected, 10);
  });

  it('ranks documents with more (and rarer) query terms first', () => {
    const index = indexOf(corpus);
    expect(index.search(tokenize('TLS pool handshake'), 10).map((hit) => hit.id)).toEqual(['both', 'tls', 'pool', 'long']);
  });

  it('normalises length: the same term counts less in a long document', () => {
    const index = indexOf(corpus);
    const scores = Object.fromEntries(index.search(['pool'], 10).map((hit) => [hit.id, hit.score]));
    expect(scores.pool).toBeGreaterThan(scores.long);
  });

  it('saturates repeated terms', () => {
    const index = indexOf({ once: 'cache miss', many: 'cache cache cache cache cache cache cache cache', other: 'unrelated text' });
    const [many, once] = index.search(['cache'], 10);
    expect(many.id).toBe('many');
    expect(many.score / once.score).toBeLessThan(2.2); // k1 + 1 bounds the gain of repetition
  });

  it('keeps statistics exact through replace and remove', () => {
    const index = indexOf(corpus);
    index.add('tls', tokenize('nothing relevant here'));
    index.remove('both');
    expect(index.size).toBe(3);
    const fresh = indexOf({ pool: corpus.pool, tls: 'nothing relevant here', long: corpus.long });
    expect(index.search(['pool', 'handshake'], 10)).toEqual(fresh.search(['pool', 'handshake'], 10));
    expect(index.search(['handshake'], 10)).toEqual([]);
    expect(index.remove('both')).toBe(false);
  });

  it('applies the filter and the limit, ties broken by id', () => {
    const index = indexOf({ b: 'same words', a: 'same words', c: 'same words' });
    expect(index.search(['same'], 2).map((hit) => hit.id)).toEqual(['a', 'b']);
    expect(index.search(['same'], 10, (id) => id !== 'a').map((hit) => hit.id)).toEqual(['b', 'c']);
  });

  it('answers an empty index or a query without known terms with no hits', () => {
    expect(new Bm25Index().search(['x'], 5)).toEqual([]);
    expect(indexOf(corpus).search(['zebra'], 5)).toEqual([]);
  });
});
