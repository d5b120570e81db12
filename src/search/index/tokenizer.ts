/**
 * The one tokenizer of the index, the query and the highlighter, so a term
 * matches the same way everywhere: runs of unicode letters and digits,
 * NFKC-folded and lower-cased, minus a short English stop list.
 */

const WORD = /[\p{L}\p{N}]+/gu;

// Lucene's classic English stop set plus the words questions start with ("why does ..."):
// short on purpose, so rare but meaningful words are never dropped.
const STOP_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it',
  'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these',
  'they', 'this', 'to', 'was', 'will', 'with',
  'do', 'does', 'how', 'i', 'my', 'we', 'what', 'when', 'where', 'which', 'who', 'why', 'you', 'your',
]);

export interface Token {
  term: string;
  /** UTF-16 offsets of the word in the original text. */
  start: number;
  end: number;
}

function termOf(word: string): string | undefined {
  const term = word.normalize('NFKC').toLowerCase();
  return STOP_WORDS.has(term) ? undefined : term;
}

/** Terms in text order, repeats kept (term frequency counts them). */
export function tokenize(text: string): string[] {
  const terms: string[] = [];
  for (const match of text.matchAll(WORD)) {
    const term = termOf(match[0]);
    if (term !== undefined) terms.push(term);
  }
  return terms;
}

/** Terms with their positions in the original text, for highlighting. */
export function tokenizeWithOffsets(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(WORD)) {
    const term = termOf(match[0]);
    if (term !== undefined) tokens.push({ term, start: match.index, end: match.index + match[0].length });
  }
  return tokens;
}
