import { embedText } from './hashed-embedding';

function cosine(a: number[], b: number[]): number {
  return a.reduce((sum, value, index) => sum + value * b[index], 0);
}

describe('embedText', () => {
  it('is deterministic, case-insensitive and unit length', () => {
    const vector = embedText('Connection pools reuse sockets', 128);
    expect(embedText('connection POOLS reuse sockets!', 128)).toEqual(vector);
    expect(vector).toHaveLength(128);
    expect(cosine(vector, vector)).toBeCloseTo(1, 10);
  });

  it('scores texts by the words they share', () => {
    const query = embedText('keep-alive sockets in the pool', 256);
    const related = embedText('the pool keeps sockets alive', 256);
    const unrelated = embedText('croissants are a French pastry', 256);
    expect(cosine(query, related)).toBeGreaterThan(0.5);
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.3);
  });

  it('gives the zero vector for text without words', () => {
    expect(embedText('  ... ', 8)).toEqual(new Array(8).fill(0));
  });
});
