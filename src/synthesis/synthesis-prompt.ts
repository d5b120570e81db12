import type { ChatMessage } from '../llm/chat.types';

/**
 * The synthesis prompt and the reading of its answer: pure functions, so the
 * contract with the model (`[id] text` source lines, `[id]` citations) is in one place.
 */

export type SynthesisFormat = 'text' | 'json';

export interface SynthesisSource {
  id: string;
  text: string;
  title?: string;
  url?: string;
  metadata?: Record<string, unknown>;
}

export interface CitationScan {
  /** Known source ids, in order of first citation. */
  cited: string[];
  /** Distinct ids the model cited that are not among the sources. */
  dropped: string[];
}

export interface JsonAnswer {
  answer: string;
  citations: string[];
}

const INSTRUCTIONS = [
  'You answer questions using only the sources the user provides; do not use any other knowledge.',
  'Each source is one line: its id in square brackets, then its text.',
  'After each statement, cite the source it comes from by its id in square brackets, for example [doc-1].',
  'Cite only ids that appear in the sources. If the sources do not contain the answer, say that it is not in the sources.',
].join('\n');

// The word JSON in capitals is the cue models (and the simulator) key on for a JSON reply.
const JSON_INSTRUCTIONS = [
  'Reply with one JSON object and nothing else, of the form {"answer": string, "citations": string[]}:',
  '"answer" is the answer with its [id] citations, "citations" the ids it cites. Output valid JSON only, no code fences.',
].join('\n');

// `[doc-1]`, `[doc-1, doc-2]`; not a Markdown link text `[label](url)`.
const CITATION_MARK = /\[([^[\]\r\n]{1,512})\](?!\()/g;
const LIST_SEPARATOR = /\s*[,;]\s*/;
const SOURCE_PREFIX = /^sources?\s*[:#]?\s*/i;
const FENCE = /^```(?:json)?\s*([\s\S]*?)\s*```$/i;

/** Line breaks inside a source would start lines that read as new sources (or as the question). */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function sourceLine(source: SynthesisSource): string {
  const title = source.title ? oneLine(source.title) : '';
  return `[${source.id}] ${title ? `${title}: ` : ''}${oneLine(source.text)}`;
}

/** System instructions, then the sources as `[id] text` lines and the question as the last line of the user message. */
export function buildSynthesisMessages(question: string, sources: readonly SynthesisSource[], format: SynthesisFormat): ChatMessage[] {
  const system = format === 'json' ? `${INSTRUCTIONS}\n${JSON_INSTRUCTIONS}` : INSTRUCTIONS;
  const user = ['Sources:', ...sources.map(sourceLine), '', 'Question:', oneLine(question)].join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}

/**
 * The source ids an answer cites, in order of first citation. A mark may list
 * several ids (`[a, b]`); whatever names no source is dropped and reported.
 */
export function scanCitations(answer: string, knownIds: ReadonlySet<string>, listed: readonly string[] = []): CitationScan {
  const cited = new Set<string>();
  const dropped = new Set<string>();
  const note = (candidate: string) => {
    const id = candidate.trim();
    if (!id) return;
    const known = knownIds.has(id) ? id : knownIds.has(id.replace(SOURCE_PREFIX, '')) ? id.replace(SOURCE_PREFIX, '') : undefined;
    if (known) cited.add(known);
    else dropped.add(id);
  };
  for (const match of answer.matchAll(CITATION_MARK)) {
    const content = match[1].trim();
    // The whole mark first: an id may itself contain a comma.
    if (knownIds.has(content)) cited.add(content);
    else content.split(LIST_SEPARATOR).forEach(note);
  }
  listed.forEach(note);
  return { cited: [...cited], dropped: [...dropped] };
}

/** Reads `{"answer": string, "citations": string[]}`, tolerating code fences and prose around the object; undefined when it is not that. */
export function parseJsonAnswer(output: string): JsonAnswer | undefined {
  const start = output.indexOf('{');
  const end = output.lastIndexOf('}');
  // The whole output first (so a JSON array is refused, not mined for an object), then the outermost braces.
  const value = parseOrUndefined(output.trim().replace(FENCE, '$1')) ?? (start >= 0 && end > start ? parseOrUndefined(output.slice(start, end + 1)) : undefined);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { answer, citations } = value as { answer?: unknown; citations?: unknown };
  if (typeof answer !== 'string') return undefined;
  if (citations === undefined) return { answer, citations: [] };
  if (!Array.isArray(citations) || !citations.every((id) => typeof id === 'string')) return undefined;
  return { answer, citations };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
