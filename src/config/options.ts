/**
 * Command-line and environment configuration. One table defines every option: its flag (kubectl
 * proxy's name where the meaning is the same), its environment variable, default, help and parser.
 * Parsing reports every problem at once, naming the option; the result is frozen and trusted.
 */
import { AUDIT_LEVELS, UPSTREAM_PROTOCOLS, type AuditLevel, type UpstreamProtocol } from './kinds.ts';
import { isIP } from 'node:net';
import { didYouMean } from './nearest.ts';

export const ENV_PREFIX = 'KUBE_API_AMBASSADOR_';
export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Parsed<T> = { readonly value: T } | { readonly problem: string };

interface OptionSpec<T> {
  readonly short?: string;
  readonly group: string;
  readonly defaultText: string;
  readonly help: string;
  /** False for switches such as --disable-filter, which take no separate value. */
  readonly takesValue: boolean;
  readonly parse: (text: string) => Parsed<T>;
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

const SPECS = {
  address: option({
    group: LISTENER,
    defaultText: '127.0.0.1',
    help: "IP address the proxy listens on. Keep it on loopback: anything that reaches this port acts with the pod's service account.",
    takesValue: true,
    parse: parseIp,
  }),
  port: option({
    short: 'p',
    group: LISTENER,
    defaultText: '8001',
    help: 'Port the proxy listens on; 0 picks a free port (logged at start).',
    takesValue: true,
    parse: parsePort,
  }),
  'unix-socket': option({
    short: 'u',
    group: LISTENER,
    defaultText: '',
    help: 'Listen on this Unix socket (created owner-only) instead of --address/--port.',
    takesValue: true,
    parse: parseText,
  }),
  'api-prefix': option({
    group: LISTENER,
    defaultText: '/',
    help: 'Path prefix under which the API is served; a prefix not starting with /api is removed before forwarding.',
    takesValue: true,
    parse: parseApiPrefix,
  }),
  'request-header-timeout': option({
    group: LISTENER,
    defaultText: '30s',
    help: 'Longest a client may take to send its request headers (408 after it), against clients that trickle them (slowloris).',
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  // kube-apiserver sets no http.Server ReadTimeout (only ReadHeaderTimeout 32s, pkg/server/secure_serving.go):
  // a stalled body there ends with its request deadline's 504 at 60s (endpoints/filters/request_deadline.go,
  // server/filters/timeout.go). 30s answers it sooner and names the cause; a body that keeps moving is
  // left to that deadline.
  'request-body-timeout': option({
    group: LISTENER,
    defaultText: '30s',
    help: 'Longest the body of an ordinary request may go without a byte moving: then 408 (504 if the API server stopped taking it), the connection is closed and the request to the API server abandoned, so a stalled upload cannot keep its --max-requests-in-flight slot. An upload that keeps moving is never cut here. Watches, logs and upgrades have none.',
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  'max-requests-in-flight': option({
    group: LISTENER,
    defaultText: '0',
    help: "Most ordinary requests served at once; past it, 429 with Retry-After, as the API server's max-in-flight filter answers. 0: no limit.",
    takesValue: true,
    parse: parseCount,
  }),
  'max-long-running-requests': option({
    group: LISTENER,
    defaultText: '0',
    help: 'Most watches, log streams and exec/attach/port-forward sessions open at once; past it, 429. 0: no limit.',
    takesValue: true,
    parse: parseCount,
  }),
  'max-qps': option({
    group: LISTENER,
    defaultText: '0',
    help: "Client-side rate limit, as client-go's QPS: past it (after --max-burst), 429 with Retry-After, protecting the API server from a runaway program. 0: no limit.",
    takesValue: true,
    parse: parseRate,
  }),
  'max-burst': option({
    group: LISTENER,
    defaultText: '10',
    help: 'Requests allowed at once above --max-qps.',
    takesValue: true,
    parse: parsePositiveCount,
  }),
  'accept-hosts': option({
    group: FILTER,
    defaultText: '^localhost$,^127\\.0\\.0\\.1$,^\\[::1\\]$',
    help: 'Comma-separated regular expressions; the Host header (port removed) must match one. Guards against DNS rebinding.',
    takesValue: true,
    parse: parsePatterns,
  }),
  'accept-paths': option({
    group: FILTER,
    defaultText: '^.*',
    help: 'Comma-separated regular expressions; the decoded canonical path must match one.',
    takesValue: true,
    parse: parsePatterns,
  }),
  'reject-paths': option({
    group: FILTER,
    defaultText: '^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach',
    help: 'Comma-separated regular expressions; a matching path is refused (checked before --accept-paths). Empty to allow exec and attach.',
    takesValue: true,
    parse: parsePatterns,
  }),
  'reject-methods': option({
    group: FILTER,
    defaultText: '^$',
    help: 'Comma-separated regular expressions; a matching HTTP method is refused.',
    takesValue: true,
    parse: parsePatterns,
  }),
  'disable-filter': option({
    group: FILTER,
    defaultText: 'false',
    help: 'Turn off --accept-hosts (and the cross-site Origin check), --accept-paths, --reject-paths and --reject-methods. Dangerous outside a Unix socket.',
    takesValue: false,
    parse: parseBoolean,
  }),
  policy: option({
    group: POLICY,
    defaultText: '',
    help: "Allow-list policy file (YAML or JSON, RBAC-style rules); default deny once given. Without it, kubectl proxy's defaults apply. Re-read when it changes.",
    takesValue: true,
    parse: parseText,
  }),
  'policy-mode': option({
    group: POLICY,
    defaultText: 'enforce',
    help: 'enforce: refuse what the policy does not allow; log: only log what it would refuse (to try a policy out).',
    takesValue: true,
    parse: parsePolicyMode,
  }),
  'policy-reload-interval': option({
    group: POLICY,
    defaultText: '10s',
    help: 'How often the policy file is checked for changes; an invalid new version is logged and the previous one kept.',
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  'audit-level': option({
    group: AUDIT,
    defaultText: 'Metadata',
    help: 'Metadata: one audit.k8s.io/v1 Event per request (health and metrics paths excepted), ResponseStarted too for watches and streams; Request adds request bodies, RequestResponse response bodies too, with secrets redacted; None: no audit log.',
    takesValue: true,
    parse: parseAuditLevel,
  }),
  'audit-policy': option({
    group: AUDIT,
    defaultText: '',
    help: 'A Kubernetes audit policy file (audit.k8s.io/v1 Policy) choosing the level per request by users, verbs, resources, namespaces and URLs, with omitStages; replaces --audit-level. Read at start.',
    takesValue: true,
    parse: parseText,
  }),
  'audit-max-body-bytes': option({
    group: AUDIT,
    defaultText: '65536',
    help: 'At the Request levels, a body longer than this is left out of its event (marked audit.k8s.io/truncated); bodies are copied as they stream, never held up.',
    takesValue: true,
    parse: parsePositiveCount,
  }),
  'audit-log-path': option({
    group: AUDIT,
    defaultText: '-',
    help: 'Where audit events go, one JSON line each: "-" is stdout (next to the operational log, told apart by "kind":"Event"), else a file.',
    takesValue: true,
    parse: parseText,
  }),
  server: option({
    group: CLUSTER,
    defaultText: '',
    help: 'API server URL (https). Without it: in-cluster settings, then a kubeconfig.',
    takesValue: true,
    parse: parseServer,
  }),
  'certificate-authority': option({
    group: CLUSTER,
    defaultText: '',
    help: 'CA bundle file that verifies the API server (default with --server or in a cluster: ca.crt in --service-account-dir). Re-read when it changes.',
    takesValue: true,
    parse: parseText,
  }),
  'token-file': option({
    group: CLUSTER,
    defaultText: '',
    help: 'Bearer token file (default with --server or in a cluster: token in --service-account-dir). Re-read as the kubelet rotates it.',
    takesValue: true,
    parse: parseText,
  }),
  'tls-server-name': option({
    group: CLUSTER,
    defaultText: '',
    help: 'Server name expected in the API server certificate, when it differs from the URL host.',
    takesValue: true,
    parse: parseText,
  }),
  'service-account-dir': option({
    group: CLUSTER,
    defaultText: DEFAULT_SERVICE_ACCOUNT_DIR,
    help: 'Folder holding the service account token, ca.crt and namespace.',
    takesValue: true,
    parse: parseText,
  }),
  kubeconfig: option({
    group: CLUSTER,
    defaultText: '',
    help: 'Kubeconfig file to use instead of in-cluster settings (default when not in a cluster: $KUBECONFIG, then ~/.kube/config).',
    takesValue: true,
    parse: parseText,
  }),
  context: option({
    group: CLUSTER,
    defaultText: '',
    help: 'Kubeconfig context to use (default: its current context).',
    takesValue: true,
    parse: parseText,
  }),
  'credential-refresh-interval': option({
    group: CLUSTER,
    defaultText: '1m',
    help: 'How often credentials are re-read (token and CA files, kubeconfig, exec plugins), off the request path. Also done at once after a 401.',
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  'upstream-timeout': option({
    group: CLUSTER,
    defaultText: '70s',
    help: "Longest wait for the API server to start answering an ordinary request (504 after it); watches, logs and upgrades have none. Longer than the API server's own 60s, so its answer comes first.",
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  keepalive: option({
    group: CLUSTER,
    defaultText: '30s',
    help: 'TCP keep-alive probe period of connections to the API server, and HTTP/2 PING period (a connection whose PING goes unanswered within this, at most 15s, is closed), so half-open watches are noticed.',
    takesValue: true,
    parse: parsePositiveDuration,
  }),
  'upstream-protocol': option({
    group: CLUSTER,
    defaultText: 'auto',
    help: 'Protocol to the API server for ordinary requests and watches. auto: HTTP/2 when the API server offers it (ALPN), as client-go does, so watches share a few connections; else HTTP/1.1. Upgrades (exec, attach, port-forward) always use HTTP/1.1.',
    takesValue: true,
    parse: parseUpstreamProtocol,
  }),
  'admin-address': option({
    group: ADMIN,
    defaultText: '0.0.0.0',
    help: 'IP address of the /livez, /readyz and /metrics listener. Kubelet probes and Prometheus reach the pod IP, not its loopback.',
    takesValue: true,
    parse: parseIp,
  }),
  'admin-port': option({
    group: ADMIN,
    defaultText: '8002',
    help: 'Port of the /livez, /readyz and /metrics listener; 0 picks a free port (logged at start).',
    takesValue: true,
    parse: parsePort,
  }),
  'disable-metrics': option({
    group: ADMIN,
    defaultText: 'false',
    help: 'Turn off the Prometheus metrics (/metrics answers 404).',
    takesValue: false,
    parse: parseBoolean,
  }),
  'tracing-endpoint': option({
    group: TRACING,
    defaultText: '',
    help: "OTLP/HTTP (protobuf) URL spans are exported to, such as http://otel-collector:4318/v1/traces. Each request gets a span between the client's traceparent and the API server, which joins the trace when its own tracing is on. Empty: tracing is off, and its code is never loaded.",
    takesValue: true,
    parse: parseTracingEndpoint,
  }),
  // As Kubernetes' TracingConfiguration.samplingRatePerMillion: unset or 0 samples only what the client sampled.
  'tracing-sampling-rate-per-million': option({
    group: TRACING,
    defaultText: '0',
    help: 'How many of a million requests without a sampled traceparent start a recorded trace (0 to 1000000). A request whose traceparent is sampled is always recorded, as kube-apiserver does.',
    takesValue: true,
    parse: parsePerMillion,
  }),
  // The container's limit reaches the process through the Downward API (resourceFieldRef
  // limits.memory, in bytes) in the manifests and the chart; the V8 old generation is sized from
  // the same limit by the image's --max-old-space-size-percentage (see the Dockerfile).
  'memory-limit': option({
    group: RUNTIME,
    defaultText: '',
    help: "Memory the process must live within, in bytes or as a Kubernetes quantity (192Mi). Past 85% of it in resident memory (or 90% of the V8 heap limit) new requests get 429 with Retry-After until it falls below 75%. Default: the container's cgroup limit, none without one; 0 turns the budget off.",
    takesValue: true,
    parse: parseMemoryLimit,
  }),
  'shutdown-grace-period': option({
    group: RUNTIME,
    defaultText: '20s',
    help: 'On SIGTERM, how long in-flight requests may take to finish before connections are closed.',
    takesValue: true,
    parse: parseDuration,
  }),
  'log-level': option({
    group: RUNTIME,
    defaultText: 'info',
    help: 'Log level: trace, debug, info, warn, error, fatal or silent.',
    takesValue: true,
    parse: parseLogLevel,
  }),
} as const;

type Specs = typeof SPECS;
export type OptionName = keyof Specs;
export type Options = {
  readonly [K in OptionName]: Specs[K] extends OptionSpec<infer T> ? T : never;
};

export type OptionsParse =
  | { readonly kind: 'run'; readonly options: Options; readonly explicit: ReadonlySet<OptionName> }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

const OPTION_NAMES = Object.keys(SPECS) as OptionName[];
const BY_SHORT = new Map<string, OptionName>(
  OPTION_NAMES.flatMap((name) => {
    const short = (SPECS[name] as OptionSpec<unknown>).short;
    return short === undefined ? [] : [[short, name] as const];
  }),
);

export function envName(name: OptionName): string {
  return ENV_PREFIX + envSuffix(name);
}

function envSuffix(name: OptionName): string {
  return name.toUpperCase().replaceAll('-', '_');
}

/** Reads options from flags (which win), then `KUBE_API_AMBASSADOR_*` variables, then defaults. */
export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): OptionsParse {
  const problems: string[] = [];
  const fromFlags = new Map<OptionName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    const flag = /^(?:--([a-z][a-z-]*)|-([a-zA-Z]))(?:=(.*))?$/s.exec(arg);
    const name =
      flag === null ? undefined : flag[1] !== undefined ? asOptionName(flag[1]) : BY_SHORT.get(flag[2] ?? '');
    if (flag === null || name === undefined) {
      problems.push(unknownArgument(arg));
      continue;
    }
    const spec: OptionSpec<unknown> = SPECS[name];
    let value = flag[3];
    if (value === undefined) {
      if (!spec.takesValue) value = 'true';
      else if (i + 1 < argv.length) value = argv[++i];
      else {
        problems.push(`--${name}: needs a value`);
        continue;
      }
    }
    fromFlags.set(name, value ?? '');
  }

  const fromEnv = new Map<OptionName, string>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined || isServiceLink(key, value)) continue;
    const name = asOptionName(key.slice(ENV_PREFIX.length).toLowerCase().replaceAll('_', '-'));
    if (name === undefined)
      problems.push(
        `${key}: unknown environment variable${didYouMean(key.slice(ENV_PREFIX.length), OPTION_NAMES.map(envSuffix), (suffix) => ENV_PREFIX + suffix)} (see --help)`,
      );
    else fromEnv.set(name, value);
  }

  const values: Record<string, unknown> = {};
  const explicit = new Set<OptionName>();
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec<unknown> = SPECS[name];
    const flagValue = fromFlags.get(name);
    const envValue = fromEnv.get(name);
    const text = flagValue ?? envValue ?? spec.defaultText;
    if (flagValue !== undefined || envValue !== undefined) explicit.add(name);
    const parsed = spec.parse(text);
    if ('problem' in parsed) {
      const source =
        flagValue !== undefined ? `--${name}` : envValue !== undefined ? envName(name) : `--${name} default`;
      problems.push(`${source}: ${parsed.problem}, got ${JSON.stringify(text)}`);
    } else {
      values[name] = parsed.value;
    }
  }
  if (explicit.has('unix-socket') && explicit.has('port')) {
    problems.push('--unix-socket and --port: give one or the other, not both');
  }
  if (problems.length > 0) return { kind: 'invalid', problems };
  return { kind: 'run', options: Object.freeze(values as Options), explicit };
}

/** `--prot: unknown flag, did you mean --port? (see --help)`; a word alone is an unknown argument. */
function unknownArgument(arg: string): string {
  if (!arg.startsWith('-')) return `${arg}: unknown argument (see --help)`;
  const typed = arg.startsWith('--') ? (arg.slice(2).split('=', 1)[0] ?? '') : '';
  return `${arg}: unknown flag${typed === '' ? '' : didYouMean(typed, OPTION_NAMES, (name) => `--${name}`)} (see --help)`;
}

function asOptionName(text: string): OptionName | undefined {
  return Object.hasOwn(SPECS, text) ? (text as OptionName) : undefined;
}

/**
 * Kubernetes injects `{SERVICE}_PORT=tcp://…`, `{SERVICE}_SERVICE_HOST` and the like for every
 * Service in the namespace, so a Service named kube-api-ambassador would otherwise look like
 * misspelt options.
 */
function isServiceLink(key: string, value: string): boolean {
  return /^(tcp|udp|sctp):\/\//.test(value) || /_SERVICE_(HOST|PORT)|_PORT_\d+_(TCP|UDP|SCTP)/.test(key);
}

export function renderHelp(programName: string): string {
  const lines = [
    `${programName}: a localhost door to the Kubernetes API for the programs in a pod.`,
    '',
    `Usage: ${programName} [flags]`,
    '',
    'Listens on 127.0.0.1:8001 over plain HTTP and forwards each request to the API server over',
    "HTTPS with the pod's service-account token (or a kubeconfig), re-read as it rotates.",
    `Every flag can also be set with the environment variable shown (flags win).`,
  ];
  let group = '';
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec<unknown> = SPECS[name];
    if (spec.group !== group) {
      group = spec.group;
      lines.push('', `${group}:`);
    }
    const short = spec.short === undefined ? '' : `-${spec.short}, `;
    const shown = spec.defaultText === '' ? '' : ` (default: ${spec.defaultText})`;
    lines.push(`  ${short}--${name}${spec.takesValue ? ' VALUE' : ''}   [${envName(name)}]${shown}`);
    lines.push(`      ${spec.help}`);
  }
  lines.push(
    '',
    'Other:',
    '  -h, --help      Show this help.',
    '  --version       Print the version.',
    '',
    `Policy tools (${programName} policy --help):`,
    '  policy check --policy FILE METHOD TARGET   Decide one request as the proxy would.',
    "  policy learn [--user USER] AUDIT_LOG       Learn a policy from an audit log, the ambassador's or kube-apiserver's.",
    "  policy replay --policy FILE AUDIT_LOG      Decide a log's requests against a policy; exit code 3 if any is refused.",
    '',
    'Exit codes: 0 stopped cleanly, 1 failed while running, 2 invalid configuration or no cluster found.',
  );
  return lines.join('\n') + '\n';
}

function parseText(text: string): Parsed<string> {
  return { value: text };
}

function parseIp(text: string): Parsed<string> {
  return isIP(text) === 0 ? { problem: 'must be an IPv4 or IPv6 address' } : { value: text };
}

function parsePort(text: string): Parsed<number> {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return port >= 0 && port <= 65_535 ? { value: port } : { problem: 'must be a port number from 0 to 65535' };
}

function parseCount(text: string): Parsed<number> {
  return /^\d{1,9}$/.test(text) ? { value: Number(text) } : { problem: 'must be a whole number (0 for no limit)' };
}

function parsePositiveCount(text: string): Parsed<number> {
  return /^[1-9]\d{0,8}$/.test(text) ? { value: Number(text) } : { problem: 'must be a whole number of at least 1' };
}

function parseRate(text: string): Parsed<number> {
  const rate = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  return Number.isFinite(rate)
    ? { value: rate }
    : { problem: 'must be a number of requests per second, such as 5 or 0.5 (0 for no limit)' };
}

function parseBoolean(text: string): Parsed<boolean> {
  if (text === 'true' || text === '1') return { value: true };
  if (text === 'false' || text === '0') return { value: false };
  return { problem: 'must be true or false' };
}

function parseApiPrefix(text: string): Parsed<string> {
  if (!text.startsWith('/')) return { problem: 'must start with "/"' };
  return { value: text.endsWith('/') ? text : text + '/' };
}

function parseServer(text: string): Parsed<string> {
  if (text === '') return { value: '' };
  try {
    const url = new URL(text);
    if (url.protocol !== 'https:')
      return { problem: 'must be an https:// URL: the ambassador only speaks TLS to the API server' };
    return { value: text };
  } catch {
    return { problem: 'must be a URL such as https://10.96.0.1:443' };
  }
}

function parseTracingEndpoint(text: string): Parsed<string> {
  if (text === '') return { value: '' };
  const url = URL.parse(text);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return {
      problem: 'must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces (or empty for no tracing)',
    };
  }
  return { value: text };
}

/** The denominator of --tracing-sampling-rate-per-million. */
export const PER_MILLION = 1_000_000;

function parsePerMillion(text: string): Parsed<number> {
  const rate = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  return rate <= PER_MILLION ? { value: rate } : { problem: `must be a whole number from 0 to ${PER_MILLION}` };
}

/** kubectl proxy's format: comma-separated regular expressions; empty means none. */
function parsePatterns(text: string): Parsed<readonly RegExp[]> {
  if (text === '') return { value: [] };
  const patterns: RegExp[] = [];
  for (const source of text.split(',')) {
    try {
      patterns.push(new RegExp(source));
    } catch (error) {
      return { problem: `${JSON.stringify(source)} is not a valid regular expression (${(error as Error).message})` };
    }
  }
  return { value: Object.freeze(patterns) };
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go `time.ParseDuration` syntax (`500ms`, `1.5s`, `1m30s`, `0`), non-negative, in whole milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  const unsigned = text.startsWith('+') ? text.slice(1) : text;
  if (unsigned === '0') return { value: 0 };
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(unsigned); match !== null; match = part.exec(unsigned)) {
    total += Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? ''] ?? NaN);
    consumed = part.lastIndex;
  }
  if (unsigned === '' || consumed !== unsigned.length || !Number.isFinite(total)) {
    return { problem: 'must be a duration such as 500ms, 30s, 1m or 1h30m' };
  }
  return { value: Math.round(total) };
}

function parsePositiveDuration(text: string): Parsed<number> {
  const parsed = parseDuration(text);
  return 'value' in parsed && parsed.value === 0 ? { problem: 'must be longer than 0' } : parsed;
}

const QUANTITY_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/**
 * Bytes, as the Downward API writes limits.memory (an integer), or a quantity with one of the
 * suffixes of k8s.io/apimachinery/pkg/api/resource/suffix.go (decimal k, M, G, T; binary Ki, Mi,
 * Gi, Ti). Empty: undefined, the cgroup's limit.
 */
export function parseMemoryLimit(text: string): Parsed<number | undefined> {
  if (text === '') return { value: undefined };
  const match = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(text);
  const bytes = match === null ? NaN : Math.floor(Number(match[1]) * (QUANTITY_MULTIPLIERS[match[2] ?? ''] ?? NaN));
  return Number.isSafeInteger(bytes)
    ? { value: bytes }
    : { problem: 'must be a number of bytes or a quantity such as 192Mi (0 for no budget)' };
}

function parseAuditLevel(text: string): Parsed<AuditLevel> {
  const level = AUDIT_LEVELS.find((candidate) => candidate === text);
  return level === undefined ? { problem: `must be one of ${AUDIT_LEVELS.join(', ')}` } : { value: level };
}

function parseUpstreamProtocol(text: string): Parsed<UpstreamProtocol> {
  const protocol = UPSTREAM_PROTOCOLS.find((candidate) => candidate === text);
  return protocol === undefined ? { problem: `must be one of ${UPSTREAM_PROTOCOLS.join(', ')}` } : { value: protocol };
}

const POLICY_MODES = ['enforce', 'log'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

function parsePolicyMode(text: string): Parsed<PolicyMode> {
  const mode = POLICY_MODES.find((candidate) => candidate === text);
  return mode === undefined ? { problem: `must be one of ${POLICY_MODES.join(', ')}` } : { value: mode };
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function parseLogLevel(text: string): Parsed<LogLevel> {
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  return level === undefined ? { problem: `must be one of ${LOG_LEVELS.join(', ')}` } : { value: level };
}
