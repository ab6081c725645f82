import { describe, expect, it } from 'vitest';
import { describeListenFailure, type ListenTarget } from '../../src/server/listeners.ts';

function systemError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('describeListenFailure: which listener, where, the flags that move it, and why', () => {
  const proxy = { name: 'the proxy', flags: '--address, --port' };
  it.each<[ListenTarget, NodeJS.ErrnoException, string]>([
    [
      { host: '127.0.0.1', port: 8001 },
      systemError('EADDRINUSE', 'listen EADDRINUSE: address already in use 127.0.0.1:8001'),
      'cannot listen for the proxy on 127.0.0.1:8001 (--address, --port): the address is in use, by another process or another ambassador',
    ],
    [
      { host: '::1', port: 80 },
      systemError('EACCES', 'listen EACCES: permission denied ::1:80'),
      'cannot listen for the proxy on [::1]:80 (--address, --port): permission denied (ports below 1024 need privileges; a socket needs a writable folder)',
    ],
    [
      { host: '10.9.9.9', port: 8001 },
      systemError('EADDRNOTAVAIL', 'listen EADDRNOTAVAIL'),
      'cannot listen for the proxy on 10.9.9.9:8001 (--address, --port): no network interface of this machine has that address',
    ],
    [
      { socketPath: '/run/missing/a.sock' },
      systemError('ENOENT', 'listen ENOENT'),
      'cannot listen for the proxy on /run/missing/a.sock (--address, --port): the folder does not exist',
    ],
    [
      { host: '127.0.0.1', port: 1 },
      systemError('EWHATEVER', 'something odd'),
      'cannot listen for the proxy on 127.0.0.1:1 (--address, --port): something odd',
    ],
  ])('%j %s', (target, error, line) => {
    expect(describeListenFailure(proxy, target, error)).toBe(line);
  });
});
