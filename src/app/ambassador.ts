/**
 * The ambassador, constructed in-process: the configuration and what the process read from
 * outside go in; out comes an object that listens and stops. Every part is built here, each after
 * the parts it needs, and every problem found before listening is a StartupError.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.ts';
import { auditPolicyForLevel, compileAuditPolicy, type AuditPolicy } from '../audit/policy.ts';
import { CredentialStore, type UserInfo } from '../cluster/credentials.ts';
import { discoverCluster, type ClusterSource } from '../cluster/discover.ts';
import { Upstream } from '../cluster/upstream.ts';
import type { Config } from '../config/options.ts';
import { Metrics } from '../metrics/metrics.ts';
import { checkPolicyAgainstRbac, reviewSelf } from '../policy/rbac-review.ts';
import { readYamlFile } from '../config/document.ts';
import { PolicyStore } from '../policy/store.ts';
import { filterFromOptions } from '../proxy/filter.ts';
import { ProxyHandler } from '../proxy/handler.ts';
import { InFlight } from '../proxy/in-flight.ts';
import { budgetFor, effectiveLimit, MemoryGate, type MemorySample } from '../proxy/memory-budget.ts';
import { TokenBucket } from '../proxy/rate-limit.ts';
import { combineRecorders, type Recorder } from '../request/record.ts';
import {
  createAdminServer,
  createProxyServer,
  describeListenFailure,
  drain,
  listen,
  type ListenerRole,
  type ListenTarget,
} from '../server/listeners.ts';
import { Readiness } from '../server/readiness.ts';
import type { OtelTracing } from '../tracing/otel.ts';
import { StartupError } from './startup-error.ts';
import { startupWarnings } from './startup-warnings.ts';

/** What the process reads from outside itself; tests pass their own. */
export interface Environment {
  /** Environment variables: KUBERNETES_SERVICE_HOST/PORT, KUBECONFIG, POD_NAMESPACE, POD_IP, HOST_IP. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where `.kube/config` is looked for. */
  readonly homeDir: string;
  /** The cgroup's memory limit as Node reads it (`process.constrainedMemory()`): 0 without one. */
  readonly constrainedMemoryBytes: number;
  readonly totalMemoryBytes: number;
  /** Resident memory and the V8 heap, now. */
  readonly sampleMemory: () => MemorySample;
  /** The ambassador's version, for the metrics and the spans. */
  readonly version: string;
}

/** Where each listener listens: `host:port`, or the Unix socket's path. */
export interface Addresses {
  readonly proxy: string;
  readonly admin: string;
}

export interface Ambassador {
  /** What the proxy is serving now. */
  readonly inFlight: InFlight;
  /** Listens on the proxy and the probes listeners; rejects with a StartupError when one cannot. */
  start(): Promise<Addresses>;
  /** Lets in-flight requests finish for the grace period, then closes everything; `signal` is logged. */
  stop(signal?: string): Promise<void>;
  /** Writes out the audit events it holds (they go in batches). */
  flushAudit(): Promise<void>;
}

/** How long start-up waits for the API server to say who the credentials are; the answer is used whenever it comes. */
const REPORTED_IDENTITY_WAIT_MS = 2000;
const MIB = 2 ** 20;

/**
 * Finds the cluster and opens every file the configuration names; rejects with one StartupError
 * listing every problem (credentials, policy, audit policy), as the option parser does.
 */
export async function createAmbassador(config: Config, environment: Environment, log: Logger): Promise<Ambassador> {
  const cluster = await findCluster(config, environment);
  // An empty POD_NAMESPACE (a Downward API field left unset) is no namespace.
  const podNamespace = environment.env['POD_NAMESPACE'] || cluster.namespace;
  const [credentials, policy, auditPolicy] = await Promise.allSettled([
    openCredentials(cluster, config, log),
    openPolicy(config, podNamespace, log),
    readAuditPolicy(config, podNamespace),
  ]);
  const close = (): void => {
    if (credentials.status === 'fulfilled') credentials.value.close();
    if (policy.status === 'fulfilled') policy.value?.close();
  };
  if (credentials.status === 'rejected' || policy.status === 'rejected' || auditPolicy.status === 'rejected') {
    close();
    throw oneError([credentials, policy, auditPolicy]);
  }
  try {
    const tracing = await startTracing(config, environment.version, log);
    return new RunningAmbassador({
      config,
      environment,
      log,
      cluster,
      podNamespace,
      credentials: credentials.value,
      policy: policy.value,
      auditPolicy: auditPolicy.value,
      tracing,
    });
  } catch (error) {
    close();
    throw error;
  }
}

