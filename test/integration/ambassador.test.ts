/**
 * createAmbassador in this process: it starts, serves and stops without the CLI, and every problem
 * before listening is a StartupError that says whether the configuration or the listener is at fault.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAmbassador } from '../../src/app/ambassador.ts';
import { StartupError } from '../../src/app/startup-error.ts';
import type { Config } from '../../src/config/options.ts';
import { parseOptions } from '../../src/config/parse-options.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { TEST_ENVIRONMENT } from '../support/environment.ts';
import { send } from '../support/http.ts';

let cluster: TestCluster;
let logLines: string[];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  }),
);

beforeEach(async () => {
  cluster = await startTestCluster();
  logLines = [];
});

afterEach(async () => {
  await cluster.close();
});

/** The test cluster's flags, listeners on free loopback ports, then `flags`. */
function config(...flags: string[]): Config {
  return configWith(['--port', '0', ...flags]);
}

function configWith(flags: readonly string[]): Config {
  const parsed = parseOptions(
    [...cluster.ambassadorArgs, '--admin-address', '127.0.0.1', '--admin-port', '0', ...flags],
    {},
  );
  if (parsed.kind !== 'run') throw new Error(`test options refused: ${JSON.stringify(parsed)}`);
  return parsed.config;
}

async function startupError(promise: Promise<unknown>): Promise<StartupError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof StartupError)) throw new Error(`expected a StartupError, got ${String(error)}`);
  return error;
}

describe('createAmbassador', () => {
  it('starts, serves the API, warns as main.ts would, and stops', async () => {
    const ambassador = await createAmbassador(config('--disable-filter'), TEST_ENVIRONMENT, log);
    const { proxy, admin } = await ambassador.start();
    expect(proxy).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(admin).toMatch(/^127\.0\.0\.1:\d+$/);
    const port = Number(proxy.split(':').pop());
    expect((await send(port, 'GET', '/api/v1/namespaces/default/pods')).status).toBe(200);
    expect(logLines.some((line) => line.includes('the request filter is disabled'))).toBe(true);
    await ambassador.stop('SIGTERM');
    expect(logLines.at(-1)).toContain('"msg":"stopped"');
    await expect(send(port, 'GET', '/api/v1/namespaces/default/pods')).rejects.toThrow();
  });

  it('cannot load the credentials: a configuration problem naming where they were looked for', async () => {
    const missing = join(cluster.dir, 'absent');
    const error = await startupError(createAmbassador(config('--token-file', missing), TEST_ENVIRONMENT, log));
    expect(error.stage).toBe('configuration');
    expect(error.problems).toHaveLength(1);
    expect(error.message).toMatch(/^cannot load credentials from the --server flag \(token .*absent.*ENOENT/);
  });

  it('an invalid audit policy: every problem, under the file name', async () => {
    const file = join(cluster.dir, 'audit-policy.yaml');
    await writeFile(file, 'rules:\n  - verb: get\n  - level: Loud\n');
    const error = await startupError(createAmbassador(config('--audit-policy', file), TEST_ENVIRONMENT, log));
    expect(error.stage).toBe('configuration');
    expect(error.problems.length).toBeGreaterThan(1);
    expect(error.message).toBe(`${file}: invalid audit policy:\n${error.problems.map((p) => `  ${p}`).join('\n')}`);
  });

  it('every file that cannot be used, in one StartupError', async () => {
    const auditPolicy = join(cluster.dir, 'audit-policy.yaml');
    await writeFile(auditPolicy, 'rules: []\nextra: 1\n');
    const policy = join(cluster.dir, 'missing-policy.yaml');
    const flags = ['--token-file', join(cluster.dir, 'absent'), '--policy', policy, '--audit-policy', auditPolicy];
    const error = await startupError(createAmbassador(config(...flags), TEST_ENVIRONMENT, log));
    expect(error.stage).toBe('configuration');
    expect(error.problems).toHaveLength(3);
    expect(error.problems[0]).toMatch(/^cannot load credentials from the --server flag/);
    expect(error.problems[1]).toMatch(new RegExp(`^${policy}: `));
    expect(error.problems[2]).toMatch(new RegExp(`^${auditPolicy}: invalid audit policy:\n  `));
    expect(error.message).toBe(error.problems.join('\n'));
  });

  it('a listener that cannot listen: a listen problem, and the other listener closed again', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const takenPort = (taken.address() as AddressInfo).port;
      const socket = join(cluster.dir, 'proxy.sock');
      const ambassador = await createAmbassador(
        configWith(['--unix-socket', socket, '--admin-port', String(takenPort)]),
        TEST_ENVIRONMENT,
        log,
      );
      const error = await startupError(ambassador.start());
      expect(error.stage).toBe('listen');
      expect(error.message).toBe(
        `cannot listen for the probes and metrics on 127.0.0.1:${takenPort} (--admin-address, --admin-port): the address is in use, by another process or another ambassador`,
      );
      expect(existsSync(socket)).toBe(false);
    } finally {
      taken.close();
    }
  });
});
