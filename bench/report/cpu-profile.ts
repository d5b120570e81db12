/**
 * Where a process's CPU went, from a V8 CPU profile (`node --cpu-prof`): self time of every sample within
 * a time window, bucketed by the package its code belongs to, so a regression shows up as a bucket that grew.
 * Sample timestamps are CLOCK_MONOTONIC microseconds, the clock of `process.hrtime` in every process on
 * the machine, so the bench can cut the profile to the time its load ran.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled busy time in the window, ms (idle excluded). */
  busyMs: number;
  buckets: { bucket: string; ms: number; share: number }[];
  functions: { name: string; bucket: string; ms: number; share: number }[];
}

// Packages grouped as the layers of the stack they are.
const LAYERS: [RegExp, string][] = [
  [/^(axios|follow-redirects|proxy-from-env|form-data|combined-stream|mime-types|asynckit)$/, 'axios'],
  [/^agentkeepalive$/, 'agentkeepalive'],
  [/^(@nestjs\/throttler|@nest-lab\/.*|ioredis)$/, 'rate limiting'],
  [/^(@nestjs\/.*|rxjs|reflect-metadata|tslib|iterare|uid|path-to-regexp)$/, 'Nest (+ rxjs)'],
  [/^(fastify|@fastify\/.*|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|fast-querystring|toad-cache|process-warning|abstract-logging|pino|pino-std-serializers|sonic-boom|thread-stream|fast-content-type-parse|fast-decode-uri-comp|ret|safe-regex2|rfdc|fast-uri|json-schema-ref-resolver|middie)$/, 'Fastify'],
  [/^(class-validator|class-transformer|validator|libphonenumber-js|ajv|ajv-formats|fast-deep-equal|json-schema-traverse)$/, 'validation'],
  [/^(prom-client|tdigest|bintrees)$/, 'metrics (prom-client)'],
];

/** The bucket of a frame: a package layer, the service's own code by folder, Node itself, or V8 (GC, native). */
export function bucketOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return 'V8 / native (program)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) return 'Node core (http, net, streams, timers)';
  const path = url.replace(/^file:\/\//, '');
  // The service as the bench builds it (bench/harness/build-service.ts): its own code, by feature folder.
  const own = /\/\.cache\/llm-bench[^/]*\/dist\/(.+)$/.exec(path) ?? /\/(?:src|dist)\/(.+\.[jt]s)$/.exec(path);
  if (own) return `own code: ${own[1].includes('/') ? own[1].split('/')[0] : own[1]}`;
  // The innermost package (a dependency's own node_modules included).
  const pkg = [...path.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].at(-1)?.[1];
  if (!pkg) return 'other code';
  for (const [pattern, layer] of LAYERS) if (pattern.test(pkg)) return layer;
  return `other package: ${pkg}`;
}

/** Self time per bucket and per function, over the samples taken between `fromUs` and `toUs` (CLOCK_MONOTONIC µs). */
export function summarizeProfile(file: string, fromUs = -Infinity, toUs = Infinity, topFunctions = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const buckets = new Map<string, number>();
  const functions = new Map<string, { bucket: string; us: number }>();
  let at = profile.startTime;
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const weight = profile.timeDeltas[i + 1] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const node = byId.get(profile.samples[i]);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const { url, functionName, lineNumber } = node.callFrame;
    const bucket = bucketOf(url, functionName);
    busyUs += weight;
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + weight);
    const name = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    const entry = functions.get(name) ?? { bucket, us: 0 };
    entry.us += weight;
    functions.set(name, entry);
  }
  const share = (us: number) => (busyUs ? us / busyUs : 0);
  return {
    busyMs: busyUs / 1000,
    buckets: [...buckets].map(([bucket, us]) => ({ bucket, ms: us / 1000, share: share(us) })).sort((a, b) => b.ms - a.ms),
    functions: [...functions]
      .map(([name, { bucket, us }]) => ({ name, bucket, ms: us / 1000, share: share(us) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topFunctions),
  };
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\/\.cache\/[^/]+\/dist\//, 'src/')
    .replace(/^.*node_modules\//, '');
}
