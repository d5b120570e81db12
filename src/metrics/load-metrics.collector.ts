import { Injectable } from '@nestjs/common';
import { Registry } from 'prom-client';
import { DrainService } from '../lifecycle/drain.service';
import { openStreamCount } from '../llm/sse-response';
import { scrapedGauge } from './scraped-metric';

/**
 * The load of this pod for an autoscaler. A streamed completion holds a request open for seconds to
 * minutes while using almost no CPU, so a fleet full of streams never reaches a CPU target: these two
 * gauges do. Read from their owners at scrape time (the drain's count, the SSE writer's).
 */
@Injectable()
export class LoadMetricsCollector {
  constructor(registry: Registry, drain: DrainService) {
    scrapedGauge(registry, {
      name: 'llm_inflight_requests',
      help: 'Inbound requests of this pod not yet answered in full (open streams included; the scrape itself counts 1). The HPA target.',
      labelNames: [],
      read: () => [[{}, drain.inFlight]],
    });
    scrapedGauge(registry, {
      name: 'llm_open_streams',
      help: 'Server-sent event streams this pod is writing now (chat and synthesis).',
      labelNames: [],
      read: () => [[{}, openStreamCount()]],
    });
  }
}
