import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger, NotFoundException, type OnModuleDestroy } from '@nestjs/common';
import { errorEnvelope } from '../common/error-envelope';
import { logSafe } from '../common/log-safe';
import type { LlmConfig, UpstreamConfig } from '../config/llm.config';
import { UpstreamCatalog } from '../pool/upstream-catalog';
import { CODECS } from './codecs';
import { LLM_OPTIONS } from './llm.module-definition';

/** One entry of OpenAI's model list, addressed as the service routes it: `upstream/model`. */
export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: ModelEntry[];
}

interface UpstreamModels {
  entries: ModelEntry[];
  fetchedAt: number;
  refreshing?: Promise<void>;
}

// A failed listing is asked again after this long at most, not after the whole cache period.
const RETRY_FAILED_AFTER_MS = 30_000;

/**
 * GET /v1/models: the configured routes (each upstream's default model, each fallback) merged with every
 * upstream's own model list. The lists are cached and refreshed in the background once stale; only the
 * first listing waits for them (bounded by LLM_MODELS_TIMEOUT_MS). Listing never touches the pools, so it
 * neither takes a chat call's slot nor opens a pooled connection.
 */
@Injectable()
export class ModelsService implements OnModuleDestroy {
  private readonly logger = new Logger('Models');
  private readonly cache = new Map<string, UpstreamModels>();
  // Their own short-lived connections: a listing must not count in, or wait on, a chat pool.
  private readonly httpAgent = new HttpAgent({ keepAlive: false });
  private readonly httpsAgent: HttpsAgent;

  constructor(
    private readonly catalog: UpstreamCatalog,
    private readonly http: HttpService,
    @Inject(LLM_OPTIONS) private readonly config: LlmConfig,
  ) {
    this.httpsAgent = new HttpsAgent({ keepAlive: false, ...(catalog.extraCaPem ? { ca: [...rootCertificates, catalog.extraCaPem] } : {}) });
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async list(): Promise<ModelList> {
    const listed = await Promise.all(this.catalog.upstreams.map((upstream) => this.upstreamModels(upstream)));
    const seen = new Set<string>();
    const data: ModelEntry[] = [];
    const add = (entry: ModelEntry) => {
      if (seen.has(entry.id)) return;
      seen.add(entry.id);
      data.push(entry);
    };
    for (const upstream of this.catalog.upstreams) {
      if (upstream.defaultModel) add(entry(`${upstream.name}/${upstream.defaultModel}`, upstream.name));
      if (upstream.fallback) add(entry(upstream.fallback, upstream.fallback.slice(0, upstream.fallback.indexOf('/'))));
    }
    listed.flat().forEach(add);
    return { object: 'list', data };
  }

  async find(id: string): Promise<ModelEntry> {
    const found = (await this.list()).data.find((model) => model.id === id);
    if (!found) throw new NotFoundException(errorEnvelope(404, 'NOT_FOUND', `The model '${id}' is not among the configured routes or the upstreams' models`));
    return found;
  }

  /** The upstream's own models as `upstream/id`: cached; stale ones are refreshed without waiting. */
  private async upstreamModels(upstream: UpstreamConfig): Promise<ModelEntry[]> {
    const { cacheMs } = this.config.models;
    if (cacheMs === 0 || !upstream.baseUrl) return [];
    let cached = this.cache.get(upstream.name);
    if (!cached) {
      cached = { entries: [], fetchedAt: 0 };
      this.cache.set(upstream.name, cached);
      // Nothing to show yet: this first listing waits for the answer (or the timeout).
      await this.refresh(upstream, cached);
      return cached.entries;
    }
    const age = Date.now() - cached.fetchedAt;
    const stale = age >= cacheMs || (cached.entries.length === 0 && age >= Math.min(cacheMs, RETRY_FAILED_AFTER_MS));
    if (stale) void this.refresh(upstream, cached);
    return cached.entries;
  }

  private refresh(upstream: UpstreamConfig, cached: UpstreamModels): Promise<void> {
    cached.refreshing ??= this.fetch(upstream)
      .then((entries) => {
        cached.entries = entries;
      })
      .catch((error: unknown) => {
        // The old list (if any) stays: a flaky listing must not empty the picker of a UI.
        this.logger.warn(logSafe(`could not list the models of upstream ${upstream.name}: ${(error as Error)?.message ?? String(error)}`));
      })
      .finally(() => {
        cached.fetchedAt = Date.now();
        cached.refreshing = undefined;
      });
    return cached.refreshing;
  }

  private async fetch(upstream: UpstreamConfig): Promise<ModelEntry[]> {
    const codec = CODECS[upstream.wire];
    const response = await this.http.axiosRef.request({
      method: 'GET',
      url: `${upstream.baseUrl}${codec.modelsPath}`,
      headers: { accept: 'application/json', ...codec.headers(upstream.apiKeys[0]) },
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      signal: AbortSignal.timeout(this.config.models.timeoutMs),
      maxContentLength: 4 * 1024 * 1024,
    });
    if (response.status !== 200) throw new Error(`answered ${response.status}`);
    const data = (response.data as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new Error('answered without a data array');
    return data
      .filter((model): model is { id: string; created?: unknown; created_at?: unknown } => typeof (model as { id?: unknown })?.id === 'string')
      .map((model) => entry(`${upstream.name}/${model.id}`, upstream.name, createdOf(model)));
  }
}

function entry(id: string, ownedBy: string, created = 0): ModelEntry {
  return { id, object: 'model', created, owned_by: ownedBy };
}

/** OpenAI says `created` (Unix seconds), Anthropic `created_at` (an ISO date). */
function createdOf(model: { created?: unknown; created_at?: unknown }): number {
  if (typeof model.created === 'number' && Number.isFinite(model.created)) return model.created;
  const parsed = typeof model.created_at === 'string' ? Date.parse(model.created_at) : NaN;
  return Number.isFinite(parsed) ? Math.floor(parsed / 1000) : 0;
}
