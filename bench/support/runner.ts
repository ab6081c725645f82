/**
 * Runs a comparison end to end: reads the settings from the command line, starts nginx and the
 * comparison's forwarders, checks and times them against the direct path, writes the report,
 * and stops everything it started, also on SIGINT or SIGTERM.
 *
 *   node bench/<comparison>.ts [--duration 5 --warmup 1 --repeats 3 --connections 16,64]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../../test/support/pki.ts';
import { benchDocuments } from './api-documents.ts';
import type { Comparison } from './comparison.ts';
import { directContender, type Contender, type UpstreamAccess } from './contenders.ts';
import { checkContenders, measureAll, type Settings } from './measure.ts';
import { NGINX_BINARY, startNginx, type NginxUpstream } from './nginx.ts';
import { stopAll, type RunningChild } from './processes.ts';
import { report } from './report.ts';
import { WRK_BINARY } from './wrk.ts';

const TOKEN = 'bench-token';

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16,64' },
    },
  });
  const settings = {
    durationSeconds: Number(values.duration),
    warmupSeconds: Number(values.warmup),
    repeats: Number(values.repeats),
    connections: values.connections.split(',').map(Number),
  };
  const counts = [settings.durationSeconds, settings.warmupSeconds, settings.repeats, ...settings.connections];
  if (!counts.every((n) => Number.isInteger(n) && n > 0 && n <= 600)) throw new Error('options must be whole numbers from 1 to 600');
  return settings;
}

function requireTools(): void {
  if (!existsSync(NGINX_BINARY)) throw new Error(`${NGINX_BINARY} is missing: apt-get install -y nginx`);
  if (spawnSync(WRK_BINARY, ['-v'], { stdio: 'ignore' }).error !== undefined) throw new Error('wrk is missing: apt-get install -y wrk');
}

function requireHeadToHead(comparison: Comparison, contenders: readonly Contender[]): void {
  for (const name of comparison.headToHead) {
    if (!contenders.some((c) => c.name === name)) throw new Error(`head-to-head contender ${name} is not among the contenders`);
  }
}

export async function runComparison(comparison: Comparison): Promise<void> {
  const settings = readSettings();
  requireTools();
  const loadBefore = loadavg().map((n) => n.toFixed(2)).join(', ');
  const workdir = await mkdtemp(join(tmpdir(), 'bench-'));
  const children: RunningChild[] = [];
  let nginx: NginxUpstream | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await stopAll(children);
      await nginx?.stop();
      await rm(workdir, { recursive: true, force: true });
    })());
  const interrupt = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const pki = await createPki(workdir);
    const tokenFile = join(workdir, 'token');
    await writeFile(tokenFile, TOKEN);
    const documents = benchDocuments();
    nginx = await startNginx({ certFile: pki.certFile, keyFile: pki.keyFile, caPem: pki.caPem, token: TOKEN, documents });
    const upstream: UpstreamAccess = { origin: nginx.origin, caFile: pki.caFile, token: TOKEN, tokenFile };
    const contenders = [directContender(upstream)];
    for (const start of comparison.forwarders) {
      const forwarder = await start(upstream, workdir);
      if (forwarder.running) children.push(forwarder.running);
      contenders.push(forwarder);
    }
    requireHeadToHead(comparison, contenders);

    await checkContenders(contenders, documents, pki.caPem);
    const cells = await measureAll(contenders, documents, settings);
    const markdown = report({ comparison, settings, contenders, documents, cells, loadBefore });
    await mkdir(dirname(comparison.resultsFile), { recursive: true });
    await writeFile(comparison.resultsFile, markdown);
    process.stdout.write(`${markdown}\nWritten to ${comparison.resultsFile}\n`);
  } finally {
    await cleanup();
  }
}
