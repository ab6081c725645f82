import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_ACCOUNT_DIR, envName, type Config } from '../../src/config/options.ts';
import { parseOptions, type OptionsParse } from '../../src/config/parse-options.ts';

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULTS: Config = {
  address: '127.0.0.1',
  port: 8001,
  unixSocket: '',
  apiPrefix: '/',
  requestHeaderTimeoutMs: 30_000,
  requestBodyTimeoutMs: 30_000,
  maxRequestsInFlight: 0,
  maxLongRunningRequests: 0,
  maxQps: 0,
  maxBurst: 10,
  acceptHosts: [/^localhost$/, /^127\.0\.0\.1$/, /^\[::1\]$/],
  acceptPaths: [/^.*/],
  rejectPaths: [/^\/api\/.*\/pods\/.*\/exec/, /^\/api\/.*\/pods\/.*\/attach/],
  rejectMethods: [/^$/],
  disableFilter: false,
  policyFile: '',
  policyMode: 'enforce',
  policyReloadIntervalMs: 10_000,
  auditLevel: 'Metadata',
  auditLogPath: '-',
  auditPolicyFile: '',
  auditMaxBodyBytes: 65_536,
  server: '',
  certificateAuthorityFile: '',
  tokenFile: '',
  tlsServerName: '',
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
  kubeconfig: '',
  context: '',
  credentialRefreshIntervalMs: 60_000,
  upstreamTimeoutMs: 70_000,
  keepaliveMs: 30_000,
  upstreamProtocol: 'auto',
  adminAddress: '0.0.0.0',
  adminPort: 8002,
  disableMetrics: false,
  tracingEndpoint: '',
  tracingSamplingRatePerMillion: 0,
  memoryLimitBytes: undefined,
  shutdownGracePeriodMs: 20_000,
  logLevel: 'info',
};

function run(overrides: Partial<Config>): OptionsParse {
  return { kind: 'run', config: { ...DEFAULTS, ...overrides } };
}

function invalid(...problems: string[]): OptionsParse {
  return { kind: 'invalid', problems };
}

