/**
 * The bench measures the service as production runs it: compiled by tsc with
 * tsconfig.build.json (what `npm run build` does) and started with plain `node`.
 * Running it through ts-node instead would load ts-node's hooks into the measured
 * process (it loads the `domain` module and installs source-map-support), which
 * is not what is deployed.
 *
 * The output goes to node_modules/.cache/llm-bench-<checkout>/ (never to dist/, which is
 * the project's own), laid out like the repository so that paths the service
 * computes from __dirname (package.json two levels up, assets beside the code) hold.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
// One build directory per checkout: a git worktree that links node_modules from another checkout must not
// delete (or overwrite) the build a bench running there is measuring.
const buildRootOf = (checkout: string) => join(ROOT, 'node_modules', '.cache', `llm-bench-${createHash('sha256').update(checkout).digest('hex').slice(0, 8)}`);
export const BUILD_ROOT = buildRootOf(ROOT);
export const BUILD_DIST = join(BUILD_ROOT, 'dist');

function copyAssets(from: string, to: string): void {
  for (const entry of readdirSync(from)) {
    const source = join(from, entry);
    if (statSync(source).isDirectory()) copyAssets(source, join(to, entry));
    else if (!entry.endsWith('.ts')) {
      mkdirSync(to, { recursive: true });
      copyFileSync(source, join(to, entry));
    }
  }
}

/**
 * Compiles src/ of `checkout` (this one by default; BENCH_BASELINE names another, e.g. a worktree of main,
 * measured side by side) and returns the entry point; throws with tsc's output if nothing could be emitted.
 * Every build lands under this checkout's node_modules, so both resolve the same dependencies.
 */
export function buildService(checkout = ROOT): { entry: string; root: string; diagnostics: string } {
  const buildRoot = buildRootOf(checkout);
  const buildDist = join(buildRoot, 'dist');
  rmSync(buildRoot, { recursive: true, force: true });
  mkdirSync(buildRoot, { recursive: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(checkout, 'tsconfig.build.json'), '--outDir', buildDist, '--incremental', 'false', '--sourceMap', 'false'], {
    cwd: checkout,
    encoding: 'utf8',
  });
  const entry = join(buildDist, 'main.js');
  // tsc emits despite type errors (someone's work in progress elsewhere in src/); only a missing entry is fatal.
  if (!existsSync(entry)) throw new Error(`tsc emitted no ${relative(ROOT, entry)}:\n${result.stdout}${result.stderr}`);
  copyAssets(join(checkout, 'src'), buildDist);
  copyFileSync(join(checkout, 'package.json'), join(dirname(buildDist), 'package.json'));
  return { entry, root: buildRoot, diagnostics: result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() };
}
