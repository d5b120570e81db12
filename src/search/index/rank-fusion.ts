import { byScoreThenId, type ScoredId } from './bm25-index';

/** The constant of Cormack et al. (2009): damps the weight of the very first ranks. */
export const RRF_K = 60;

/**
 * Reciprocal rank fusion: each ranking gives a document 1 / (k + rank), rank
 * from 1; the sums decide. Only ranks matter, so BM25 scores and cosine
 * similarities need no common scale.
 */
export function reciprocalRankFusion(rankings: readonly (readonly ScoredId[])[], k = RRF_K): ScoredId[] {
  const fused = new Map<string, number>();
  for (const ranking of rankings) {
    ranking.forEach(({ id }, index) => fused.set(id, (fused.get(id) ?? 0) + 1 / (k + index + 1)));
  }
  return [...fused].map(([id, score]) => ({ id, score })).sort(byScoreThenId);
}
