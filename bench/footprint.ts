/**
 * How much memory and CPU the ambassador needs, as the image runs it (`node --max-semi-space-size=1
 * dist/main.js`), to size a sidecar's requests and limits:
 *
 *   npm run bench:footprint
 *
 * Builds dist/, starts the test API server on loopback and the ambassador in front of it, and reads
 * the ambassador's RSS and CPU time from /proc at start, after 2,000 requests (16 at a time), with
 * 100 watches open, and after they close. Writes bench/results/footprint.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { EPHEMERAL_PORTS, NODE_FLAGS } from '../test/support/ambassador.ts';
import { startTestCluster } from '../test/support/cluster.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const RESULTS_FILE = new URL('./results/footprint.md', import.meta.url).pathname;
const REQUESTS = 2_000;
const CONCURRENCY = 16;
const WATCHES = 100;
const CLOCK_TICKS_PER_SECOND = 100;

interface Sample {
  readonly when: string;
  readonly rssMb: number;
  readonly peakMb: number;
  readonly cpuSeconds: number;
}

function sample(pid: number, when: string): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { when, rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024, cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND };
}

function get(port: number, path: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}

/** Polls `condition` every 50 ms, for 10 s at most. */
async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited >= 10_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  const cluster = await startTestCluster();
  for (let i = 0; i < 20; i++) cluster.api.putPod('default', `pod-${i}`);
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, `${ROOT}dist/main.js`, ...cluster.ambassadorArgs, ...EPHEMERAL_PORTS, '--audit-level', 'None'],
    {
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const watches: ReturnType<typeof request>[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const proxy = /"proxy":"127\.0\.0\.1:(\d+)"/.exec(line)?.[1];
        if (proxy !== undefined) resolve(Number(proxy));
      });
      child.once('exit', (code) => reject(new Error(`the ambassador exited ${code}`)));
    });
    const pid = child.pid ?? 0;
    const samples = [sample(pid, 'serving, idle')];
    for (let sent = 0; sent < REQUESTS; sent += CONCURRENCY) {
      await Promise.all(Array.from({ length: CONCURRENCY }, () => get(port, '/api/v1/namespaces/default/pods', agent)));
    }
    samples.push(sample(pid, `after ${REQUESTS} pod lists (${CONCURRENCY} at a time)`));
    for (let i = 0; i < WATCHES; i++) {
      const watch = request({
        host: '127.0.0.1',
        port,
        path: `/api/v1/namespaces/default/pods?watch=1&w=${i}`,
        headers: { host: 'localhost' },
      });
      watch.on('error', () => undefined).end();
      watches.push(watch);
    }
    await cluster.api.waitForRequest((r) => r.url.endsWith(`w=${WATCHES - 1}`));
    await waitUntil(() => cluster.api.openWatches() >= WATCHES, 'the watches to open');
    samples.push(sample(pid, `${WATCHES} watches open`));
    for (const watch of watches) watch.destroy();
    await waitUntil(() => cluster.api.openWatches() === 0, 'the watches to close');
    samples.push(sample(pid, 'watches closed'));

    const rows = samples.map(
      (s) => `| ${s.when} | ${s.rssMb.toFixed(1)} | ${s.peakMb.toFixed(1)} | ${s.cpuSeconds.toFixed(2)} |`,
    );
    const markdown = `# Footprint of the ambassador as the image runs it

Run on ${new Date().toISOString()} with \`npm run bench:footprint\`: Node ${process.version}, \`node ${NODE_FLAGS.join(' ')} dist/main.js\`,
in front of the test API server on loopback (a namespace of 20 pods), audit off, metrics on.

| moment | RSS MB | peak RSS MB | CPU seconds so far |
| --- | --- | --- | --- |
${rows.join('\n')}
`;
    await mkdir(new URL('./results/', import.meta.url).pathname, { recursive: true });
    await writeFile(RESULTS_FILE, markdown);
    process.stdout.write(`${markdown}\nWritten to ${RESULTS_FILE}\n`);
  } finally {
    for (const watch of watches) watch.destroy();
    agent.destroy();
    child.kill('SIGTERM');
    await cluster.close();
  }
}

await main();
