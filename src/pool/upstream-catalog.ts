import type { LlmConfig, UpstreamConfig } from '../config/llm.config';

/**
 * The upstreams this process talks to, as configured, with the embedded
 * simulator's address filled in once it listens.
 */
export class UpstreamCatalog {
  readonly upstreams: UpstreamConfig[];
  readonly defaultUpstream: string;
  readonly extraCaPem?: string;

  constructor(config: LlmConfig, simulator?: { openAiBaseUrl: string; anthropicBaseUrl: string }) {
    this.upstreams = config.upstreams.map((upstream) => {
      if (!upstream.embedded) return upstream;
      if (!simulator) throw new Error(`upstream ${upstream.name} needs the embedded simulator`);
      return { ...upstream, baseUrl: upstream.wire === 'anthropic' ? simulator.anthropicBaseUrl : simulator.openAiBaseUrl };
    });
    this.defaultUpstream = config.defaultUpstream;
    this.extraCaPem = config.extraCaPem;
  }

  find(name: string): UpstreamConfig | undefined {
    return this.upstreams.find((upstream) => upstream.name === name);
  }
}
