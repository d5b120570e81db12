/**
 * Deterministic stand-in for an embedding model: a signed hashed bag of words,
 * L2-normalised. Texts that share words get a high cosine similarity, which is
 * all retrieval tests need, and the same text always gives the same vector.
 */

const WORD = /[\p{L}\p{N}]+/gu;

// Real models top out at 3072 dimensions; the cap only guards the simulator's memory.
export const MAX_EMBEDDING_DIMENSIONS = 8192;

/** 32-bit FNV-1a over the UTF-16 code units; stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export function embedText(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(WORD) ?? []) {
    const hash = fnv1a(word);
    // The bucket comes from the low bits and the sign from the top bit, so
    // collisions between different words tend to cancel instead of add up.
    vector[hash % dimensions] += hash >>> 31 ? -1 : 1;
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  // A text without words has no direction; the zero vector says so honestly.
  return norm === 0 ? vector : vector.map((value) => value / norm);
}
