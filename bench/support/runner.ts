/**
 * What every benchmark run shares: its settings from the command line, the tools it needs, a
 * workspace (temp dir, PKI, token) that stops everything started in it, also on SIGINT or SIGTERM,
 * nginx as the upstream and the forwarders in front of it. `runComparison` runs a two-forwarder
 * comparison end to end with them: checks and times the forwarders against the direct path and
 * writes the report.
 *
 *   node bench/<comparison>.ts [--duration 5 --warmup 1 --repeats 3 --connections 16,64]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPki, type Pki } from '../../test/support/pki.ts';
import { benchDocuments, type ApiDocument } from './api-documents.ts';
import type { Comparison, StartContender } from './comparison.ts';
import { directContender, type Contender, type UpstreamAccess } from './contenders.ts';
import { checkContenders, measureAll, type Settings } from './measure.ts';
import { NGINX_BINARY, startNginx } from './nginx.ts';
import { report } from './report.ts';
import { WRK_BINARY } from './wrk.ts';

const TOKEN = 'bench-token';

/** The options every benchmark run takes, as parseArgs options with their defaults. */
export function settingsOptions(defaultConnections: string) {
  return {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    connections: { type: 'string', default: defaultConnections },
  } as const;
}

/** Settings from the values of `settingsOptions`, checked. */
export function settingsFrom(values: {
  duration: string;
  warmup: string;
  repeats: string;
  connections: string;
}): Settings {
  const settings = {
    durationSeconds: Number(values.duration),
    warmupSeconds: Number(values.warmup),
    repeats: Number(values.repeats),
    connections: values.connections.split(',').map(Number),
  };
  const counts = [settings.durationSeconds, settings.warmupSeconds, settings.repeats, ...settings.connections];
  if (!counts.every((n) => Number.isInteger(n) && n > 0 && n <= 600))
    throw new Error('options must be whole numbers from 1 to 600');
  return settings;
}

/** A program the benchmark runs, and how a fresh Debian machine gets it. */
export interface Tool {
  readonly name: string;
  /** Whether it can be run, e.g. `spawnSync(…).error === undefined`. */
  readonly present: () => boolean;
  readonly install: string;
}

export const NGINX_TOOL: Tool = {
  name: 'nginx',
  present: () => existsSync(NGINX_BINARY),
  install: 'apt-get install -y nginx',
};
export const WRK_TOOL: Tool = {
  name: 'wrk',
  present: () => spawnSync(WRK_BINARY, ['-v'], { stdio: 'ignore' }).error === undefined,
  install: 'apt-get install -y wrk',
};

/** Fails with one message naming every missing tool and how to install it. */
export function requireTools(tools: readonly Tool[]): void {
  const missing = tools.filter((tool) => !tool.present());
  if (missing.length === 0) return;
  throw new Error(
    `missing: ${missing.map((tool) => tool.name).join(', ')}. Install with:\n${missing.map((tool) => `  ${tool.install}`).join('\n')}`,
  );
}

/** The 1, 5 and 15 minute load averages, e.g. `1.86, 1.43, 1.20`. */
export function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');
}

/** A run's private directory, PKI and token, and everything it started, stopped when the run ends. */
export interface Workspace {
  readonly dir: string;
  /** The CA and the server certificate for 127.0.0.1 that the upstreams present. */
  readonly pki: Pki;
  /** The bearer token the upstreams require. */
  readonly token: string;
  /** The token and CA a forwarder needs to reach an upstream at `origin`. */
  access(origin: string): UpstreamAccess;
  /** Runs `stop` when the workspace closes, last registered first, also on SIGINT or SIGTERM. */
  defer(stop: () => Promise<void>): void;
}

/** Runs `body` in a fresh workspace and closes it afterwards, whatever happens. */
export async function withWorkspace<T>(body: (workspace: Workspace) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  const stops: (() => Promise<void>)[] = [];
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      for (const stop of stops.reverse()) {
        await stop().catch((error: unknown) => process.stderr.write(`cleanup: ${(error as Error).message}\n`));
      }
      await rm(dir, { recursive: true, force: true });
    })());
  const interrupt = (): void => void close().finally(() => process.exit(130));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const pki = await createPki(dir);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, TOKEN);
    return await body({
      dir,
      pki,
      token: TOKEN,
      access: (origin) => ({ origin, caFile: pki.caFile, token: TOKEN, tokenFile }),
      defer: (stop) => void stops.push(stop),
    });
  } finally {
    await close();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** nginx serving `documents` as the API server, stopped with the workspace. */
export async function startNginxUpstream(
  workspace: Workspace,
  documents: readonly ApiDocument[],
): Promise<UpstreamAccess> {
  const { pki } = workspace;
  const nginx = await startNginx({
    certFile: pki.certFile,
    keyFile: pki.keyFile,
    caPem: pki.caPem,
    token: workspace.token,
    documents,
  });
  workspace.defer(() => nginx.stop());
  return workspace.access(nginx.origin);
}

/** Starts one forwarder, to be stopped with the workspace. */
export async function startForwarder<C extends Contender>(
  workspace: Workspace,
  upstream: UpstreamAccess,
  start: (upstream: UpstreamAccess, home: string) => Promise<C>,
): Promise<C> {
  const forwarder = await start(upstream, workspace.dir);
  const { running } = forwarder;
  if (running !== undefined) workspace.defer(() => running.stop());
  return forwarder;
}

/** The direct path, then each forwarder in order. */
export async function startContenders(
  workspace: Workspace,
  upstream: UpstreamAccess,
  forwarders: readonly StartContender[],
): Promise<Contender[]> {
  const contenders = [directContender(upstream)];
  for (const start of forwarders) contenders.push(await startForwarder(workspace, upstream, start));
  return contenders;
}

function requireHeadToHead(comparison: Comparison, contenders: readonly Contender[]): void {
  for (const name of comparison.headToHead) {
    if (!contenders.some((c) => c.name === name))
      throw new Error(`head-to-head contender ${name} is not among the contenders`);
  }
}

export async function runComparison(comparison: Comparison): Promise<void> {
  const settings = settingsFrom(parseArgs({ options: settingsOptions('16,64') }).values);
  requireTools([NGINX_TOOL, WRK_TOOL]);
  const loadBefore = loadAverage();
  await withWorkspace(async (workspace) => {
    const documents = benchDocuments();
    const upstream = await startNginxUpstream(workspace, documents);
    const contenders = await startContenders(workspace, upstream, comparison.forwarders);
    requireHeadToHead(comparison, contenders);

    await checkContenders(contenders, documents, workspace.pki.caPem);
    const cells = await measureAll(contenders, documents, settings);
    const markdown = report({ comparison, settings, contenders, documents, cells, loadBefore });
    await mkdir(dirname(comparison.resultsFile), { recursive: true });
    await writeFile(comparison.resultsFile, markdown);
    process.stdout.write(`${markdown}\nWritten to ${comparison.resultsFile}\n`);
  });
}
