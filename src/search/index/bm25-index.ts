export interface Bm25Parameters {
  /** Term-frequency saturation. */
  k1: number;
  /** Length normalisation: 0 ignores document length, 1 normalises fully. */
  b: number;
}

export interface ScoredId {
  id: string;
  score: number;
}

export const BM25_DEFAULTS: Bm25Parameters = { k1: 1.2, b: 0.75 };

/**
 * An incremental BM25 index over already-tokenized documents: postings per
 * term, lengths per document, statistics kept exact through adds and removes.
 */
export class Bm25Index {
  /** term -> (document id -> term frequency) */
  private readonly postings = new Map<string, Map<string, number>>();
  /** document id -> its distinct terms and its length in terms */
  private readonly documents = new Map<string, { terms: string[]; length: number }>();
  private totalLength = 0;

  constructor(private readonly parameters: Bm25Parameters = BM25_DEFAULTS) {}

  get size(): number {
    return this.documents.size;
  }

  /** Adds or replaces a document. */
  add(id: string, terms: readonly string[]): void {
    this.remove(id);
    const frequencies = new Map<string, number>();
    for (const term of terms) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    for (const [term, frequency] of frequencies) {
      let posting = this.postings.get(term);
      if (!posting) this.postings.set(term, (posting = new Map()));
      posting.set(id, frequency);
    }
    this.documents.set(id, { terms: [...frequencies.keys()], length: terms.length });
    this.totalLength += terms.length;
  }

  remove(id: string): boolean {
    const document = this.documents.get(id);
    if (!document) return false;
    for (const term of document.terms) {
      const posting = this.postings.get(term)!;
      posting.delete(id);
      if (posting.size === 0) this.postings.delete(term);
    }
    this.documents.delete(id);
    this.totalLength -= document.length;
    return true;
  }

  /** Lucene's idf: never negative, so a term in most documents still counts a little. */
  idf(term: string): number {
    const df = this.postings.get(term)?.size ?? 0;
    const n = this.documents.size;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /**
   * The best `limit` documents for these query terms (each distinct term counted
   * once), best first, ties by id; only documents `accept` lets through.
   */
  search(queryTerms: readonly string[], limit: number, accept?: (id: string) => boolean): ScoredId[] {
    if (this.documents.size === 0 || limit <= 0) return [];
    const { k1, b } = this.parameters;
    const averageLength = this.totalLength / this.documents.size || 1;
    const scores = new Map<string, number>();
    for (const term of new Set(queryTerms)) {
      const posting = this.postings.get(term);
      if (!posting) continue;
      const idf = this.idf(term);
      for (const [id, frequency] of posting) {
        const length = this.documents.get(id)!.length;
        const weight = (idf * frequency * (k1 + 1)) / (frequency + k1 * (1 - b + (b * length) / averageLength));
        scores.set(id, (scores.get(id) ?? 0) + weight);
      }
    }
    const ranked: ScoredId[] = [];
    for (const [id, score] of scores) if (!accept || accept(id)) ranked.push({ id, score });
    return ranked.sort(byScoreThenId).slice(0, limit);
  }
}

export function byScoreThenId(a: ScoredId, b: ScoredId): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
