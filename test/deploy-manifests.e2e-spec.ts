import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIGMAP_FILE, CONFIGMAP_NAME, ENV_EXAMPLE_FILE, PRODUCTION_OVERRIDES, generateConfigMap, parseEnvExample } from '../deploy/generate-configmap';
import { parseAppEnv } from '../src/config/app.config';
import { EnvReader } from '../src/config/env-reader';
import { validateEnv } from '../src/config/validate-env';
import { chat, eventually, startService, type RunningService } from './support/service-harness';

const ROOT = join(__dirname, '..');
const K8S = join(ROOT, 'deploy', 'k8s');

/** Every manifest under deploy/k8s, by kind (one object of each kind there). */
function manifests(): Record<string, any> {
  const byKind: Record<string, any> = {};
  for (const file of readdirSync(K8S).filter((name) => name.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.join('; ')}`);
      const object = document.toJS();
      if (typeof object?.kind !== 'string') throw new Error(`${file}: a document without a kind`);
      if (object.kind in byKind) throw new Error(`${file}: a second ${object.kind}`);
      byKind[object.kind] = object;
    }
  }
  return byKind;
}

/** The names validateEnv reads (and so validates) when the environment is `env`: recorded as it reads them. */
function namesReadBy(env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return target[name as string];
    },
  });
  validateEnv(recording);
  return read;
}

const defaults = parseAppEnv(new EnvReader({}));

describe('deployment manifests (deploy/k8s) and the Dockerfile', () => {
  const k8s = manifests();
  const deployment = k8s.Deployment;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const configMap = k8s.ConfigMap;
  const secret = k8s.Secret;
  /** What the container's environment is: the Deployment's env over its envFrom ConfigMap. */
  const effectiveEnv: Record<string, string> = {
    ...configMap.data,
    ...Object.fromEntries(
      container.env.filter((variable: { value?: string }) => variable.value !== undefined).map((variable: { name: string; value: string }) => [variable.name, variable.value]),
    ),
  };
  /** The Secret as an operator fills it in: a provider, the shared stores. */
  const filledSecret = {
    OPENAI_API_KEY: 'sk-deploy-test-provider-key-0123456789',
    DATABASE_URL: 'postgres://llm:password@postgres:5432/llm',
    REDIS_URL: 'redis://redis:6379/0',
  };
  const httpPort = container.ports.find((port: any) => port.name === 'http');
  const portOf = (probe: any) => (probe.httpGet.port === 'http' ? httpPort.containerPort : probe.httpGet.port);

  it('commits the ConfigMap that `npm run deploy:configmap` generates from .env.example', () => {
    expect(readFileSync(CONFIGMAP_FILE, 'utf8')).toBe(generateConfigMap());
    expect(configMap.metadata.name).toBe(CONFIGMAP_NAME);
    // Cross-check with a plain reading of .env.example: the active NAME=value lines, and nothing commented out.
    const text = readFileSync(ENV_EXAMPLE_FILE, 'utf8');
    const active = text.split('\n').filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line)).map((line) => line.slice(0, line.indexOf('=')));
    const commented = text.split('\n').filter((line) => /^#\s*[A-Z][A-Z0-9_]*=/.test(line)).map((line) => line.replace(/^#\s*/, '').split('=')[0]);
    const overridden = Object.keys(PRODUCTION_OVERRIDES);
    expect(Object.keys(configMap.data)).toEqual([...active, ...overridden.filter((name) => !active.includes(name))]);
    const documented = parseEnvExample(text);
    for (const [name, value] of Object.entries<string>(configMap.data)) expect({ name, value }).toEqual({ name, value: PRODUCTION_OVERRIDES[name] ?? documented[name] });
    for (const name of commented) if (!active.includes(name) && !overridden.includes(name)) expect(configMap.data).not.toHaveProperty(name);
    for (const value of Object.values(configMap.data)) expect(typeof value).toBe('string');
    // kubectl reads YAML 1.1 (a bare off is a boolean there): every value is written quoted.
    const dataLines = readFileSync(CONFIGMAP_FILE, 'utf8').split('\n').slice(readFileSync(CONFIGMAP_FILE, 'utf8').split('\n').indexOf('data:') + 1).filter(Boolean);
    for (const line of dataLines) expect(line).toMatch(/^  [A-Z][A-Z0-9_]*: ".*"$/);
  });

  it('overrides the developer defaults a fleet must not have: no simulator, no sample corpus, JSON logs', () => {
    expect(configMap.data).toMatchObject({ LLM_SIMULATOR: 'off', SEARCH_SAMPLE_CORPUS: 'false', LOG_FORMAT: 'json' });
    expect(effectiveEnv.NODE_ENV).toBe('production');
    // Each override is a documented variable (active or commented in .env.example), not a new one.
    const text = readFileSync(ENV_EXAMPLE_FILE, 'utf8');
    for (const name of Object.keys(PRODUCTION_OVERRIDES)) expect(text).toMatch(new RegExp(`^#?\\s*${name}=`, 'm'));
    // Applied with a Secret that names no provider, the pod refuses to boot and says what it looked for.
    const { OPENAI_API_KEY: _omitted, ...noProvider } = filledSecret;
    expect(() => validateEnv({ ...effectiveEnv, ...noProvider })).toThrow(/OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, LLM_UPSTREAMS/);
  });

  it('parses .env.example-style lines as the generator documents', () => {
    expect(parseEnvExample('# comment\n\nA=1\n# OPENAI_API_KEY=sk-...\nB=\nC="quoted value"\nD=x=y\r\n')).toEqual({ A: '1', B: '', C: 'quoted value', D: 'x=y' });
    expect(() => parseEnvExample('A=1\nA=2')).toThrow('A is set twice');
    expect(() => parseEnvExample('not a variable')).toThrow('line 1');
  });

  it('sets only variables the service validates, with values it accepts', () => {
    const read = namesReadBy({ ...effectiveEnv, ...filledSecret });
    for (const name of Object.keys(configMap.data)) expect({ name, validated: read.has(name) }).toEqual({ name, validated: true });
    for (const { name } of container.env) expect({ name, validated: read.has(name) }).toEqual({ name, validated: true });
    for (const name of Object.keys(secret.stringData)) expect({ name, validated: read.has(name) }).toEqual({ name, validated: true });
    expect(() => validateEnv({ ...effectiveEnv, ...filledSecret })).not.toThrow();
  });

  it('keeps secrets in a Secret template whose placeholders cannot boot by mistake', () => {
    expect(secret.metadata.name).toBe(container.envFrom.find((source: any) => source.secretRef).secretRef.name);
    expect(Object.keys(secret.stringData).sort()).toEqual(['ANTHROPIC_API_KEY', 'DATABASE_URL', 'OPENAI_API_KEY', 'REDIS_URL', 'SERVICE_ADMIN_KEY', 'SERVICE_API_KEYS']);
    for (const value of Object.values<string>(secret.stringData)) expect(value).toMatch(/^(<[a-z0-9-]+>,?)+$/);
    for (const name of Object.keys(secret.stringData)) expect(configMap.data).not.toHaveProperty(name);
    // Applied unedited, the placeholder service keys are too short: the pod stops at boot naming them.
    expect(() => validateEnv({ ...effectiveEnv, ...secret.stringData })).toThrow(/SERVICE_API_KEYS[\s\S]*SERVICE_ADMIN_KEY/);
    expect(() => validateEnv({ ...effectiveEnv, ...secret.stringData })).toThrow(/DATABASE_URL[\s\S]*REDIS_URL/);
    // `kubectl apply -k deploy/k8s` applies every manifest but the template.
    const files = readdirSync(K8S).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
    expect([...k8s.Kustomization.resources].sort()).toEqual(files.filter((name) => name !== 'secret.template.yaml').sort());
  });

  it("listens where the probes, the Service and Prometheus look: the app's default PORT", () => {
    expect(httpPort.containerPort).toBe(defaults.port);
    expect(Number(effectiveEnv.PORT ?? defaults.port)).toBe(httpPort.containerPort);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect({ probe, port: portOf(container[probe]) }).toEqual({ probe, port: defaults.port });
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    const annotations = deployment.spec.template.metadata.annotations;
    expect(Number(annotations['prometheus.io/port'])).toBe(defaults.port);

    const service = k8s.Service;
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  describe('against the running app', () => {
    let app: RunningService;
    beforeAll(async () => {
      app = await startService({ SERVICE_API_KEYS: 'deploy-test-caller-key-0123456789', LLM_MODEL: 'sim-1' });
    });
    afterAll(() => app?.close());

    it('serves every probe path and the scrape path without a key', async () => {
      const paths = [
        container.startupProbe.httpGet.path,
        container.livenessProbe.httpGet.path,
        container.readinessProbe.httpGet.path,
        deployment.spec.template.metadata.annotations['prometheus.io/path'],
      ];
      for (const path of paths) {
        const response = await fetch(`${app.url}${path}`);
        expect({ path, status: response.status }).toEqual({ path, status: 200 });
        await response.arrayBuffer();
      }
    });

    it("exposes the HPA's metric, counting a stream while it runs", async () => {
      const scrape = async (name: string) => {
        const text = await (await fetch(`${app.url}/metrics`)).text();
        return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      };
      const metric = k8s.HorizontalPodAutoscaler.spec.metrics.find((m: any) => m.type === 'Pods').pods.metric.name;
      // Idle: only the scrape itself is in flight.
      expect(await scrape(metric)).toBe(1);
      expect(await scrape('llm_open_streams')).toBe(0);
      const controller = new AbortController();
      const stream = await fetch(`${app.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer deploy-test-caller-key-0123456789' },
        body: JSON.stringify(chat('a long answer please', { stream: true, max_tokens: 200 })),
        signal: controller.signal,
      });
      await stream.body!.getReader().read();
      expect(await scrape(metric)).toBe(2);
      expect(await scrape('llm_open_streams')).toBe(1);
      controller.abort();
      await eventually(async () => expect(await scrape('llm_open_streams')).toBe(0));
      expect(await scrape(metric)).toBe(1);
    });
  });

  it('gives the drain its time: terminationGracePeriodSeconds ≥ preStop + SHUTDOWN_GRACE_MS', () => {
    const graceMs = Number(effectiveEnv.SHUTDOWN_GRACE_MS ?? defaults.shutdownGraceMs);
    const preStop = container.lifecycle.preStop;
    const preStopMs = 1000 * Number(preStop.sleep ? preStop.sleep.seconds : preStop.exec.command[preStop.exec.command.indexOf('sleep') + 1]);
    expect(preStopMs).toBeGreaterThanOrEqual(3_000);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + graceMs);
    // And some margin to close the pools after the drain, before SIGKILL.
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + graceMs);
  });

  it('runs non-root on a read-only root filesystem, with its state in PostgreSQL and Redis: no per-pod index', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // DATABASE_URL and REDIS_URL come from the Secret and are required: no pod starts keeping state to itself.
    for (const name of ['DATABASE_URL', 'REDIS_URL']) {
      const variable = container.env.find((v: any) => v.name === name);
      expect(variable?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata.name, key: name, optional: false });
    }
    // Nothing mounted where the embedded index would live; the only volume is /tmp.
    expect(container.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/tmp']);
    expect(pod.volumes.map((v: any) => Object.keys(v).filter((k) => k !== 'name'))).toEqual([['emptyDir']]);
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind].cpu).toBeDefined();
      expect(container.resources[kind].memory).toBeDefined();
    }
  });

  it('scales the Deployment on CPU and on requests in flight per pod (streams included)', () => {
    const hpa = k8s.HorizontalPodAutoscaler;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    const inFlight = hpa.spec.metrics.find((metric: any) => metric.type === 'Pods');
    expect(inFlight.pods.metric.name).toBe('llm_inflight_requests');
    expect(inFlight.pods.target.type).toBe('AverageValue');
    // Half a pool (README, "Operating it"): scale out before calls queue for a connection.
    expect(Number(inFlight.pods.target.averageValue)).toBe(Number(effectiveEnv.LLM_MAX_CONNECTIONS) / 2);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(k8s.PodDisruptionBudget.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('builds an image that agrees: multi-stage, production dependencies, numeric non-root user, the same port', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBe(2);
    const [build, runtime] = stages;
    expect(build).toMatch(/^RUN npm ci\b/m);
    expect(build).toMatch(/^RUN npm run build$/m);
    expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(runtime).toMatch(new RegExp(`^EXPOSE ${defaults.port}$`, 'm'));
    expect(runtime).toMatch(/^CMD \["node", "dist\/main\.js"\]$/m);
    expect(runtime).toMatch(new RegExp(`^USER ${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}$`, 'm'));
    expect(runtime).toMatch(new RegExp(`SEARCH_DATA_DIR=${effectiveEnv.SEARCH_DATA_DIR}\\b`));
    expect(runtime).toMatch(/^ENV NODE_ENV=production\b/m);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.env', '.git']) expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml (local: the service, PostgreSQL with pgvector, Redis)', () => {
  const compose = parseAllDocuments(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'))[0].toJS();
  const service = compose.services['llm-service'];

  it('runs the service on PostgreSQL 15 with pgvector and on Redis, started once they are healthy', () => {
    expect(compose.services.postgres.image).toBe('pgvector/pgvector:pg15');
    expect(compose.services.redis.image).toMatch(/^redis:/);
    expect(service.build).toBe('.');
    expect(service.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    for (const name of ['postgres', 'redis']) expect(compose.services[name].healthcheck.test).toBeDefined();
    const { host } = new URL(service.environment.DATABASE_URL);
    expect(host).toBe('postgres:5432');
    expect(new URL(service.environment.REDIS_URL).host).toBe('redis:6379');
    expect(service.environment.DATABASE_URL).toContain(`${compose.services.postgres.environment.POSTGRES_USER}:${compose.services.postgres.environment.POSTGRES_PASSWORD}@`);
    expect(service.ports).toContain(`${defaults.port}:${defaults.port}`);
  });

  it('sets only variables the service validates, and boots as production would (the simulator said so)', () => {
    // Compose's ${VAR:-default}, as compose resolves it with nothing set.
    const env: Record<string, string> = Object.fromEntries(
      Object.entries<string>(service.environment).map(([name, value]) => [name, String(value).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
    );
    const read = namesReadBy({ ...env, NODE_ENV: 'production' });
    for (const name of Object.keys(env)) expect({ name, validated: read.has(name) }).toEqual({ name, validated: true });
    expect(() => validateEnv({ ...env, NODE_ENV: 'production' })).not.toThrow();
    expect(env.LLM_SIMULATOR).toBe('on');
  });
});
