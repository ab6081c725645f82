/**
 * The Python and JavaScript snippets of docs/clients.md, run as they are shown: each is a file under
 * docs/snippets/ that the guide includes verbatim (checked first), run here with the Debian
 * python3-kubernetes client and the project's own Node against a real ambassador in front of the
 * test API server. The snippets read the ambassador's URL from KUBERNETES_API.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  cleanEnv,
  startAmbassador,
  startClusterAndAmbassador,
  stopClusterAndAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import type { TestCluster } from '../support/cluster.ts';
import { release } from '../support/teardown.ts';

const GUIDE = new URL('../../docs/clients.md', import.meta.url).pathname;
const SNIPPET_DIR = new URL('../../docs/snippets/', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';

/** Every snippet file, by its path under docs/snippets/. */
const Snippet = {
  pythonListCreate: 'python/list_create.py',
  pythonWatch: 'python/watch_pods.py',
  pythonExec: 'python/exec_echo.py',
  nodeListCreate: 'javascript/list-create.mjs',
  nodeWatch: 'javascript/watch-pods.mjs',
  nodeExec: 'javascript/exec-echo.mjs',
} as const;
type SnippetFile = (typeof Snippet)[keyof typeof Snippet];

interface SnippetResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunningSnippet {
  /** Resolves once stdout has a line exactly equal to `line`; rejects after the timeout. */
  waitForLine(line: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the snippet exits by itself; rejects (and kills it) after the timeout. */
  finished(timeoutMs?: number): Promise<SnippetResult>;
  /** Ends the snippet (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

let cluster: TestCluster;
/** kubectl proxy's defaults: exec and attach refused. */
let ambassador: RunningAmbassador;
/** `--reject-paths ''`: exec allowed. */
let execAmbassador: RunningAmbassador;

beforeAll(async () => {
  ({ cluster, ambassador } = await startClusterAndAmbassador());
  execAmbassador = await startAmbassador([...cluster.ambassadorArgs, '--reject-paths', '']);
  cluster.api.putPod('default', 'web');
});

afterAll(async () => {
  await release(execAmbassador);
  await stopClusterAndAmbassador({ cluster, ambassador });
});

function interpreterFor(file: SnippetFile): { command: string; args: string[] } {
  const path = join(SNIPPET_DIR, file);
  return file.endsWith('.py') ? { command: PYTHON, args: ['-u', path] } : { command: process.execPath, args: [path] };
}

/** Starts a snippet with nothing from this machine in its environment but PATH and KUBERNETES_API. */
function startSnippet(file: SnippetFile, apiUrl: string): RunningSnippet {
  const { command, args } = interpreterFor(file);
  const child = spawn(command, args, { env: cleanEnv({ KUBERNETES_API: apiUrl }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lineWaiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const check of lineWaiters) check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<SnippetResult>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  const describeOutput = () => `${file}: stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`;

  return {
    waitForLine(line, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!stdout.split('\n').includes(line)) return;
          settle();
          resolve();
        };
        const timer = setTimeout(() => {
          settle();
          reject(new Error(`no line ${JSON.stringify(line)} within ${timeoutMs}ms; ${describeOutput()}`));
        }, timeoutMs);
        const onExit = () => {
          settle();
          reject(new Error(`exited before printing ${JSON.stringify(line)}; ${describeOutput()}`));
        };
        const settle = () => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          child.off('close', onExit);
        };
        lineWaiters.add(check);
        child.once('close', onExit);
        check();
      });
    },
    async finished(timeoutMs = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`did not finish within ${timeoutMs}ms; ${describeOutput()}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function runSnippet(file: SnippetFile, apiUrl: string): Promise<SnippetResult> {
  return startSnippet(file, apiUrl).finished();
}

/** `METHOD target` of every request the API server received from index `from` on. */
function requestsSince(from: number): string[] {
  return cluster.api.requests.slice(from).map((request) => `${request.method} ${request.url}`);
}

/** The fenced blocks of the guide that follow an `<!-- snippet: FILE -->` marker, by FILE. */
function includedSnippets(markdown: string): Map<string, { language: string; code: string }> {
  const blocks = new Map<string, { language: string; code: string }>();
  for (const match of markdown.matchAll(/^<!-- snippet: (\S+) -->\n```(\w+)\n([\s\S]*?)^```$/gm)) {
    blocks.set(match[1] ?? '', { language: match[2] ?? '', code: match[3] ?? '' });
  }
  return blocks;
}

async function snippetFilesOnDisk(): Promise<string[]> {
  const entries = await readdir(SNIPPET_DIR, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(SNIPPET_DIR, join(entry.parentPath, entry.name)));
}

/**
 * Runs a watch snippet: it must print the current pods (so the watch is open), then a pod created
 * and deleted while it waits.
 */
async function watchWithSnippet(snippet: SnippetFile, podName: string): Promise<void> {
  const watcher = startSnippet(snippet, ambassador.url);
  try {
    await watcher.waitForLine('ADDED web');
    cluster.api.putPod('default', podName);
    await watcher.waitForLine(`ADDED ${podName}`);
    cluster.api.deletePod('default', podName);
    await watcher.waitForLine(`DELETED ${podName}`);
  } finally {
    await watcher.stop();
  }
}

describe('docs/clients.md', () => {
  it('shows every snippet file verbatim, and every file is run below', async () => {
    const shown = includedSnippets(await readFile(GUIDE, 'utf8'));
    const files = Object.values(Snippet);
    expect([...shown.keys()].sort()).toEqual([...files].sort());
    expect((await snippetFilesOnDisk()).sort()).toEqual([...files].sort());
    for (const file of files) {
      expect(shown.get(file), file).toEqual({
        language: file.endsWith('.py') ? 'python' : 'js',
        code: await readFile(join(SNIPPET_DIR, file), 'utf8'),
      });
    }
  });
});

describe('the Python snippets (python3-kubernetes)', () => {
  it('lists and creates pods with the ambassador adding the credentials', async () => {
    const from = cluster.api.requests.length;
    expect(await runSnippet(Snippet.pythonListCreate, ambassador.url)).toEqual({
      code: 0,
      stdout: 'web\ncreated made-by-python\n',
      stderr: '',
    });
    expect(requestsSince(from)).toEqual([
      'GET /api/v1/namespaces/default/pods',
      'POST /api/v1/namespaces/default/pods',
    ]);
    expect(cluster.api.requests.slice(from).map((request) => request.headers.authorization)).toEqual([
      'Bearer first-token',
      'Bearer first-token',
    ]);
  });

  it('watches: prints the events of pods created and deleted while it waits', async () => {
    const from = cluster.api.requests.length;
    await watchWithSnippet(Snippet.pythonWatch, 'watched-by-python');
    expect(requestsSince(from)).toEqual(['GET /api/v1/namespaces/default/pods?watch=True']);
  });

  it('execs over WebSocket through an ambassador that allows exec', async () => {
    const from = cluster.api.requests.length;
    expect(await runSnippet(Snippet.pythonExec, execAmbassador.url)).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
    expect(requestsSince(from)).toEqual([
      'GET /api/v1/namespaces/default/pods/web/exec?command=echo&command=hi&stderr=True&stdin=False&stdout=True&tty=False',
    ]);
    expect(cluster.api.requests[from]).toMatchObject({
      upgrade: true,
      headers: { authorization: 'Bearer first-token' },
    });
  });

  // Regression: the Python client resets the connection after reading the 403, which crashed the
  // ambassador while upgrade sockets had no 'error' listener.
  it('gets a 403 for exec from an ambassador with the default --reject-paths, which keeps serving', async () => {
    const from = cluster.api.requests.length;
    const result = await runSnippet(Snippet.pythonExec, ambassador.url);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Handshake status 403 Forbidden');
    expect(requestsSince(from)).toEqual([]);
    expect((await fetch(`${ambassador.url}/version`)).status).toBe(200);
  });
});

describe('the JavaScript snippets (@kubernetes/client-node)', () => {
  it('lists and creates pods with the ambassador adding the credentials', async () => {
    const from = cluster.api.requests.length;
    const result = await runSnippet(Snippet.nodeListCreate, ambassador.url);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['web', 'created made-by-node']));
    expect(requestsSince(from)).toEqual([
      'GET /api/v1/namespaces/default/pods',
      'POST /api/v1/namespaces/default/pods',
    ]);
    expect(cluster.api.requests.slice(from).map((request) => request.headers.authorization)).toEqual([
      'Bearer first-token',
      'Bearer first-token',
    ]);
  });

  it('watches: prints the events of pods created and deleted while it waits', async () => {
    const from = cluster.api.requests.length;
    await watchWithSnippet(Snippet.nodeWatch, 'watched-by-node');
    expect(requestsSince(from)).toEqual(['GET /api/v1/namespaces/default/pods?watch=true']);
  });

  it('execs over WebSocket through an ambassador that allows exec', async () => {
    const from = cluster.api.requests.length;
    expect(await runSnippet(Snippet.nodeExec, execAmbassador.url)).toEqual({
      code: 0,
      stdout: 'hi\n',
      stderr: 'exec Success\n',
    });
    expect(requestsSince(from)).toEqual([
      'GET /api/v1/namespaces/default/pods/web/exec?stdout=true&stderr=true&stdin=false&tty=false&command=echo&command=hi&container=main',
    ]);
    expect(cluster.api.requests[from]).toMatchObject({
      upgrade: true,
      headers: { authorization: 'Bearer first-token' },
    });
  });

  it('gets a 403 for exec from an ambassador with the default --reject-paths', async () => {
    const from = cluster.api.requests.length;
    const result = await runSnippet(Snippet.nodeExec, ambassador.url);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Unexpected server response: 403');
    expect(requestsSince(from)).toEqual([]);
    expect((await fetch(`${ambassador.url}/version`)).status).toBe(200);
  });
});

describe("what the guide says about client-node's in-cluster shortcut", () => {
  /** Lays out a pod's service-account files under `root`, as loadFromCluster(root) reads them. */
  async function fakePodRoot(root: string): Promise<void> {
    const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'ca.crt'), cluster.pki.caPem);
    await writeFile(join(dir, 'token'), 'app-token');
    await writeFile(join(dir, 'namespace'), 'default');
  }

  /** Runs `load` with the in-cluster variables set, restoring them after. */
  function withServiceEnv(host: string, port: string, load: () => void): void {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', host);
    vi.stubEnv('KUBERNETES_SERVICE_PORT', port);
    try {
      load();
    } finally {
      vi.unstubAllEnvs();
    }
  }

  it('loadFromCluster() switches to http for port 8001 but keeps verifying TLS, so every request fails', async () => {
    const root = join(cluster.dir, 'pod-root');
    await fakePodRoot(root);
    const kc = new KubeConfig();
    withServiceEnv('127.0.0.1', '8001', () => kc.loadFromCluster(root));
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'http://127.0.0.1:8001', skipTLSVerify: false });
    await expect(kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' })).rejects.toThrow(
      'HTTP protocol is not allowed when skipTLSVerify is not set or false',
    );
  });
});
