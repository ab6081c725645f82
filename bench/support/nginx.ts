/**
 * nginx as a stand-in Kubernetes API server for benchmarks: HTTPS on 127.0.0.1 with a certificate
 * from the test PKI, a bearer-token check, keep-alive, and canned JSON files. Like the API server it
 * offers HTTP/2 by ALPN, which Go clients (kubectl) take; wrk and Node's https speak HTTP/1.1. It runs in the
 * foreground as our child, with its prefix, configuration, logs and pid file in its own temp dir;
 * started by root, it runs as `nobody`, so it never holds root privileges.
 */
import { chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ApiDocument } from './api-documents.ts';
import { waitForStatus } from './http.ts';
import { findFreePort } from './ports.ts';
import { hasExited, startChild, type RunningChild } from './processes.ts';

export const NGINX_BINARY = '/usr/sbin/nginx';

export interface NginxOptions {
  /** Server certificate and key for 127.0.0.1, and the CA that signed them. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caPem: string;
  /** Requests without `Authorization: Bearer <token>` get 401. */
  readonly token: string;
  readonly documents: readonly ApiDocument[];
  /** nginx worker processes; default 1, so nginx takes at most one core of a small machine. */
  readonly workers?: number;
}

export interface NginxUpstream {
  /** https://127.0.0.1:PORT */
  readonly origin: string;
  readonly port: number;
  /** The nginx master process; its workers are its children and exit with it. */
  readonly running: RunningChild;
  /** Stops nginx and removes its directory. */
  stop(): Promise<void>;
}

const BIND_ATTEMPTS = 3;
/** Debian's `nobody:nogroup`. */
const UNPRIVILEGED_ID = 65534;

export async function startNginx(options: NginxOptions): Promise<NginxUpstream> {
  if (!/^[\w.~+/-]+$/.test(options.token)) throw new Error('the bench token must be a plain token68 string');
  const prefix = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  try {
    await prepareFiles(prefix, options);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await chownTree(prefix, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const port = await findFreePort();
      try {
        const running = await launch(prefix, port, options, asRoot);
        return {
          origin: `https://127.0.0.1:${port}`,
          port,
          running,
          stop: async () => {
            await running.stop();
            await rm(prefix, { recursive: true, force: true });
          },
        };
      } catch (error) {
        lastError = error as Error;
      }
    }
    throw lastError ?? new Error('nginx did not start');
  } catch (error) {
    await rm(prefix, { recursive: true, force: true });
    throw error;
  }
}

async function prepareFiles(prefix: string, options: NginxOptions): Promise<void> {
  await mkdir(join(prefix, 'tmp'));
  await copyFile(options.certFile, join(prefix, 'server.crt'));
  await copyFile(options.keyFile, join(prefix, 'server.key'));
  for (const document of options.documents) {
    // `try_files $uri.json` maps /a/b to www/a/b.json, so /pods and /pods/web can both exist.
    const file = join(prefix, 'www', `${document.path}.json`);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, document.body);
  }
}

async function launch(prefix: string, port: number, options: NginxOptions, asRoot: boolean): Promise<RunningChild> {
  const configFile = join(prefix, `nginx-${port}.conf`);
  await writeFile(configFile, nginxConfig(prefix, port, options));
  if (asRoot) await chown(configFile, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
  const { running } = await startChild({
    name: 'nginx',
    command: NGINX_BINARY,
    // -e: the log used before the configuration is read (the default is under /var/log).
    args: ['-p', prefix, '-c', configFile, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    ...(asRoot ? { uid: UNPRIVILEGED_ID, gid: UNPRIVILEGED_ID } : {}),
  });
  const origin = `https://127.0.0.1:${port}`;
  try {
    await waitForStatus(`${origin}${options.documents[0]?.path ?? '/'}`, 200, {
      ca: options.caPem,
      headers: { authorization: `Bearer ${options.token}` },
      gaveUp: () => (hasExited(running.child) ? `nginx exited: ${running.output()}` : undefined),
    });
  } catch (error) {
    await running.stop();
    const log = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`${(error as Error).message}\nnginx error.log:\n${log}`, { cause: error });
  }
  return running;
}

function nginxConfig(prefix: string, port: number, options: NginxOptions): string {
  const temp = join(prefix, 'tmp');
  return `worker_processes ${options.workers ?? 1};
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  types { }
  default_type application/json;
  keepalive_requests 100000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${join(prefix, 'server.crt')};
    ssl_certificate_key ${join(prefix, 'server.key')};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${join(prefix, 'www')};
    if ($http_authorization != "Bearer ${options.token}") { return 401; }
    location / { try_files $uri.json =404; }
  }
}
`;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    await chown(join(entry.parentPath, entry.name), uid, gid);
  }
}
