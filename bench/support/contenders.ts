/**
 * The paths a benchmark loads: straight to the upstream, or through a forwarder started as its own
 * process on 127.0.0.1:0 and found from the address it logs.
 */
import { NODE_FLAGS } from '../../test/support/ambassador.ts';
import { startChild, type RunningChild } from './processes.ts';

export interface Contender {
  readonly name: string;
  /** http(s)://127.0.0.1:PORT, without a trailing slash. */
  readonly baseUrl: string;
  /** Headers the load generator must send (the bearer token when there is no forwarder to add it). */
  readonly headers: Readonly<Record<string, string>>;
  /** The forwarder process, whose CPU time is measured; none for the direct path. */
  readonly running?: RunningChild;
}

const AMBASSADOR_MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const HTTP_PROXY_3_FORWARDER = new URL('./http-proxy-3-forwarder.ts', import.meta.url).pathname;
/** Both forwarders log a JSON line holding `"proxy":"127.0.0.1:PORT"` once they serve. */
const PROXY_ADDRESS = /"proxy":"127\.0\.0\.1:(\d+)"/;

export interface UpstreamAccess {
  /** https://127.0.0.1:PORT */
  readonly origin: string;
  readonly caFile: string;
  readonly token: string;
  readonly tokenFile: string;
}

export function directContender(upstream: UpstreamAccess): Contender {
  return { name: 'direct', baseUrl: upstream.origin, headers: { authorization: `Bearer ${upstream.token}` } };
}

export interface AmbassadorOptions {
  /** The contender's name in progress lines and tables; default `ours`. */
  readonly name?: string;
  /** CLI flags after the upstream and listener flags. */
  readonly args?: readonly string[];
}

/**
 * The real CLI as it ships (the Node flags of `npm start`), with its defaults unless `args` says
 * otherwise (filter on, metrics on, log level info, which logs nothing per request).
 * `home` becomes $HOME so no kubeconfig of this machine is read.
 */
export async function startAmbassador(upstream: UpstreamAccess, home: string, options: AmbassadorOptions = {}): Promise<Contender> {
  const name = options.name ?? 'ours';
  const { running, ready } = await startChild({
    name,
    command: process.execPath,
    args: [
      ...NODE_FLAGS,
      AMBASSADOR_MAIN,
      '--server', upstream.origin,
      '--certificate-authority', upstream.caFile,
      '--token-file', upstream.tokenFile,
      '--port', '0',
      '--admin-address', '127.0.0.1',
      '--admin-port', '0',
      '--log-level', 'info',
      ...(options.args ?? []),
    ],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
    readyPattern: PROXY_ADDRESS,
  });
  return { name, baseUrl: `http://127.0.0.1:${ready}`, headers: {}, running };
}

export async function startHttpProxy3(upstream: UpstreamAccess): Promise<Contender> {
  const { running, ready } = await startChild({
    name: 'http-proxy-3',
    command: process.execPath,
    args: [HTTP_PROXY_3_FORWARDER, '--target', upstream.origin, '--ca', upstream.caFile, '--token', upstream.token],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    readyPattern: PROXY_ADDRESS,
  });
  return { name: 'http-proxy-3', baseUrl: `http://127.0.0.1:${ready}`, headers: {}, running };
}
