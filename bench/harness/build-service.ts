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
const CHECKOUT = createHash('sha256').update(ROOT).digest('hex').slice(0, 8);
export const BUILD_ROOT = join(ROOT, 'node_modules', '.cache', `llm-bench-${CHECKOUT}`);
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

/** Compiles src/ and returns the entry point; throws with tsc's output if nothing could be emitted. */
export function buildService(): { entry: string; diagnostics: string } {
  rmSync(BUILD_ROOT, { recursive: true, force: true });
  mkdirSync(BUILD_ROOT, { recursive: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIST, '--incremental', 'false', '--sourceMap', 'false'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const entry = join(BUILD_DIST, 'main.js');
  // tsc emits despite type errors (someone's work in progress elsewhere in src/); only a missing entry is fatal.
  if (!existsSync(entry)) throw new Error(`tsc emitted no ${relative(ROOT, entry)}:\n${result.stdout}${result.stderr}`);
  copyAssets(join(ROOT, 'src'), BUILD_DIST);
  copyFileSync(join(ROOT, 'package.json'), join(dirname(BUILD_DIST), 'package.json'));
  return { entry, diagnostics: result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() };
}