describe('parseOptions: defaults, flags, environment', () => {
  it.each<[string, readonly string[], Env, OptionsParse]>([
    ['defaults', [], {}, run({})],
    [
      'defaults ignore unrelated variables',
      [],
      { HOME: '/root', PATH: '/bin', KUBERNETES_SERVICE_HOST: '10.96.0.1' },
      run({}),
    ],
    ['--flag value', ['--port', '9000'], {}, run({ port: 9000 })],
    ['--flag=value', ['--port=9000'], {}, run({ port: 9000 })],
    ['-p value', ['-p', '9000'], {}, run({ port: 9000 })],
    ['-p=value', ['-p=9000'], {}, run({ port: 9000 })],
    ['port 0 picks a free port', ['--port', '0'], {}, run({ port: 0 })],
    ['port 65535', ['--port', '65535'], {}, run({ port: 65_535 })],
    ['-u', ['-u', '/run/kube.sock'], {}, run({ unixSocket: '/run/kube.sock' })],
    ['a value that looks like a flag', ['--context', '--weird'], {}, run({ context: '--weird' })],
    ['a value with "="', ['--tls-server-name=a=b'], {}, run({ tlsServerName: 'a=b' })],
    ['the last flag wins', ['--port', '1', '--port', '2'], {}, run({ port: 2 })],
    ['IPv6 address', ['--address', '::1'], {}, run({ address: '::1' })],
    ['--api-prefix gets a trailing slash', ['--api-prefix', '/custom'], {}, run({ apiPrefix: '/custom/' })],
    ['--api-prefix already ending in /', ['--api-prefix=/custom/'], {}, run({ apiPrefix: '/custom/' })],
    ['--disable-filter switch', ['--disable-filter'], {}, run({ disableFilter: true })],
    ['--disable-filter=false', ['--disable-filter=false'], {}, run({ disableFilter: false })],
    ['--disable-filter=1', ['--disable-filter=1'], {}, run({ disableFilter: true })],
    ['patterns split on commas', ['--accept-hosts', '^a$,^b\\.c$'], {}, run({ acceptHosts: [/^a$/, /^b\.c$/] })],
    // The policy decides exec and attach itself, unless --reject-paths is given too
    [
      '--policy drops the --reject-paths default',
      ['--policy', 'p.yaml'],
      {},
      run({ policyFile: 'p.yaml', rejectPaths: [] }),
    ],
    [
      '--policy keeps a --reject-paths given',
      ['--policy', 'p.yaml', '--reject-paths', '^/api/.*/exec'],
      {},
      run({ policyFile: 'p.yaml', rejectPaths: [/^\/api\/.*\/exec/] }),
    ],
    [
      '--policy keeps a --reject-paths variable',
      [],
      { KUBE_API_AMBASSADOR_POLICY: 'p.yaml', KUBE_API_AMBASSADOR_REJECT_PATHS: '^/x' },
      run({ policyFile: 'p.yaml', rejectPaths: [/^\/x/] }),
    ],
    ['empty patterns mean none', ['--reject-paths='], {}, run({ rejectPaths: [] })],
    ['https server', ['--server', 'https://10.96.0.1:443'], {}, run({ server: 'https://10.96.0.1:443' })],
    [
      'durations',
      ['--upstream-timeout', '1m30s', '--keepalive=500ms', '--shutdown-grace-period', '0'],
      {},
      run({ upstreamTimeoutMs: 90_000, keepaliveMs: 500, shutdownGracePeriodMs: 0 }),
    ],
    ['log level', ['--log-level', 'debug'], {}, run({ logLevel: 'debug' })],
    ['body timeout', ['--request-body-timeout', '2m'], {}, run({ requestBodyTimeoutMs: 120_000 })],
    [
      'body timeout from the environment',
      [],
      { KUBE_API_AMBASSADOR_REQUEST_BODY_TIMEOUT: '500ms' },
      run({ requestBodyTimeoutMs: 500 }),
    ],
    [
      'cluster flags',
      [
        '--kubeconfig',
        '/k',
        '--context',
        'ctx',
        '--token-file',
        '/t',
        '--certificate-authority',
        '/ca',
        '--service-account-dir',
        '/sa',
      ],
      {},
      run({
        kubeconfig: '/k',
        context: 'ctx',
        tokenFile: '/t',
        certificateAuthorityFile: '/ca',
        serviceAccountDir: '/sa',
      }),
    ],
    ['environment variable', [], { KUBE_API_AMBASSADOR_PORT: '9000' }, run({ port: 9000 })],
    ['environment switch', [], { KUBE_API_AMBASSADOR_DISABLE_FILTER: 'true' }, run({ disableFilter: true })],
    [
      'environment with dashes as underscores',
      [],
      { KUBE_API_AMBASSADOR_ADMIN_PORT: '9100', KUBE_API_AMBASSADOR_UPSTREAM_TIMEOUT: '2m' },
      run({ adminPort: 9100, upstreamTimeoutMs: 120_000 }),
    ],
    [
      'flags win over the environment',
      ['--port', '9000'],
      { KUBE_API_AMBASSADOR_PORT: '7000', KUBE_API_AMBASSADOR_LOG_LEVEL: 'warn' },
      run({ port: 9000, logLevel: 'warn' }),
    ],
    ['an undefined variable is absent', [], { KUBE_API_AMBASSADOR_PORT: undefined }, run({})],
    ['an empty variable is a value', [], { KUBE_API_AMBASSADOR_CONTEXT: '' }, run({ context: '' })],
    // Kubernetes service links for a Service named kube-api-ambassador are not options
    [
      'service-link variables are ignored',
      [],
      {
        KUBE_API_AMBASSADOR_PORT: 'tcp://10.96.0.5:8001',
        KUBE_API_AMBASSADOR_SERVICE_HOST: '10.96.0.5',
        KUBE_API_AMBASSADOR_SERVICE_PORT: '8001',
        KUBE_API_AMBASSADOR_SERVICE_PORT_HTTP: '8001',
        KUBE_API_AMBASSADOR_PORT_8001_TCP: 'tcp://10.96.0.5:8001',
        KUBE_API_AMBASSADOR_PORT_8001_TCP_PROTO: 'tcp',
        KUBE_API_AMBASSADOR_PORT_8001_TCP_PORT: '8001',
        KUBE_API_AMBASSADOR_PORT_8001_TCP_ADDR: '10.96.0.5',
        KUBE_API_AMBASSADOR_PORT_8002_TCP: 'tcp://10.96.0.5:8002',
        KUBE_API_AMBASSADOR_PORT_8002_TCP_PROTO: 'tcp',
        KUBE_API_AMBASSADOR_PORT_8002_TCP_PORT: '8002',
        KUBE_API_AMBASSADOR_PORT_8002_TCP_ADDR: '10.96.0.5',
        KUBE_API_AMBASSADOR_PORT_53_UDP: 'udp://10.96.0.5:53',
      },
      run({}),
    ],
    [
      'tracing endpoint',
      ['--tracing-endpoint', 'http://127.0.0.1:4318/v1/traces'],
      {},
      run({ tracingEndpoint: 'http://127.0.0.1:4318/v1/traces' }),
    ],
    [
      'tracing over https',
      [],
      { KUBE_API_AMBASSADOR_TRACING_ENDPOINT: 'https://collector:4318/v1/traces' },
      run({ tracingEndpoint: 'https://collector:4318/v1/traces' }),
    ],
    [
      'sampling every request',
      ['--tracing-sampling-rate-per-million', '1000000'],
      {},
      run({ tracingSamplingRatePerMillion: 1_000_000 }),
    ],
    [
      'sampling one in ten thousand',
      [],
      { KUBE_API_AMBASSADOR_TRACING_SAMPLING_RATE_PER_MILLION: '100' },
      run({ tracingSamplingRatePerMillion: 100 }),
    ],
    [
      'a service link next to a real option',
      [],
      { KUBE_API_AMBASSADOR_PORT: 'tcp://10.96.0.5:8001', KUBE_API_AMBASSADOR_ADMIN_PORT: '9100' },
      run({ adminPort: 9100 }),
    ],
  ])('%s', (_name, argv, env, expected) => {
    expect(parseOptions(argv, env)).toEqual(expected);
  });
});

