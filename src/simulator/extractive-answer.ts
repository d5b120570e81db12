/**
 * The simulator's deterministic "model": it answers by extracting the source
 * sentences that share the most words with the question. Pure functions, so
 * tests of the service can predict an answer (and its citations) exactly.
 */

/** One message reduced to its text; the wire formats produce these. */
export interface ChatTurn {
  role: string;
  text: string;
}

export interface Answer {
  text: string;
  /** true when max tokens cut the answer short (finish 'length' / 'max_tokens'). */
  truncated: boolean;
  promptTokens: number;
  completionTokens: number;
  citations: string[];
}

interface Candidate {
  sentence: string;
  sourceId?: string;
  words: Set<string>;
}

// `[doc-1] Some text.` — the convention the service uses to hand sources to a model.
const SOURCE_LINE = /^\s*\[([A-Za-z0-9_.:-]+)\]\s+(\S.*)$/;
const SENTENCE_END = /(?<=[.!?])\s+/;
const WORD = /[\p{L}\p{N}]+/gu;
const MAX_SENTENCES = 3;
const NOT_FOUND = 'I could not find that in the provided sources.';

// Small on purpose: enough that "what is the ..." does not match every sentence.
const STOP_WORDS = new Set([
  'the', 'and', 'for', 'are', 'but', 'not', 'you', 'your', 'all', 'any', 'can',
  'was', 'were', 'has', 'have', 'had', 'what', 'which', 'who', 'whom', 'how',
  'why', 'when', 'where', 'this', 'that', 'these', 'those', 'with', 'from',
  'into', 'about', 'does', 'did', 'its', 'they', 'them', 'their', 'there',
  'then', 'than', 'will', 'would', 'should', 'could', 'been', 'being', 'also',
  'just', 'only', 'some', 'such', 'very', 'more', 'most', 'other', 'please',
  'tell', 'give', 'our', 'out', 'one',
]);

/** Text of a message content: a string, or an array of `{type:'text', text}` blocks. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      if (typeof block === 'string') return block;
      const { type, text } = (block ?? {}) as { type?: unknown; text?: unknown };
      return type === 'text' && typeof text === 'string' ? text : '';
    })
    .filter((text) => text.length > 0)
    .join('\n');
}

/**
 * Splits text into one piece per whitespace-separated word, each piece keeping
 * the whitespace before it, so the pieces concatenate back to the exact text
 * (a streamed answer must equal the non-streamed one).
 */
export function splitTokens(text: string): string[] {
  const pieces = text.match(/\s*\S+/g) ?? [];
  const consumed = pieces.reduce((length, piece) => length + piece.length, 0);
  if (pieces.length > 0 && consumed < text.length) pieces[pieces.length - 1] += text.slice(consumed);
  return pieces;
}

export function countWords(text: string): number {
  return text.split(/\s+/).filter((word) => word.length > 0).length;
}

function contentWords(text: string): Set<string> {
  const words = text.toLowerCase().match(WORD) ?? [];
  return new Set(words.filter((word) => word.length >= 3 && !STOP_WORDS.has(word)));
}

function sentencesOf(text: string): string[] {
  return text
    .split(SENTENCE_END)
    .map((sentence) => sentence.replace(/\s+/g, ' ').trim())
    .filter((sentence) => sentence.length > 0);
}

/** The last non-empty, non-source line of the last user message. */
function findQuestion(turns: ChatTurn[]): { turn?: ChatTurn; line: string; lineIndex: number } {
  const turn = [...turns].reverse().find((candidate) => candidate.role === 'user');
  if (!turn) return { line: '', lineIndex: -1 };
  const lines = turn.text.split(/\r?\n/);
  for (let index = lines.length - 1; index >= 0; index--) {
    const line = lines[index].trim();
    if (line.length > 0 && !SOURCE_LINE.test(line)) return { turn, line, lineIndex: index };
  }
  return { turn, line: '', lineIndex: -1 };
}

function collectCandidates(turns: ChatTurn[], question: ReturnType<typeof findQuestion>): { candidates: Candidate[]; hadSources: boolean } {
  const sourced: Candidate[] = [];
  const plain: Candidate[] = [];
  for (const turn of turns) {
    if (turn.role !== 'user' && turn.role !== 'system') continue;
    turn.text.split(/\r?\n/).forEach((line, index) => {
      const source = SOURCE_LINE.exec(line);
      if (source) {
        for (const sentence of sentencesOf(source[2])) {
          sourced.push({ sentence, sourceId: source[1], words: contentWords(sentence) });
        }
      } else if (!(turn === question.turn && index === question.lineIndex)) {
        for (const sentence of sentencesOf(line)) plain.push({ sentence, words: contentWords(sentence) });
      }
    });
  }
  return sourced.length > 0 ? { candidates: sourced, hadSources: true } : { candidates: plain, hadSources: false };
}

function extract(turns: ChatTurn[]): { text: string; citations: string[] } {
  const question = findQuestion(turns);
  const questionWords = contentWords(question.line);
  const { candidates, hadSources } = collectCandidates(turns, question);

  const scored = candidates
    .map((candidate, index) => ({
      candidate,
      index,
      score: [...candidate.words].filter((word) => questionWords.has(word)).length,
    }))
    .filter((entry) => entry.score > 0);
  if (scored.length === 0) {
    return { text: hadSources ? NOT_FOUND : `Echo: ${question.line}`, citations: [] };
  }

  // Best first (ties keep document order), then re-emitted in document order so
  // the answer reads like the sources it came from.
  const chosen = scored
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, MAX_SENTENCES)
    .sort((a, b) => a.index - b.index)
    .map((entry) => entry.candidate);

  const citations = [...new Set(chosen.flatMap((candidate) => (candidate.sourceId ? [candidate.sourceId] : [])))];
  const text = chosen
    .map((candidate) => (candidate.sourceId ? `${candidate.sentence} [${candidate.sourceId}]` : candidate.sentence))
    .join(' ');
  return { text, citations };
}

function wantsJson(turns: ChatTurn[]): boolean {
  return turns.some((turn) => (turn.role === 'system' || turn.role === 'user') && /\bJSON\b/.test(turn.text));
}

function promptTokens(turns: ChatTurn[]): number {
  return turns.reduce((total, turn) => total + countWords(turn.text), 0);
}

/** Cuts text to its first `maxTokens` words, keeping the original spacing. */
function truncateWords(text: string, maxTokens: number | undefined): { text: string; truncated: boolean } {
  const pieces = splitTokens(text);
  if (maxTokens === undefined || pieces.length <= maxTokens) return { text, truncated: false };
  return { text: pieces.slice(0, maxTokens).join('').trimEnd(), truncated: true };
}

/**
 * The answer for a conversation: extractive text (or a compact JSON object when
 * the prompt asks for JSON), cut to `maxTokens` words like a real model would.
 */
export function composeAnswer(turns: ChatTurn[], maxTokens?: number): Answer {
  const extracted = extract(turns);
  const full = wantsJson(turns)
    ? JSON.stringify({ answer: extracted.text, citations: extracted.citations })
    : extracted.text;
  const { text, truncated } = truncateWords(full, maxTokens);
  return {
    text,
    truncated,
    promptTokens: promptTokens(turns),
    completionTokens: countWords(text),
    citations: extracted.citations,
  };
}

/** A fixed reply (the `replyText` fault), returned verbatim whatever max tokens says. */
export function fixedAnswer(turns: ChatTurn[], text: string): Answer {
  return { text, truncated: false, promptTokens: promptTokens(turns), completionTokens: countWords(text), citations: [] };
}
