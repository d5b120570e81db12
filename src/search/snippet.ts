import { tokenizeWithOffsets } from './index/tokenizer';

const SNIPPET_CHARS = 240;
// Context kept before the first matched term, so the snippet does not start on the hit.
const LEAD_CHARS = 60;
const MARK = '**';

/**
 * The window of `text` (about SNIPPET_CHARS long) holding the most distinct
 * query terms, whole words only, with each matched term wrapped in `**` and
 * `…` where the text was cut. Without any match: the start of the text.
 */
export function highlightSnippet(text: string, queryTerms: ReadonlySet<string>, maxChars = SNIPPET_CHARS): string {
  const matches = queryTerms.size === 0 ? [] : tokenizeWithOffsets(text).filter((token) => queryTerms.has(token.term));

  let anchor = 0;
  if (matches.length > 0) {
    // Slide over the matches: the window starting at match i reaches every match ending within maxChars - LEAD.
    let best = { index: 0, distinct: 0, count: 0 };
    for (let i = 0, j = 0; i < matches.length; i++) {
      j = Math.max(j, i);
      while (j + 1 < matches.length && matches[j + 1].end - matches[i].start <= maxChars - LEAD_CHARS) j++;
      const window = matches.slice(i, j + 1);
      const distinct = new Set(window.map((token) => token.term)).size;
      if (distinct > best.distinct || (distinct === best.distinct && window.length > best.count)) best = { index: i, distinct, count: window.length };
    }
    anchor = Math.max(0, matches[best.index].start - LEAD_CHARS);
  }

  let start = anchor;
  let end = Math.min(text.length, start + maxChars);
  if (end - start < maxChars) start = Math.max(0, end - maxChars);
  // Whole words: move the cuts to the nearest whitespace inside the window.
  if (start > 0 && !/\s/.test(text[start - 1])) {
    const space = text.slice(start, start + LEAD_CHARS).search(/\s/);
    if (space >= 0) start += space + 1;
  }
  if (end < text.length && !/\s/.test(text[end])) {
    const space = text.slice(start, end).search(/\s\S*$/);
    if (space > 0) end = start + space;
  }

  let snippet = '';
  let cursor = start;
  for (const token of matches) {
    if (token.start < start || token.end > end) continue;
    snippet += text.slice(cursor, token.start) + MARK + text.slice(token.start, token.end) + MARK;
    cursor = token.end;
  }
  snippet += text.slice(cursor, end);
  snippet = snippet.replace(/\s+/g, ' ').trim();
  return `${start > 0 ? '…' : ''}${snippet}${end < text.length ? '…' : ''}`;
}
