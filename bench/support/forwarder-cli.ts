/**
 * What the comparison forwarders share as programs: their arguments (--target URL --ca FILE
 * --token TOKEN), and serving on 127.0.0.1:0, printing {"proxy":"127.0.0.1:PORT"} once they do.
 */
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';

export interface ForwarderArgs {
  readonly target: string;
  readonly ca: string;
  readonly token: string;
}

/** The arguments, or exit 2 with `usage`. */
export function forwarderArgs(program: string): ForwarderArgs {
  const { values } = parseArgs({
    options: { target: { type: 'string' }, ca: { type: 'string' }, token: { type: 'string' } },
  });
  const { target, ca, token } = values;
  if (target === undefined || ca === undefined || token === undefined) {
    process.stderr.write(`usage: ${program} --target URL --ca FILE --token TOKEN\n`);
    process.exit(2);
  }
  return { target, ca, token };
}

/** Listens on 127.0.0.1:0, says where, and on SIGTERM or SIGINT runs `stop` and exits 0. */
export function serveForwarder(server: Server, stop: () => void): void {
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ proxy: `127.0.0.1:${port}` })}\n`);
  });
  const shutdown = (): void => {
    server.close();
    stop();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
