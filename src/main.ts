#!/usr/bin/env node
/**
 * kube-api-ambassador's composition root, and the only module that touches `process`:
 * options → cluster → credentials → upstream → listeners → signals.
 * Exit codes: 0 stopped cleanly, 1 failed while running, 2 invalid configuration or no cluster.
 */
import { readFileSync } from 'node:fs';
import { homedir, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { pino, type Logger } from 'pino';
import { CredentialStore } from './cluster/credentials.ts';
import { discoverCluster } from './cluster/discover.ts';
import { Upstream } from './cluster/upstream.ts';
import { nodeVersionProblem } from './config/node-version.ts';
import { parseOptions, renderHelp, type Options } from './config/options.ts';
import { filterFromOptions } from './proxy/filter.ts';
import { ProxyHandler } from './proxy/handler.ts';
import { InFlight } from './proxy/in-flight.ts';
import { TokenBucket } from './proxy/rate-limit.ts';
import {
  createAdminServer,
  createProxyServer,
  describeListenFailure,
  drain,
  listen,
  type ListenerRole,
  type ListenTarget,
} from './server/listeners.ts';
import { Readiness } from './server/readiness.ts';
import { checkPolicyAgainstRbac, reviewSelf } from './policy/rbac-review.ts';
import { budgetFor, effectiveLimit, MemoryGate, type MemorySample } from './proxy/memory-budget.ts';
import { PolicyStore } from './policy/store.ts';
import { readYamlFile } from './config/document.ts';
import { success } from './config/result.ts';
import { Metrics } from './metrics/metrics.ts';
import { combineRecorders, type Recorder } from './request/record.ts';
import { AuditLog } from './audit/audit-log.ts';
import { auditPolicyForLevel, compileAuditPolicy, type AuditPolicyCompile } from './audit/policy.ts';
import type { OtelTracing } from './tracing/otel.ts';

const PROGRAM = 'kube-api-ambassador';
const EXIT_RUNTIME_FAILURE = 1;
const EXIT_CONFIGURATION = 2;
/** How long start-up waits for the API server to say who the credentials are; the answer is used whenever it comes. */
const REPORTED_IDENTITY_WAIT_MS = 2000;

function readVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof manifest === 'object' && manifest !== null && 'version' in manifest
    ? String(manifest.version)
    : 'unknown';
}

/** Resolves when `promise` settles or `ms` have passed, whichever is first. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function sampleMemory(): MemorySample {
  const heap = getHeapStatistics();
  return {
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: heap.used_heap_size,
    heapLimitBytes: heap.heap_size_limit,
  };
}

/** The memory budget's gate, or undefined without a limit; logs the budget and the V8 heap limit. */
function startMemoryGate(options: Options, log: Logger): MemoryGate | undefined {
  const limitBytes = effectiveLimit(options['memory-limit'], process.constrainedMemory(), totalmem());
  if (limitBytes === 0) return undefined;
  const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);
  const gate = new MemoryGate(budgetFor(limitBytes), sampleMemory, (shedding, sample) => {
    const fields = { rssMiB: mib(sample.rssBytes), heapUsedMiB: mib(sample.heapUsedBytes), limitMiB: mib(limitBytes) };
    if (shedding) log.warn(fields, 'over the memory budget: new requests get 429 until memory falls');
    else log.info(fields, 'back within the memory budget');
  });
  const heapLimitBytes = getHeapStatistics().heap_size_limit;
  log.info(
    { limitMiB: mib(limitBytes), shedAtMiB: mib(gate.budget.shedAtBytes), heapLimitMiB: mib(heapLimitBytes) },
    'memory budget',
  );
  if (heapLimitBytes > gate.budget.shedAtBytes) {
    log.warn(
      { heapLimitMiB: mib(heapLimitBytes) },
      'the V8 heap may outgrow the memory budget: run with --max-old-space-size-percentage, as the image does',
    );
  }
  return gate;
}

