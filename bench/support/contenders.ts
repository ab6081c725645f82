/**
 * The paths a benchmark loads: straight to the upstream, or through a forwarder started as its own
 * process on 127.0.0.1:0 and found from the address it logs: the ambassador, http-proxy-3, or the
 * machine's `kubectl proxy`.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUDGET_ARGS, BUDGETED_NODE_FLAGS, EPHEMERAL_PORTS } from '../../test/support/ambassador.ts';
import { singleContextKubeconfig } from '../../test/support/kubectl.ts';
import { startChild, type RunningChild } from './processes.ts';
import { listeningProcess } from './sockets.ts';

export interface Contender {
  readonly name: string;
  /** http(s)://127.0.0.1:PORT, without a trailing slash. */
  readonly baseUrl: string;
  /** Headers the load generator must send (the bearer token when there is no forwarder to add it). */
  readonly headers: Readonly<Record<string, string>>;
  /** The forwarder process as started (and stopped); none for the direct path. */
  readonly running?: RunningChild;
  /** The process whose CPU time and memory are measured: the one listening on `baseUrl`'s port. */
  readonly pid?: number;
}

/** The ambassador also serves its probes (/livez, /readyz, /metrics) on a second port. */
export interface AmbassadorContender extends Contender {
  /** http://127.0.0.1:PORT of the probes listener. */
  readonly adminUrl: string;
}

export const DIRECT = 'direct';
export const KUBECTL_PROXY = 'kubectl proxy';
export const OURS = 'ours';

const AMBASSADOR_MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const HTTP_PROXY_3_FORWARDER = new URL('./http-proxy-3-forwarder.ts', import.meta.url).pathname;
const THIN_HTTP2_FORWARDER = new URL('./thin-http2-forwarder.ts', import.meta.url).pathname;
export const THIN_HTTP2 = 'thin node:http2';
/** Both Node forwarders log a JSON line holding `"proxy":"127.0.0.1:PORT"` once they serve. */
const PROXY_ADDRESS = /"proxy":"127\.0\.0\.1:(\d+)"/;
/** The whole of the ambassador's JSON log line that says where it serves, with its probes address. */
const AMBASSADOR_SERVING = /^(\{.*"proxy":"127\.0\.0\.1:\d+".*\})$/;
const KUBECTL_SERVING = /Starting to serve on 127\.0\.0\.1:(\d+)/;

export interface UpstreamAccess {
  /** https://127.0.0.1:PORT */
  readonly origin: string;
  readonly caFile: string;
  readonly token: string;
  readonly tokenFile: string;
}

export function directContender(upstream: UpstreamAccess): Contender {
  return { name: DIRECT, baseUrl: upstream.origin, headers: { authorization: `Bearer ${upstream.token}` } };
}

export interface AmbassadorOptions {
  /** The contender's name in progress lines and tables; default `ours`. */
  readonly name?: string;
  /** The program Node runs: src/main.ts as `npm start` runs it (the default), or a built dist/main.js. */
  readonly entry?: string;
  /** CLI flags after the upstream and listener flags. */
  readonly args?: readonly string[];
  /** Node's flags; default BUDGETED_NODE_FLAGS. */
  readonly nodeFlags?: readonly string[];
}

/**
 * The real CLI as the image runs it in the manifests' memory limit (BUDGETED_NODE_FLAGS and
 * --memory-limit), with its defaults unless `args` says otherwise (filter on, metrics on, log level
 * info, which logs nothing per request).
 * `home` becomes $HOME so no kubeconfig of this machine is read.
 */
export async function startAmbassador(
  upstream: UpstreamAccess,
  home: string,
  options: AmbassadorOptions = {},
): Promise<AmbassadorContender> {
  const name = options.name ?? OURS;
  const { running, ready } = await startChild({
    name,
    command: process.execPath,
    args: [
      ...(options.nodeFlags ?? BUDGETED_NODE_FLAGS),
      options.entry ?? AMBASSADOR_MAIN,
      '--server',
      upstream.origin,
      '--certificate-authority',
      upstream.caFile,
      '--token-file',
      upstream.tokenFile,
      ...EPHEMERAL_PORTS,
      '--log-level',
      'info',
      ...BUDGET_ARGS,
      ...(options.args ?? []),
    ],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
    readyPattern: AMBASSADOR_SERVING,
  });
  const serving = JSON.parse(ready) as { proxy: string; probes: string };
  return {
    name,
    baseUrl: `http://${serving.proxy}`,
    adminUrl: `http://${serving.probes}`,
    headers: {},
    running,
    pid: running.pid,
  };
}

export function startHttpProxy3(upstream: UpstreamAccess): Promise<Contender> {
  return startMinimalForwarder('http-proxy-3', HTTP_PROXY_3_FORWARDER, upstream);
}

/** The floor: a plain node:http server forwarding over one node:http2 session, doing nothing else. */
export function startThinHttp2(upstream: UpstreamAccess): Promise<Contender> {
  return startMinimalForwarder(THIN_HTTP2, THIN_HTTP2_FORWARDER, upstream);
}

/** A comparison forwarder script taking --target, --ca and --token, run with the project's Node. */
async function startMinimalForwarder(name: string, script: string, upstream: UpstreamAccess): Promise<Contender> {
  const { running, ready } = await startChild({
    name,
    command: process.execPath,
    args: [script, '--target', upstream.origin, '--ca', upstream.caFile, '--token', upstream.token],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    readyPattern: PROXY_ADDRESS,
  });
  return { name, baseUrl: `http://127.0.0.1:${ready}`, headers: {}, running, pid: running.pid };
}

/**
 * `kubectl proxy --port=0` as a user runs it, with the `kubectl` found on PATH and its default
 * filters (--accept-hosts, --reject-paths), on a kubeconfig holding only the upstream, its CA and
 * the token, under a fresh $HOME: no kubeconfig of this machine is read. The machine image's
 * kubectl is a dispatcher that asks the server's /version and runs the matching kubectl.1.xx; the
 * process measured is whichever one listens on the port.
 */
export async function startKubectlProxy(upstream: UpstreamAccess, home: string): Promise<Contender> {
  const kubectlHome = await mkdtemp(join(home, 'kubectl-'));
  const kubeconfig = join(kubectlHome, 'kubeconfig');
  await writeFile(
    kubeconfig,
    singleContextKubeconfig(
      { server: upstream.origin, 'certificate-authority': upstream.caFile },
      { token: upstream.token },
    ),
  );
  const { running, ready } = await startChild({
    name: KUBECTL_PROXY,
    command: 'kubectl',
    args: ['proxy', '--port=0'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: kubectlHome, KUBECONFIG: kubeconfig },
    readyPattern: KUBECTL_SERVING,
  });
  const port = Number(ready);
  return {
    name: KUBECTL_PROXY,
    baseUrl: `http://127.0.0.1:${port}`,
    headers: {},
    running,
    pid: listeningProcess(port, running.pid),
  };
}

/** The program a process runs and, for kubectl, its version: `/usr/lib/…/kubectl.1.33 (v1.33.1)`. */
export function kubectlProgram(pid: number): string {
  const program = readlinkSync(`/proc/${pid}/exe`);
  const output = execFileSync(program, ['version', '--client'], {
    encoding: 'utf8',
    timeout: 10_000,
    env: { PATH: '/usr/bin:/bin' },
  });
  const version = /Client Version: (\S+)/.exec(output)?.[1] ?? 'unknown version';
  return `${program} (${version})`;
}
