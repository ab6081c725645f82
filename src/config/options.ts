/**
 * Every option, in one table: its flag (kubectl proxy's name where the meaning is the same), its
 * environment variable (derived from the flag), default, help and value parser. The parsed
 * configuration is keyed by the table's camelCase names, which carry the unit where there is one.
 * Parsing is in parse-options.ts, --help in help.ts, the value parsers in values.ts.
 */
import { AUDIT_LEVELS, UPSTREAM_PROTOCOLS } from './kinds.ts';
import {
  oneOf,
  parseApiPrefix,
  parseBoolean,
  parseCount,
  parseDurationMs,
  parseIp,
  parseMemoryBytes,
  parsePatterns,
  parsePerMillion,
  parsePort,
  parsePositiveCount,
  parsePositiveDurationMs,
  parseRate,
  parseServer,
  parseText,
  parseTracingEndpoint,
  type ValueParser,
} from './values.ts';

export const ENV_PREFIX = 'KUBE_API_AMBASSADOR_';
export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const POLICY_MODES = ['enforce', 'log'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface OptionSpec<T> {
  /** Without the dashes; the environment variable is derived from it. */
  readonly flag: string;
  readonly short?: string;
  readonly group: string;
  readonly defaultText: string;
  readonly help: string;
  /** Switches such as --disable-filter take no separate value. */
  readonly isSwitch?: true;
  readonly parse: ValueParser<T>;
}

function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

const LISTENER = 'Proxy listener';
const FILTER = 'Request filter (kubectl proxy compatible)';
const CLUSTER = 'Cluster and credentials';
const POLICY = 'Allow-list policy';
const AUDIT = 'Audit log';
const ADMIN = 'Probes and metrics listener';
const TRACING = 'Tracing (OpenTelemetry)';
const RUNTIME = 'Runtime';

export const OPTIONS = {
  address: option({
    flag: 'address',
    group: LISTENER,
    defaultText: '127.0.0.1',
    help: "IP address the proxy listens on. Keep it on loopback: anything that reaches this port acts with the pod's service account.",
    parse: parseIp,
  }),
  port: option({
    flag: 'port',
    short: 'p',
    group: LISTENER,
    defaultText: '8001',
    help: 'Port the proxy listens on; 0 picks a free port (logged at start).',
    parse: parsePort,
  }),
  unixSocket: option({
    flag: 'unix-socket',
    short: 'u',
    group: LISTENER,
    defaultText: '',
    help: 'Listen on this Unix socket (created owner-only) instead of --address/--port.',
    parse: parseText,
  }),
  apiPrefix: option({
    flag: 'api-prefix',
    group: LISTENER,
    defaultText: '/',
    help: 'Path prefix under which the API is served; a prefix not starting with /api is removed before forwarding.',
    parse: parseApiPrefix,
  }),
  requestHeaderTimeoutMs: option({
    flag: 'request-header-timeout',
    group: LISTENER,
    defaultText: '30s',
    help: 'Longest a client may take to send its request headers (408 after it), against clients that trickle them (slowloris).',
    parse: parsePositiveDurationMs,
  }),
  // kube-apiserver sets no http.Server ReadTimeout (only ReadHeaderTimeout 32s, pkg/server/secure_serving.go):
  // a stalled body there ends with its request deadline's 504 at 60s (endpoints/filters/request_deadline.go,
  // server/filters/timeout.go). 30s answers it sooner and names the cause; a body that keeps moving is
  // left to that deadline.
  requestBodyTimeoutMs: option({
    flag: 'request-body-timeout',
    group: LISTENER,
    defaultText: '30s',
    help: 'Longest the body of an ordinary request may go without a byte moving: then 408 (504 if the API server stopped taking it), the connection is closed and the request to the API server abandoned, so a stalled upload cannot keep its --max-requests-in-flight slot. An upload that keeps moving is never cut here. Watches, logs and upgrades have none.',
    parse: parsePositiveDurationMs,
  }),
  maxRequestsInFlight: option({
    flag: 'max-requests-in-flight',
    group: LISTENER,
    defaultText: '0',
    help: "Most ordinary requests served at once; past it, 429 with Retry-After, as the API server's max-in-flight filter answers. 0: no limit.",
    parse: parseCount,
  }),
  maxLongRunningRequests: option({
    flag: 'max-long-running-requests',
    group: LISTENER,
    defaultText: '0',
    help: 'Most watches, log streams and exec/attach/port-forward sessions open at once; past it, 429. 0: no limit.',
    parse: parseCount,
  }),
  maxQps: option({
    flag: 'max-qps',
    group: LISTENER,
    defaultText: '0',
    help: "Client-side rate limit, as client-go's QPS: past it (after --max-burst), 429 with Retry-After, protecting the API server from a runaway program. 0: no limit.",
    parse: parseRate,
  }),
  maxBurst: option({
    flag: 'max-burst',
    group: LISTENER,
    defaultText: '10',
    help: 'Requests allowed at once above --max-qps.',
    parse: parsePositiveCount,
  }),
  acceptHosts: option({
    flag: 'accept-hosts',
    group: FILTER,
    defaultText: '^localhost$,^127\\.0\\.0\\.1$,^\\[::1\\]$',
    help: 'Comma-separated regular expressions; the Host header (port removed) must match one. Guards against DNS rebinding.',
    parse: parsePatterns,
  }),
  acceptPaths: option({
    flag: 'accept-paths',
    group: FILTER,
    defaultText: '^.*',
    help: 'Comma-separated regular expressions; the decoded canonical path must match one.',
    parse: parsePatterns,
  }),
  rejectPaths: option({
    flag: 'reject-paths',
    group: FILTER,
    defaultText: '^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach',
    help: 'Comma-separated regular expressions; a matching path is refused (checked before --accept-paths). Empty to allow exec and attach.',
    parse: parsePatterns,
  }),
  rejectMethods: option({
    flag: 'reject-methods',
    group: FILTER,
    defaultText: '^$',
    help: 'Comma-separated regular expressions; a matching HTTP method is refused.',
    parse: parsePatterns,
  }),
  disableFilter: option({
    flag: 'disable-filter',
    group: FILTER,
    defaultText: 'false',
    help: 'Turn off --accept-hosts (and the cross-site Origin check), --accept-paths, --reject-paths and --reject-methods. Dangerous outside a Unix socket.',
    isSwitch: true,
    parse: parseBoolean,
  }),
  policyFile: option({
    flag: 'policy',
    group: POLICY,
    defaultText: '',
    help: "Allow-list policy file (YAML or JSON, RBAC-style rules); default deny once given. Without it, kubectl proxy's defaults apply. Re-read when it changes.",
    parse: parseText,
  }),
  policyMode: option({
    flag: 'policy-mode',
    group: POLICY,
    defaultText: 'enforce',
    help: 'enforce: refuse what the policy does not allow; log: only log what it would refuse (to try a policy out).',
    parse: oneOf(POLICY_MODES),
  }),
  policyReloadIntervalMs: option({
    flag: 'policy-reload-interval',
    group: POLICY,
    defaultText: '10s',
    help: 'How often the policy file is checked for changes; an invalid new version is logged and the previous one kept.',
    parse: parsePositiveDurationMs,
  }),
  auditLevel: option({
    flag: 'audit-level',
    group: AUDIT,
    defaultText: 'Metadata',
    help: 'Metadata: one audit.k8s.io/v1 Event per request (health and metrics paths excepted), ResponseStarted too for watches and streams; Request adds request bodies, RequestResponse response bodies too, with secrets redacted; None: no audit log.',
    parse: oneOf(AUDIT_LEVELS),
  }),
  auditPolicyFile: option({
    flag: 'audit-policy',
    group: AUDIT,
    defaultText: '',
    help: 'A Kubernetes audit policy file (audit.k8s.io/v1 Policy) choosing the level per request by users, verbs, resources, namespaces and URLs, with omitStages; replaces --audit-level. Read at start.',
    parse: parseText,
  }),
  auditMaxBodyBytes: option({
    flag: 'audit-max-body-bytes',
    group: AUDIT,
    defaultText: '65536',
    help: 'At the Request levels, a body longer than this is left out of its event (marked audit.k8s.io/truncated); bodies are copied as they stream, never held up.',
    parse: parsePositiveCount,
  }),
  auditLogPath: option({
    flag: 'audit-log-path',
    group: AUDIT,
    defaultText: '-',
    help: 'Where audit events go, one JSON line each: "-" is stdout (next to the operational log, told apart by "kind":"Event"), else a file.',
    parse: parseText,
  }),
  server: option({
    flag: 'server',
    group: CLUSTER,
    defaultText: '',
    help: 'API server URL (https). Without it: in-cluster settings, then a kubeconfig.',
    parse: parseServer,
  }),
  certificateAuthorityFile: option({
    flag: 'certificate-authority',
    group: CLUSTER,
    defaultText: '',
    help: 'CA bundle file that verifies the API server (default with --server or in a cluster: ca.crt in --service-account-dir). Re-read when it changes.',
    parse: parseText,
  }),
  tokenFile: option({
    flag: 'token-file',
    group: CLUSTER,
    defaultText: '',
    help: 'Bearer token file (default with --server or in a cluster: token in --service-account-dir). Re-read as the kubelet rotates it.',
    parse: parseText,
  }),
  tlsServerName: option({
    flag: 'tls-server-name',
    group: CLUSTER,
    defaultText: '',
    help: 'Server name expected in the API server certificate, when it differs from the URL host.',
    parse: parseText,
  }),
  serviceAccountDir: option({
    flag: 'service-account-dir',
    group: CLUSTER,
    defaultText: DEFAULT_SERVICE_ACCOUNT_DIR,
    help: 'Folder holding the service account token, ca.crt and namespace.',
    parse: parseText,
  }),
  kubeconfig: option({
    flag: 'kubeconfig',
    group: CLUSTER,
    defaultText: '',
    help: 'Kubeconfig file to use instead of in-cluster settings (default when not in a cluster: $KUBECONFIG, then ~/.kube/config).',
    parse: parseText,
  }),
  context: option({
    flag: 'context',
    group: CLUSTER,
    defaultText: '',
    help: 'Kubeconfig context to use (default: its current context).',
    parse: parseText,
  }),
  credentialRefreshIntervalMs: option({
    flag: 'credential-refresh-interval',
    group: CLUSTER,
    defaultText: '1m',
    help: 'How often credentials are re-read (token and CA files, kubeconfig, exec plugins), off the request path. Also done at once after a 401.',
    parse: parsePositiveDurationMs,
  }),
  upstreamTimeoutMs: option({
    flag: 'upstream-timeout',
    group: CLUSTER,
    defaultText: '70s',
    help: "Longest wait for the API server to start answering an ordinary request (504 after it); watches, logs and upgrades have none. Longer than the API server's own 60s, so its answer comes first.",
    parse: parsePositiveDurationMs,
  }),
  keepaliveMs: option({
    flag: 'keepalive',
    group: CLUSTER,
    defaultText: '30s',
    help: 'TCP keep-alive probe period of connections to the API server, and HTTP/2 PING period (a connection whose PING goes unanswered within this, at most 15s, is closed), so half-open watches are noticed.',
    parse: parsePositiveDurationMs,
  }),
  upstreamProtocol: option({
    flag: 'upstream-protocol',
    group: CLUSTER,
    defaultText: 'auto',
    help: 'Protocol to the API server for ordinary requests and watches. auto: HTTP/2 when the API server offers it (ALPN), as client-go does, so watches share a few connections; else HTTP/1.1. Upgrades (exec, attach, port-forward) always use HTTP/1.1.',
    parse: oneOf(UPSTREAM_PROTOCOLS),
  }),
  adminAddress: option({
    flag: 'admin-address',
    group: ADMIN,
    defaultText: '0.0.0.0',
    help: 'IP address of the /livez, /readyz and /metrics listener. Kubelet probes and Prometheus reach the pod IP, not its loopback.',
    parse: parseIp,
  }),
  adminPort: option({
    flag: 'admin-port',
    group: ADMIN,
    defaultText: '8002',
    help: 'Port of the /livez, /readyz and /metrics listener; 0 picks a free port (logged at start).',
    parse: parsePort,
  }),
  disableMetrics: option({
    flag: 'disable-metrics',
    group: ADMIN,
    defaultText: 'false',
    help: 'Turn off the Prometheus metrics (/metrics answers 404).',
    isSwitch: true,
    parse: parseBoolean,
  }),
  tracingEndpoint: option({
    flag: 'tracing-endpoint',
    group: TRACING,
    defaultText: '',
    help: "OTLP/HTTP (protobuf) URL spans are exported to, such as http://otel-collector:4318/v1/traces. Each request gets a span between the client's traceparent and the API server, which joins the trace when its own tracing is on. Empty: tracing is off, and its code is never loaded.",
    parse: parseTracingEndpoint,
  }),
  // As Kubernetes' TracingConfiguration.samplingRatePerMillion: unset or 0 samples only what the client sampled.
  tracingSamplingRatePerMillion: option({
    flag: 'tracing-sampling-rate-per-million',
    group: TRACING,
    defaultText: '0',
    help: 'How many of a million requests without a sampled traceparent start a recorded trace (0 to 1000000). A request whose traceparent is sampled is always recorded, as kube-apiserver does.',
    parse: parsePerMillion,
  }),
  // The container's limit reaches the process through the Downward API (resourceFieldRef
  // limits.memory, in bytes) in the manifests and the chart; the V8 old generation is sized from
  // the same limit by the image's --max-old-space-size-percentage (see the Dockerfile).
  memoryLimitBytes: option({
    flag: 'memory-limit',
    group: RUNTIME,
    defaultText: '',
    help: "Memory the process must live within, in bytes or as a Kubernetes quantity (192Mi). Past 85% of it in resident memory (or 90% of the V8 heap limit) new requests get 429 with Retry-After until it falls below 75%. Default: the container's cgroup limit, none without one; 0 turns the budget off.",
    parse: parseMemoryBytes,
  }),
  shutdownGracePeriodMs: option({
    flag: 'shutdown-grace-period',
    group: RUNTIME,
    defaultText: '20s',
    help: 'On SIGTERM, how long in-flight requests may take to finish before connections are closed.',
    parse: parseDurationMs,
  }),
  logLevel: option({
    flag: 'log-level',
    group: RUNTIME,
    defaultText: 'info',
    help: 'Log level: trace, debug, info, warn, error, fatal or silent.',
    parse: oneOf(LOG_LEVELS),
  }),
} as const;

export type OptionKey = keyof typeof OPTIONS;

/** The parsed configuration: plain data, frozen. */
export type Config = {
  readonly [K in OptionKey]: (typeof OPTIONS)[K] extends OptionSpec<infer T> ? T : never;
};

/** In table order, which is the order of --help. */
export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

export function specOf(key: OptionKey): OptionSpec<unknown> {
  return OPTIONS[key];
}

/** `unix-socket` → `KUBE_API_AMBASSADOR_UNIX_SOCKET`. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replaceAll('-', '_');
}