function createLogger(options: Options): Logger {
  return pino({
    name: PROGRAM,
    level: options['log-level'],
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** --audit-policy when given, else --audit-level for everything but probes and metrics. */
async function readAuditPolicy(options: Options, podNamespace: string | undefined): Promise<AuditPolicyCompile> {
  if (options['audit-policy'] === '') return success(auditPolicyForLevel(options['audit-level']));
  const read = await readYamlFile(options['audit-policy']);
  return read.ok ? compileAuditPolicy(read.value.document, podNamespace) : read;
}

/** OpenTelemetry is imported only when tracing is on: with it off, none of it is loaded. */
async function startTracing(options: Options, log: Logger): Promise<OtelTracing | undefined> {
  const endpoint = options['tracing-endpoint'];
  if (endpoint === '') return undefined;
  const { OtelTracing } = await import('./tracing/otel.ts');
  const samplingRatePerMillion = options['tracing-sampling-rate-per-million'];
  log.info({ endpoint, samplingRatePerMillion }, 'tracing requests: spans go to the OTLP endpoint');
  return new OtelTracing({ endpoint, samplingRatePerMillion, version: readVersion() }, log);
}

async function run(): Promise<number> {
  const unsupported = nodeVersionProblem(process.version, process.execPath);
  if (unsupported !== undefined) {
    process.stderr.write(`${PROGRAM}: ${unsupported}\n`);
    return EXIT_CONFIGURATION;
  }
  if (process.argv[2] === 'help') {
    process.stdout.write(renderHelp(PROGRAM));
    return 0;
  }
  if (process.argv[2] === 'policy') {
    const { runPolicyCommand } = await import('./cli/policy-command.ts');
    return runPolicyCommand(process.argv.slice(3), process.env, process.stdin, process.stdout, process.stderr);
  }
  const parsed = parseOptions(process.argv.slice(2), process.env);
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(renderHelp(PROGRAM));
      return 0;
    case 'version':
      process.stdout.write(`${PROGRAM} ${readVersion()}\n`);
      return 0;
    case 'invalid':
      process.stderr.write(`${PROGRAM}: invalid configuration:\n${parsed.problems.map((p) => `  ${p}\n`).join('')}`);
      return EXIT_CONFIGURATION;
    case 'run':
      break;
  }
  const { options } = parsed;
  const log = createLogger(options);

  const discovery = await discoverCluster(options, process.env, homedir());
  if (!discovery.ok) {
    process.stderr.write(`${PROGRAM}: ${discovery.problem}\n`);
    return EXIT_CONFIGURATION;
  }
  const cluster = discovery.source;
  let credentials: CredentialStore;
  try {
    credentials = await CredentialStore.open(cluster.loadCredentials, options['credential-refresh-interval'], log);
  } catch (error) {
    process.stderr.write(
      `${PROGRAM}: cannot load credentials from ${cluster.description}: ${(error as Error).message}\n`,
    );
    return EXIT_CONFIGURATION;
  }

  const podNamespace = process.env['POD_NAMESPACE'] || cluster.namespace;
  let policy: PolicyStore | undefined;
  if (options.policy !== '') {
    try {
      policy = await PolicyStore.open(options.policy, podNamespace, options['policy-reload-interval'], log);
    } catch (error) {
      process.stderr.write(`${PROGRAM}: ${options.policy}: ${(error as Error).message}\n`);
      return EXIT_CONFIGURATION;
    }
  }

  const upstream = new Upstream(cluster.server, credentials, options.keepalive, options['upstream-protocol'], log);
  const inFlight = new InFlight();
  const metrics = options['disable-metrics']
    ? undefined
    : new Metrics({ version: readVersion(), credentials, inFlight, upstream });
  if (metrics !== undefined) {
    credentials.onReload((ok) => metrics.credentialReloads.inc({ result: ok ? 'success' : 'failure' }));
    policy?.onReload((ok) => metrics.policyReloads.inc({ result: ok ? 'success' : 'failure' }));
  }
  const auditPolicy = await readAuditPolicy(options, podNamespace);
  if (!auditPolicy.ok) {
    process.stderr.write(
      `${PROGRAM}: ${options['audit-policy']}: invalid audit policy:\n${auditPolicy.problem.map((problem) => `  ${problem}\n`).join('')}`,
    );
    return EXIT_CONFIGURATION;
  }
  const audit =
    auditPolicy.value.rules.length === 0
      ? undefined
      : new AuditLog(options['audit-log-path'], credentials, log, (reason) => metrics?.auditEventsLost.inc({ reason }));
  const tracing = await startTracing(options, log);
  const recorders: Recorder[] = [];
  if (metrics !== undefined) recorders.push(metrics);
  if (audit !== undefined) recorders.push(audit);
  if (tracing !== undefined) recorders.push(tracing);
  // kubectl proxy's default --reject-paths (no exec, no attach) is the no-policy behaviour; a policy decides that itself.
  const filter = filterFromOptions(options, policy !== undefined && !parsed.explicit.has('reject-paths'));
  const memory = startMemoryGate(options, log);
  const handler = new ProxyHandler({
    upstream,
    credentials,
    inFlight,
    filter,
    limits: { ordinary: options['max-requests-in-flight'], longRunning: options['max-long-running-requests'] },
    rateLimit:
      options['max-qps'] > 0 ? new TokenBucket(options['max-qps'], options['max-burst'], Date.now()) : undefined,
    policy: policy === undefined ? undefined : { store: policy, mode: options['policy-mode'] },
    apiPrefix: options['api-prefix'],
    auditPolicy: auditPolicy.value,
    memory,
    auditBodyLimit: options['audit-max-body-bytes'],
    upstreamTimeoutMs: options['upstream-timeout'],
    requestBodyTimeoutMs: options['request-body-timeout'],
    log,
    tracing,
    recorder: combineRecorders(recorders),
  });
  const proxyServer = createProxyServer(handler, options['request-header-timeout']);
  const adminServer = createAdminServer(new Readiness(credentials, upstream), metrics?.registry, log);
  // The audit user comes from the credentials; when they do not tell, from the API server itself,
  // asked before listening (for a bounded time) so that the first requests' events name it too.
  const self = audit !== undefined && credentials.current.identity === undefined ? reviewSelf(upstream) : undefined;
  if (audit !== undefined && self !== undefined) {
    const reported = self.then(
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
    await settledWithin(reported, REPORTED_IDENTITY_WAIT_MS);
  }

  const onSocket = options['unix-socket'] !== '';
  const proxyTarget: ListenTarget = onSocket
    ? { socketPath: options['unix-socket'] }
    : { host: options.address, port: options.port };
  const proxyRole: ListenerRole = { name: 'the proxy', flags: onSocket ? '--unix-socket' : '--address, --port' };
  const adminTarget: ListenTarget = { host: options['admin-address'], port: options['admin-port'] };
  const adminRole: ListenerRole = { name: 'the probes and metrics', flags: '--admin-address, --admin-port' };

  let proxyAddress: string;
  let adminAddress: string;
  let listening: [ListenerRole, ListenTarget] = [proxyRole, proxyTarget];
  try {
    proxyAddress = await listen(proxyServer, proxyTarget);
    listening = [adminRole, adminTarget];
    adminAddress = await listen(adminServer, adminTarget);
  } catch (error) {
    process.stderr.write(`${PROGRAM}: ${describeListenFailure(...listening, error as NodeJS.ErrnoException)}\n`);
    return EXIT_RUNTIME_FAILURE;
  }
  const { POD_IP: podIp, HOST_IP: hostIp } = process.env;
  if (podIp !== undefined && podIp !== '' && podIp === hostIp) {
    log.warn(
      { podIp, hostIp },
      "the pod uses host networking: 127.0.0.1 is the node's loopback, so every host-network pod and process on the node can use the ambassador",
    );
  }
  if (!filter.enabled) log.warn('the request filter is disabled: any local program or web page can use the ambassador');
  else if (policy === undefined && (filter.rejectPaths.length === 0 || filter.rejectMethods.length === 0)) {
    log.warn('the request filter has been relaxed');
  }
  log.info(
    {
      proxy: proxyAddress,
      probes: adminAddress,
      cluster: cluster.description,
      server: cluster.server.origin,
      namespace: cluster.namespace,
    },
    `serving the Kubernetes API on ${proxyAddress}`,
  );
  if (policy !== undefined) {
    void checkPolicyAgainstRbac(policy.current, upstream, podNamespace, log, self).catch((error: unknown) => {
      log.warn({ err: error }, 'cannot check the policy against RBAC');
    });
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info({ signal, gracePeriodMs: options['shutdown-grace-period'] }, 'shutting down: finishing in-flight requests');
  const cut = await drain(proxyServer, adminServer, inFlight, options['shutdown-grace-period']);
  if (cut > 0) log.warn({ requests: cut }, 'grace period over: closed requests still in flight');
  await audit?.close();
  await tracing?.shutdown();
  memory?.close();
  credentials.close();
  policy?.close();
  upstream.close();
  log.info('stopped');
  return 0;
}

run().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(EXIT_RUNTIME_FAILURE);
  },
);