/** The StartupErrors of the steps that failed as one; an unexpected failure as it is. */
function oneError(results: readonly PromiseSettledResult<unknown>[]): Error {
  const reasons = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  const errors = reasons.filter((reason) => reason instanceof StartupError);
  if (errors.length < reasons.length) {
    const unexpected = reasons.find((reason) => !(reason instanceof StartupError));
    return unexpected instanceof Error ? unexpected : new Error(String(unexpected));
  }
  const [first] = errors;
  if (errors.length === 1 && first !== undefined) return first;
  return new StartupError(
    'configuration',
    errors.map((error) => error.message),
  );
}

async function findCluster(config: Config, environment: Environment): Promise<ClusterSource> {
  const discovery = await discoverCluster(config, environment.env, environment.homeDir);
  if (!discovery.ok) throw new StartupError('configuration', [discovery.problem]);
  return discovery.source;
}

async function openCredentials(cluster: ClusterSource, config: Config, log: Logger): Promise<CredentialStore> {
  try {
    return await CredentialStore.open(cluster.loadCredentials, config.credentialRefreshIntervalMs, log);
  } catch (error) {
    const problem = `cannot load credentials from ${cluster.description}: ${(error as Error).message}`;
    throw new StartupError('configuration', [problem]);
  }
}

async function openPolicy(
  config: Config,
  podNamespace: string | undefined,
  log: Logger,
): Promise<PolicyStore | undefined> {
  if (config.policyFile === '') return undefined;
  try {
    return await PolicyStore.open(config.policyFile, podNamespace, config.policyReloadIntervalMs, log);
  } catch (error) {
    throw new StartupError('configuration', [`${config.policyFile}: ${(error as Error).message}`]);
  }
}

/** --audit-policy when given, else --audit-level for everything but probes and metrics. */
async function readAuditPolicy(config: Config, podNamespace: string | undefined): Promise<AuditPolicy> {
  if (config.auditPolicyFile === '') return auditPolicyForLevel(config.auditLevel);
  const read = await readYamlFile(config.auditPolicyFile);
  const compiled = read.ok ? compileAuditPolicy(read.value.document, podNamespace) : read;
  if (compiled.ok) return compiled.value;
  throw new StartupError('configuration', compiled.problem, `${config.auditPolicyFile}: invalid audit policy`);
}

/** OpenTelemetry is imported only when tracing is on: with it off, none of it is loaded. */
async function startTracing(config: Config, version: string, log: Logger): Promise<OtelTracing | undefined> {
  const endpoint = config.tracingEndpoint;
  if (endpoint === '') return undefined;
  const { OtelTracing } = await import('../tracing/otel.ts');
  const samplingRatePerMillion = config.tracingSamplingRatePerMillion;
  log.info({ endpoint, samplingRatePerMillion }, 'tracing requests: spans go to the OTLP endpoint');
  return new OtelTracing({ endpoint, samplingRatePerMillion, version }, log);
}

