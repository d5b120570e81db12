import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv } from './validate-env';

const example = readFileSync(join(__dirname, '../../.env.example'), 'utf8').split('\n');
const active = Object.fromEntries(
  example.filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);
// Per-upstream overrides (LLM_<NAME>_<KNOB>) are documented once, as a pattern.
const perUpstream = /^LLM_(SIMULATOR_ANTHROPIC|SIMULATOR|OPENAI_LIKE|OPENAI|ANTHROPIC)_/;
const documented = new Set(example.map((line) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)?.[1]).filter(Boolean));

describe('.env.example', () => {
  it('is a valid configuration as it stands', () => {
    expect(readEnv(active).problems).toEqual([]);
  });

  it('documents every variable the service reads (per-upstream LLM_<NAME>_* aside)', () => {
    const read = [...readEnv({}).names];
    expect(read.filter((name) => !documented.has(name) && !perUpstream.test(name))).toEqual([]);
  });

  it('documents no variable the service ignores', () => {
    const read = readEnv({ LLM_UPSTREAMS: 'openai-like=http://x:1' }).names;
    expect([...documented].filter((name) => !read.has(name!) && !perUpstream.test(name!))).toEqual([]);
  });
});