it('gives a frozen configuration', () => {
  const parsed = parseOptions([], {});
  expect(parsed.kind === 'run' && Object.isFrozen(parsed.config)).toBe(true);
});

describe('parseOptions: --help and --version', () => {
  it.each<[readonly string[], OptionsParse]>([
    [['--help'], { kind: 'help' }],
    [['-h'], { kind: 'help' }],
    [['--port', '1', '--help'], { kind: 'help' }],
    [['--version'], { kind: 'version' }],
    [['--log-level', 'info', '--version'], { kind: 'version' }],
  ])('%j', (argv, expected) => {
    expect(parseOptions(argv, {})).toEqual(expected);
  });
});

describe('parseOptions: every problem is reported, naming the flag or variable', () => {
  it.each<[string, readonly string[], Env, OptionsParse]>([
    ['unknown flag', ['--bogus'], {}, invalid('--bogus: unknown flag (see --help)')],
    ['unknown flag with value', ['--bogus=1'], {}, invalid('--bogus=1: unknown flag (see --help)')],
    ['unknown short flag', ['-x'], {}, invalid('-x: unknown flag (see --help)')],
    ['positional argument', ['proxy'], {}, invalid('proxy: unknown argument (see --help)')],
    [
      'upper-case flag',
      ['--Port', '1'],
      {},
      invalid('--Port: unknown flag, did you mean --port? (see --help)', '1: unknown argument (see --help)'),
    ],
    [
      'misspelt flag',
      ['--prot', '19005'],
      {},
      invalid('--prot: unknown flag, did you mean --port? (see --help)', '19005: unknown argument (see --help)'),
    ],
    [
      'misspelt flag with value',
      ['--polcy=p.yaml'],
      {},
      invalid('--polcy=p.yaml: unknown flag, did you mean --policy? (see --help)'),
    ],
    [
      'misspelt flag, two edits',
      ['--audit-levle', 'None'],
      {},
      invalid(
        '--audit-levle: unknown flag, did you mean --audit-level? (see --help)',
        'None: unknown argument (see --help)',
      ),
    ],
    [
      'a switch takes no separate value',
      ['--disable-filter', 'false'],
      {},
      invalid('false: unknown argument (see --help)'),
    ],
    ['missing value', ['--port'], {}, invalid('--port: needs a value')],
    [
      'port out of range',
      ['--port', '65536'],
      {},
      invalid('--port: must be a port number from 0 to 65535, got "65536"'),
    ],
    ['negative port', ['--port=-1'], {}, invalid('--port: must be a port number from 0 to 65535, got "-1"')],
    ['named port', ['-p', 'http'], {}, invalid('--port: must be a port number from 0 to 65535, got "http"')],
    ['empty port', ['--port='], {}, invalid('--port: must be a port number from 0 to 65535, got ""')],
    [
      'host name as address',
      ['--address', 'localhost'],
      {},
      invalid('--address: must be an IPv4 or IPv6 address, got "localhost"'),
    ],
    ['relative api prefix', ['--api-prefix', 'api'], {}, invalid('--api-prefix: must start with "/", got "api"')],
    ['not a boolean', ['--disable-filter=yes'], {}, invalid('--disable-filter: must be true or false, got "yes"')],
    [
      'plain-HTTP server',
      ['--server', 'http://10.96.0.1'],
      {},
      invalid(
        '--server: must be an https:// URL: the ambassador only speaks TLS to the API server, got "http://10.96.0.1"',
      ),
    ],
    [
      'server not a URL',
      ['--server', '10.96.0.1:443'],
      {},
      invalid('--server: must be a URL such as https://10.96.0.1:443, got "10.96.0.1:443"'),
    ],
    [
      'bad regular expression',
      ['--accept-paths', '^/api,('],
      {},
      invalid(
        '--accept-paths: "(" is not a valid regular expression (Invalid regular expression: /(/: Unterminated group), got "^/api,("',
      ),
    ],
    [
      'bad duration',
      ['--keepalive', '5q'],
      {},
      invalid('--keepalive: must be a duration such as 500ms, 30s, 1m or 1h30m, got "5q"'),
    ],
    [
      'zero where a positive duration is needed',
      ['--upstream-timeout', '0'],
      {},
      invalid('--upstream-timeout: must be longer than 0, got "0"'),
    ],
    [
      'zero refresh interval',
      ['--credential-refresh-interval=0s'],
      {},
      invalid('--credential-refresh-interval: must be longer than 0, got "0s"'),
    ],
    [
      'zero body timeout: a stalled body must end',
      ['--request-body-timeout', '0'],
      {},
      invalid('--request-body-timeout: must be longer than 0, got "0"'),
    ],
    [
      'unknown log level',
      ['--log-level', 'verbose'],
      {},
      invalid('--log-level: must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"'),
    ],
    [
      'tracing endpoint without a scheme',
      ['--tracing-endpoint', '127.0.0.1:4318'],
      {},
      invalid(
        '--tracing-endpoint: must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces (or empty for no tracing), got "127.0.0.1:4318"',
      ),
    ],
    [
      'tracing endpoint over gRPC',
      ['--tracing-endpoint', 'grpc://collector:4317'],
      {},
      invalid(
        '--tracing-endpoint: must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces (or empty for no tracing), got "grpc://collector:4317"',
      ),
    ],
    [
      'sampling above a million',
      ['--tracing-sampling-rate-per-million', '1000001'],
      {},
      invalid('--tracing-sampling-rate-per-million: must be a whole number from 0 to 1000000, got "1000001"'),
    ],
    [
      'sampling as a fraction',
      ['--tracing-sampling-rate-per-million', '0.5'],
      {},
      invalid('--tracing-sampling-rate-per-million: must be a whole number from 0 to 1000000, got "0.5"'),
    ],
    [
      'negative sampling',
      ['--tracing-sampling-rate-per-million=-1'],
      {},
      invalid('--tracing-sampling-rate-per-million: must be a whole number from 0 to 1000000, got "-1"'),
    ],
    [
      '--unix-socket with --port',
      ['--unix-socket', '/s', '--port', '8001'],
      {},
      invalid('--unix-socket and --port: give one or the other, not both'),
    ],
    ['-u with -p', ['-u', '/s', '-p', '0'], {}, invalid('--unix-socket and --port: give one or the other, not both')],
    [
      'unix socket from the environment with --port',
      ['--port', '8001'],
      { KUBE_API_AMBASSADOR_UNIX_SOCKET: '/s' },
      invalid('--unix-socket and --port: give one or the other, not both'),
    ],
    [
      'unknown variable',
      [],
      { KUBE_API_AMBASSADOR_BOGUS: '1' },
      invalid('KUBE_API_AMBASSADOR_BOGUS: unknown environment variable (see --help)'),
    ],
    [
      'misspelt variable',
      [],
      { KUBE_API_AMBASSADOR_LOGLEVEL: 'debug' },
      invalid(
        'KUBE_API_AMBASSADOR_LOGLEVEL: unknown environment variable, did you mean KUBE_API_AMBASSADOR_LOG_LEVEL? (see --help)',
      ),
    ],
    [
      'the prefix alone',
      [],
      { KUBE_API_AMBASSADOR_: 'x' },
      invalid('KUBE_API_AMBASSADOR_: unknown environment variable (see --help)'),
    ],
    [
      'bad variable value',
      [],
      { KUBE_API_AMBASSADOR_PORT: 'abc' },
      invalid('KUBE_API_AMBASSADOR_PORT: must be a port number from 0 to 65535, got "abc"'),
    ],
    [
      'bad variable duration',
      [],
      { KUBE_API_AMBASSADOR_KEEPALIVE: '1x' },
      invalid('KUBE_API_AMBASSADOR_KEEPALIVE: must be a duration such as 500ms, 30s, 1m or 1h30m, got "1x"'),
    ],
    ['a valid flag hides a bad variable', ['--port', '9000'], { KUBE_API_AMBASSADOR_PORT: 'abc' }, run({ port: 9000 })],
    [
      'all at once, in order: arguments, variables, values, conflicts',
      ['--bogus', '--port', 'x', '--log-level', 'loud', 'extra', '-u', '/s'],
      { KUBE_API_AMBASSADOR_NOPE: '1', KUBE_API_AMBASSADOR_ADMIN_ADDRESS: 'pod-ip' },
      invalid(
        '--bogus: unknown flag (see --help)',
        'extra: unknown argument (see --help)',
        'KUBE_API_AMBASSADOR_NOPE: unknown environment variable (see --help)',
        '--port: must be a port number from 0 to 65535, got "x"',
        'KUBE_API_AMBASSADOR_ADMIN_ADDRESS: must be an IPv4 or IPv6 address, got "pod-ip"',
        '--log-level: must be one of trace, debug, info, warn, error, fatal, silent, got "loud"',
        '--unix-socket and --port: give one or the other, not both',
      ),
    ],
  ])('%s', (_name, argv, env, expected) => {
    expect(parseOptions(argv, env)).toEqual(expected);
  });
});

describe('envName', () => {
  it.each<[string, string]>([
    ['port', 'KUBE_API_AMBASSADOR_PORT'],
    ['unix-socket', 'KUBE_API_AMBASSADOR_UNIX_SOCKET'],
    ['credential-refresh-interval', 'KUBE_API_AMBASSADOR_CREDENTIAL_REFRESH_INTERVAL'],
    ['disable-filter', 'KUBE_API_AMBASSADOR_DISABLE_FILTER'],
  ])('%s', (name, expected) => {
    expect(envName(name)).toBe(expected);
  });

  it('the service account default is the kubelet mount', () => {
    expect(DEFAULT_SERVICE_ACCOUNT_DIR).toBe('/var/run/secrets/kubernetes.io/serviceaccount');
  });
});

describe('--memory-limit', () => {
  it('reads KUBE_API_AMBASSADOR_MEMORY_LIMIT, as the manifests set it from limits.memory', () => {
    expect(parseOptions([], { KUBE_API_AMBASSADOR_MEMORY_LIMIT: '201326592' })).toEqual(
      run({ memoryLimitBytes: 201_326_592 }),
    );
  });
});
