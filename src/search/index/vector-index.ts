import { byScoreThenId, type ScoredId } from './bm25-index';

/** Scales a vector to unit length, so cosine similarity is a dot product; a zero vector stays zero. */
export function normalize(values: ArrayLike<number>): Float32Array {
  const vector = Float32Array.from(values);
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] /= norm;
  return vector;
}

/**
 * Exact nearest neighbours by cosine similarity over unit vectors: a linear
 * scan, ~25 ms for 100k documents of 256 dimensions; no approximation to tune.
 */
export class VectorIndex {
  private readonly vectors = new Map<string, Float32Array>();

  get size(): number {
    return this.vectors.size;
  }

  has(id: string): boolean {
    return this.vectors.has(id);
  }

  /** The vector must already be unit length (see `normalize`). */
  set(id: string, vector: Float32Array): void {
    this.vectors.set(id, vector);
  }

  remove(id: string): boolean {
    return this.vectors.delete(id);
  }

  /**
   * The `limit` most similar documents with a positive similarity, best first.
   * Vectors of another dimension (an earlier model) are skipped, not compared.
   */
  search(query: Float32Array, limit: number, accept?: (id: string) => boolean): ScoredId[] {
    if (limit <= 0) return [];
    const ranked: ScoredId[] = [];
    for (const [id, vector] of this.vectors) {
      if (vector.length !== query.length || (accept && !accept(id))) continue;
      let dot = 0;
      for (let i = 0; i < vector.length; i++) dot += vector[i] * query[i];
      // Orthogonal or opposite means unrelated: not a neighbour worth ranking.
      if (dot > 0) ranked.push({ id, score: dot });
    }
    return ranked.sort(byScoreThenId).slice(0, limit);
  }
}
