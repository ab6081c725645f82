import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SERVICE_ACCOUNT_DIR,
  envName,
  parseDuration,
  parseMemoryLimit,
  parseOptions,
} from '../../src/config/options.ts';
import type { OptionName, Options, OptionsParse } from '../../src/config/options.ts';

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULTS: Options = {
  address: '127.0.0.1',
  port: 8001,
  'unix-socket': '',
  'api-prefix': '/',
  'request-header-timeout': 30_000,
  'request-body-timeout': 30_000,
  'max-requests-in-flight': 0,
  'max-long-running-requests': 0,
  'max-qps': 0,
  'max-burst': 10,
  'accept-hosts': [/^localhost$/, /^127\.0\.0\.1$/, /^\[::1\]$/],
  'accept-paths': [/^.*/],
  'reject-paths': [/^\/api\/.*\/pods\/.*\/exec/, /^\/api\/.*\/pods\/.*\/attach/],
  'reject-methods': [/^$/],
  'disable-filter': false,
  policy: '',
  'policy-mode': 'enforce',
  'policy-reload-interval': 10_000,
  'audit-level': 'Metadata',
  'audit-log-path': '-',
  'audit-policy': '',
  'audit-max-body-bytes': 65_536,
  server: '',
  'certificate-authority': '',
  'token-file': '',
  'tls-server-name': '',
  'service-account-dir': '/var/run/secrets/kubernetes.io/serviceaccount',
  kubeconfig: '',
  context: '',
  'credential-refresh-interval': 60_000,
  'upstream-timeout': 70_000,
  keepalive: 30_000,
  'upstream-protocol': 'auto',
  'admin-address': '0.0.0.0',
  'admin-port': 8002,
  'disable-metrics': false,
  'tracing-endpoint': '',
  'tracing-sampling-rate-per-million': 0,
  'memory-limit': undefined,
  'shutdown-grace-period': 20_000,
  'log-level': 'info',
};

function run(overrides: Partial<Options>, explicit: readonly OptionName[]): OptionsParse {
  return { kind: 'run', options: { ...DEFAULTS, ...overrides }, explicit: new Set(explicit) };
}

function invalid(...problems: string[]): OptionsParse {
  return { kind: 'invalid', problems };
}