/** The memory budget's gate, or undefined without a limit; logs the budget and the V8 heap limit. */
function startMemoryGate(config: Config, environment: Environment, log: Logger): MemoryGate | undefined {
  const { constrainedMemoryBytes, totalMemoryBytes, sampleMemory } = environment;
  const limitBytes = effectiveLimit(config.memoryLimitBytes, constrainedMemoryBytes, totalMemoryBytes);
  if (limitBytes === 0) return undefined;
  const mib = (bytes: number): number => Math.round(bytes / MIB);
  const gate = new MemoryGate(budgetFor(limitBytes), sampleMemory, (shedding, sample) => {
    const fields = { rssMiB: mib(sample.rssBytes), heapUsedMiB: mib(sample.heapUsedBytes), limitMiB: mib(limitBytes) };
    if (shedding) log.warn(fields, 'over the memory budget: new requests get 429 until memory falls');
    else log.info(fields, 'back within the memory budget');
  });
  const heapLimitMiB = mib(sampleMemory().heapLimitBytes);
  log.info({ limitMiB: mib(limitBytes), shedAtMiB: mib(gate.budget.shedAtBytes), heapLimitMiB }, 'memory budget');
  return gate;
}

/** What the configuration and the files it names gave. */
interface Opened {
  readonly config: Config;
  readonly environment: Environment;
  readonly log: Logger;
  readonly cluster: ClusterSource;
  /** POD_NAMESPACE, else the service account's namespace. */
  readonly podNamespace: string | undefined;
  readonly credentials: CredentialStore;
  readonly policy: PolicyStore | undefined;
  readonly auditPolicy: AuditPolicy;
  readonly tracing: OtelTracing | undefined;
}

function proxyListener(config: Config): [ListenerRole, ListenTarget] {
  return config.unixSocket !== ''
    ? [{ name: 'the proxy', flags: '--unix-socket' }, { socketPath: config.unixSocket }]
    : [
        { name: 'the proxy', flags: '--address, --port' },
        { host: config.address, port: config.port },
      ];
}

function adminListener(config: Config): [ListenerRole, ListenTarget] {
  return [
    { name: 'the probes and metrics', flags: '--admin-address, --admin-port' },
    { host: config.adminAddress, port: config.adminPort },
  ];
}

class RunningAmbassador implements Ambassador {
  readonly inFlight = new InFlight();
  readonly #opened: Opened;
  readonly #upstream: Upstream;
  readonly #audit: AuditLog | undefined;
  readonly #memory: MemoryGate | undefined;
  readonly #proxyServer: Server;
  readonly #adminServer: Server;

