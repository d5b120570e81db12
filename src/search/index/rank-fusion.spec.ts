import { reciprocalRankFusion } from './rank-fusion';

const ranking = (...ids: string[]) => ids.map((id, i) => ({ id, score: 100 - i }));

describe('reciprocalRankFusion', () => {
  it('sums 1 / (60 + rank) over the rankings', () => {
    const fused = reciprocalRankFusion([ranking('a', 'b', 'c'), ranking('c', 'a')]);
    const score = Object.fromEntries(fused.map((hit) => [hit.id, hit.score]));
    expect(score.a).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(score.b).toBeCloseTo(1 / 62, 12);
    expect(score.c).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(fused.map((hit) => hit.id)).toEqual(['a', 'c', 'b']);
  });

  it('ignores the scales of the scores, only ranks count', () => {
    const tiny = [{ id: 'x', score: 0.001 }, { id: 'y', score: 0.0001 }];
    const huge = [{ id: 'y', score: 9_000 }, { id: 'x', score: 8_000 }];
    const fused = reciprocalRankFusion([tiny, huge]);
    expect(fused[0].score).toBeCloseTo(fused[1].score, 12);
    expect(fused.map((hit) => hit.id)).toEqual(['x', 'y']); // a tie, broken by id
  });

  it('promotes a document both rankings agree on over one that only tops a single ranking', () => {
    const fused = reciprocalRankFusion([ranking('solo', 'shared'), ranking('other', 'shared')]);
    expect(fused[0].id).toBe('shared');
  });

  it('honours another k and handles empty rankings', () => {
    expect(reciprocalRankFusion([ranking('a')], 1)[0].score).toBe(0.5);
    expect(reciprocalRankFusion([[], []])).toEqual([]);
    expect(reciprocalRankFusion([ranking('a'), []]).map((hit) => hit.id)).toEqual(['a']);
  });
});