describe('parseOptions: defaults, flags, environment', () => {
  it.each<[string, readonly string[], Env, OptionsParse]>([
    ['defaults', [], {}, run({}, [])],
    [
      'defaults ignore unrelated variables',
      [],
      { HOME: '/root', PATH: '/bin', KUBERNETES_SERVICE_HOST: '10.96.0.1' },
      run({}, []),
    ],
    ['--flag value', ['--port', '9000'], {}, run({ port: 9000 }, ['port'])],
    ['--flag=value', ['--port=9000'], {}, run({ port: 9000 }, ['port'])],
    ['-p value', ['-p', '9000'], {}, run({ port: 9000 }, ['port'])],
    ['-p=value', ['-p=9000'], {}, run({ port: 9000 }, ['port'])],
    ['port 0 picks a free port', ['--port', '0'], {}, run({ port: 0 }, ['port'])],
    ['port 65535', ['--port', '65535'], {}, run({ port: 65_535 }, ['port'])],
    ['-u', ['-u', '/run/kube.sock'], {}, run({ 'unix-socket': '/run/kube.sock' }, ['unix-socket'])],
    ['a value that looks like a flag', ['--context', '--weird'], {}, run({ context: '--weird' }, ['context'])],
    ['a value with "="', ['--tls-server-name=a=b'], {}, run({ 'tls-server-name': 'a=b' }, ['tls-server-name'])],
    ['the last flag wins', ['--port', '1', '--port', '2'], {}, run({ port: 2 }, ['port'])],
    ['IPv6 address', ['--address', '::1'], {}, run({ address: '::1' }, ['address'])],
    [
      '--api-prefix gets a trailing slash',
      ['--api-prefix', '/custom'],
      {},
      run({ 'api-prefix': '/custom/' }, ['api-prefix']),
    ],
    [
      '--api-prefix already ending in /',
      ['--api-prefix=/custom/'],
      {},
      run({ 'api-prefix': '/custom/' }, ['api-prefix']),
    ],
    ['--disable-filter switch', ['--disable-filter'], {}, run({ 'disable-filter': true }, ['disable-filter'])],
    ['--disable-filter=false', ['--disable-filter=false'], {}, run({ 'disable-filter': false }, ['disable-filter'])],
    ['--disable-filter=1', ['--disable-filter=1'], {}, run({ 'disable-filter': true }, ['disable-filter'])],
    [
      'patterns split on commas',
      ['--accept-hosts', '^a$,^b\\.c$'],
      {},
      run({ 'accept-hosts': [/^a$/, /^b\.c$/] }, ['accept-hosts']),
    ],
    ['empty patterns mean none', ['--reject-paths='], {}, run({ 'reject-paths': [] }, ['reject-paths'])],
    ['https server', ['--server', 'https://10.96.0.1:443'], {}, run({ server: 'https://10.96.0.1:443' }, ['server'])],
    [
      'durations',
      ['--upstream-timeout', '1m30s', '--keepalive=500ms', '--shutdown-grace-period', '0'],
      {},
      run({ 'upstream-timeout': 90_000, keepalive: 500, 'shutdown-grace-period': 0 }, [
        'upstream-timeout',
        'keepalive',
        'shutdown-grace-period',
      ]),
    ],
    ['log level', ['--log-level', 'debug'], {}, run({ 'log-level': 'debug' }, ['log-level'])],
    [
      'body timeout',
      ['--request-body-timeout', '2m'],
      {},
      run({ 'request-body-timeout': 120_000 }, ['request-body-timeout']),
    ],
    [
      'body timeout from the environment',
      [],
      { KUBE_API_AMBASSADOR_REQUEST_BODY_TIMEOUT: '500ms' },
      run({ 'request-body-timeout': 500 }, ['request-body-timeout']),
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
      run(
        {
          kubeconfig: '/k',
          context: 'ctx',
          'token-file': '/t',
          'certificate-authority': '/ca',
          'service-account-dir': '/sa',
        },
        ['certificate-authority', 'token-file', 'service-account-dir', 'kubeconfig', 'context'],
      ),
    ],
    ['environment variable', [], { KUBE_API_AMBASSADOR_PORT: '9000' }, run({ port: 9000 }, ['port'])],
    [
      'environment switch',
      [],
      { KUBE_API_AMBASSADOR_DISABLE_FILTER: 'true' },
      run({ 'disable-filter': true }, ['disable-filter']),
    ],
    [
      'environment with dashes as underscores',
      [],
      { KUBE_API_AMBASSADOR_ADMIN_PORT: '9100', KUBE_API_AMBASSADOR_UPSTREAM_TIMEOUT: '2m' },
      run({ 'admin-port': 9100, 'upstream-timeout': 120_000 }, ['upstream-timeout', 'admin-port']),
    ],
    [
      'flags win over the environment',
      ['--port', '9000'],
      { KUBE_API_AMBASSADOR_PORT: '7000', KUBE_API_AMBASSADOR_LOG_LEVEL: 'warn' },
      run({ port: 9000, 'log-level': 'warn' }, ['port', 'log-level']),
    ],
    ['an undefined variable is absent', [], { KUBE_API_AMBASSADOR_PORT: undefined }, run({}, [])],
    ['an empty variable is a value', [], { KUBE_API_AMBASSADOR_CONTEXT: '' }, run({ context: '' }, ['context'])],
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
      run({}, []),
    ],
    [
      'tracing endpoint',
      ['--tracing-endpoint', 'http://127.0.0.1:4318/v1/traces'],
      {},
      run({ 'tracing-endpoint': 'http://127.0.0.1:4318/v1/traces' }, ['tracing-endpoint']),
    ],
    [
      'tracing over https',
      [],
      { KUBE_API_AMBASSADOR_TRACING_ENDPOINT: 'https://collector:4318/v1/traces' },
      run({ 'tracing-endpoint': 'https://collector:4318/v1/traces' }, ['tracing-endpoint']),
    ],
    [
      'sampling every request',
      ['--tracing-sampling-rate-per-million', '1000000'],
      {},
      run({ 'tracing-sampling-rate-per-million': 1_000_000 }, ['tracing-sampling-rate-per-million']),
    ],
    [
      'sampling one in ten thousand',
      [],
      { KUBE_API_AMBASSADOR_TRACING_SAMPLING_RATE_PER_MILLION: '100' },
      run({ 'tracing-sampling-rate-per-million': 100 }, ['tracing-sampling-rate-per-million']),
    ],
    [
      'a service link next to a real option',
      [],
      { KUBE_API_AMBASSADOR_PORT: 'tcp://10.96.0.5:8001', KUBE_API_AMBASSADOR_ADMIN_PORT: '9100' },
      run({ 'admin-port': 9100 }, ['admin-port']),
    ],
  ])('%s', (_name, argv, env, expected) => {
    expect(parseOptions(argv, env)).toEqual(expected);
  });
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
    [
      'a valid flag hides a bad variable',
      ['--port', '9000'],
      { KUBE_API_AMBASSADOR_PORT: 'abc' },
      run({ port: 9000 }, ['port']),
    ],
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
  it.each<[OptionName, string]>([
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

describe('parseDuration (Go time.ParseDuration syntax, in milliseconds)', () => {
  const INVALID = { problem: 'must be a duration such as 500ms, 30s, 1m or 1h30m' };
  it.each<[string, ReturnType<typeof parseDuration>]>([
    ['0', { value: 0 }],
    ['0s', { value: 0 }],
    ['500ms', { value: 500 }],
    ['30s', { value: 30_000 }],
    ['1m', { value: 60_000 }],
    ['1m30s', { value: 90_000 }],
    ['1h30m', { value: 5_400_000 }],
    ['2h', { value: 7_200_000 }],
    ['1h2m3s4ms', { value: 3_723_004 }],
    ['1.5s', { value: 1_500 }],
    ['0.5m', { value: 30_000 }],
    ['1s500ms', { value: 1_500 }],
    ['1500ms', { value: 1_500 }],
    ['100ns', { value: 0 }],
    ['1500us', { value: 2 }],
    ['1500µs', { value: 2 }],
    ['.5s', { value: 500 }],
    ['1.s', { value: 1_000 }],
    ['+1s', { value: 1_000 }],
    ['-1s', INVALID],
    ['5q', INVALID],
    ['', INVALID],
    ['1x', INVALID],
    ['1', INVALID],
    ['00', INVALID],
    ['s', INVALID],
    ['ms', INVALID],
    ['1m30', INVALID],
    ['1.5.5s', INVALID],
    [' 1s', INVALID],
    ['1s ', INVALID],
    ['1 s', INVALID],
    ['1S', INVALID],
    ['1d', INVALID],
  ])('%j', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });
});

describe("parseMemoryLimit (the Downward API's bytes, or a Kubernetes quantity)", () => {
  it.each<[string, number | undefined]>([
    ['', undefined],
    ['0', 0],
    ['201326592', 201_326_592],
    ['192Mi', 192 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['512Ki', 512 * 1024],
    ['200M', 200_000_000],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['2k', 2000],
  ])('%j is %j bytes', (text, bytes) => {
    expect(parseMemoryLimit(text)).toEqual({ value: bytes });
  });

  it.each(['192MiB', '-1', 'Mi', '1e9', '192 Mi', '0x10', '1m'])('%j is refused', (text) => {
    expect(parseMemoryLimit(text)).toHaveProperty('problem');
  });

  it('reads KUBE_API_AMBASSADOR_MEMORY_LIMIT, as the manifests set it from limits.memory', () => {
    expect(parseOptions([], { KUBE_API_AMBASSADOR_MEMORY_LIMIT: '201326592' })).toEqual(
      run({ 'memory-limit': 201_326_592 }, ['memory-limit']),
    );
  });
});