  constructor(opened: Opened) {
    const { config, log, credentials, policy, auditPolicy, tracing } = opened;
    this.#opened = opened;
    this.#upstream = new Upstream(opened.cluster.server, credentials, config.keepaliveMs, config.upstreamProtocol, log);
    const metrics = config.disableMetrics ? undefined : this.#startMetrics();
    this.#audit =
      auditPolicy.rules.length === 0
        ? undefined
        : new AuditLog(config.auditLogPath, credentials, log, (reason) => metrics?.auditEventsLost.inc({ reason }));
    this.#memory = startMemoryGate(config, opened.environment, log);
    const recorders: Recorder[] = [metrics, this.#audit, tracing].filter((recorder) => recorder !== undefined);
    const handler = new ProxyHandler({
      upstream: this.#upstream,
      credentials,
      inFlight: this.inFlight,
      filter: filterFromOptions(config),
      limits: { ordinary: config.maxRequestsInFlight, longRunning: config.maxLongRunningRequests },
      rateLimit: config.maxQps > 0 ? new TokenBucket(config.maxQps, config.maxBurst, Date.now()) : undefined,
      policy: policy === undefined ? undefined : { store: policy, mode: config.policyMode },
      apiPrefix: config.apiPrefix,
      auditPolicy,
      memory: this.#memory,
      auditBodyLimit: config.auditMaxBodyBytes,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      requestBodyTimeoutMs: config.requestBodyTimeoutMs,
      log,
      tracing,
      recorder: combineRecorders(recorders),
    });
    this.#proxyServer = createProxyServer(handler, config.requestHeaderTimeoutMs);
    const readiness = new Readiness(credentials, this.#upstream);
    this.#adminServer = createAdminServer(readiness, metrics?.registry, log);
  }

  #startMetrics(): Metrics {
    const { environment, credentials, policy } = this.#opened;
    const metrics = new Metrics({
      version: environment.version,
      credentials,
      inFlight: this.inFlight,
      upstream: this.#upstream,
    });
    credentials.onReload((ok) => metrics.credentialReloads.inc({ result: ok ? 'success' : 'failure' }));
    policy?.onReload((ok) => metrics.policyReloads.inc({ result: ok ? 'success' : 'failure' }));
    return metrics;
  }

  async start(): Promise<Addresses> {
    const { config, environment, log, cluster, policy, podNamespace } = this.#opened;
    const auditUser = this.#askAuditUser();
    if (auditUser !== undefined) await settledWithin(auditUser.used, REPORTED_IDENTITY_WAIT_MS);
    const addresses = await this.#listen();
    const budget = this.#memory?.budget;
    const heapLimitBytes = environment.sampleMemory().heapLimitBytes;
    for (const warning of startupWarnings({ config, env: environment.env, budget, heapLimitBytes })) {
      log.warn(warning.fields ?? {}, warning.message);
    }
    const { description, server, namespace } = cluster;
    log.info(
      { proxy: addresses.proxy, probes: addresses.admin, cluster: description, server: server.origin, namespace },
      `serving the Kubernetes API on ${addresses.proxy}`,
    );
    if (policy !== undefined) {
      void checkPolicyAgainstRbac(policy.current, this.#upstream, podNamespace, log, auditUser?.review).catch(
        (error: unknown) => {
          log.warn({ err: error }, 'cannot check the policy against RBAC');
        },
      );
    }
    return addresses;
  }

  /**
   * The audit user comes from the credentials; when they do not tell, from the API server itself,
   * asked before listening so that the first requests' events name it too. Returns the question
   * (for the RBAC check to reuse) and its answer put to use, which never rejects.
   */
  #askAuditUser(): { readonly review: Promise<UserInfo | undefined>; readonly used: Promise<void> } | undefined {
    const audit = this.#audit;
    const { credentials, log } = this.#opened;
    if (audit === undefined || credentials.current.identity !== undefined) return undefined;
    const review = reviewSelf(this.#upstream);
    const used = review.then(
      (user) => {
        if (user === undefined) return;
        audit.useReportedIdentity(user);
        log.info(
          { user: user.username },
          `the credentials do not say who they are: audit events name the user the API server reports, ${user.username}`,
        );
      },
      (error: unknown) =>
        log.warn(`cannot ask the API server who the credentials are, for the audit user: ${(error as Error).message}`),
    );
    return { review, used };
  }

  /** Both listeners, or neither: when one cannot listen, everything is closed. */
  async #listen(): Promise<Addresses> {
    const { config } = this.#opened;
    let listener = proxyListener(config);
    try {
      const proxy = await listen(this.#proxyServer, listener[1]);
      listener = adminListener(config);
      const admin = await listen(this.#adminServer, listener[1]);
      return { proxy, admin };
    } catch (error) {
      await new Promise((resolve) => this.#proxyServer.close(resolve));
      await this.#release();
      throw new StartupError('listen', [describeListenFailure(...listener, error as NodeJS.ErrnoException)]);
    }
  }

  async stop(signal?: string): Promise<void> {
    const { config, log } = this.#opened;
    const gracePeriodMs = config.shutdownGracePeriodMs;
    log.info({ signal, gracePeriodMs }, 'shutting down: finishing in-flight requests');
    const cut = await drain(this.#proxyServer, this.#adminServer, this.inFlight, gracePeriodMs);
    if (cut > 0) log.warn({ requests: cut }, 'grace period over: closed requests still in flight');
    await this.#release();
    log.info('stopped');
  }

  async flushAudit(): Promise<void> {
    await this.#audit?.flush();
  }

  async #release(): Promise<void> {
    const { credentials, policy, tracing } = this.#opened;
    await this.#audit?.close();
    await tracing?.shutdown();
    this.#memory?.close();
    credentials.close();
    policy?.close();
    this.#upstream.close();
  }
}

/** Resolves when `promise` settles or `ms` have passed, whichever is first. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
