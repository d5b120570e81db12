/**
 * Whether a parsed JSON value nests deeper than `limit`. Iterative, so a hostile
 * body cannot overflow the stack here — as it would in recursive code downstream
 * (class-transformer, the validation pipe).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(current)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}
