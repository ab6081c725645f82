/**
 * Which process owns a TCP socket, from /proc: the kernel's socket tables (/proc/PID/net/tcp and
 * tcp6, one line per socket with its ports, state and inode) joined with a process's open file
 * descriptors (/proc/PID/fd/N → `socket:[inode]`).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

interface TcpSocket {
  readonly localPort: number;
  readonly remotePort: number;
  /** The kernel's state number: 1 established, 10 listening. */
  readonly state: number;
  readonly inode: string;
}

const ESTABLISHED = 0x01;
const LISTENING = 0x0a;

/** The TCP sockets of the network namespace `pid` is in, IPv4 and IPv6. */
function tcpSockets(pid: number): TcpSocket[] {
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .flatMap((line) => {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
        const fields = line.trim().split(/\s+/);
        const [local, remote, state, inode] = [fields[1], fields[2], fields[3], fields[9]];
        if (local === undefined || remote === undefined || state === undefined || inode === undefined) return [];
        const port = (address: string): number => parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
        return [{ localPort: port(local), remotePort: port(remote), state: parseInt(state, 16), inode }];
      }),
  );
}

/** Inodes of the sockets a process holds open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // The descriptor was closed between listing and reading it.
    }
  }
  return inodes;
}

/** `pid` and every process descended from it. */
function withDescendants(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
  );
  return [pid, ...children.flatMap(withDescendants)];
}

/**
 * The process, among `pid` and its descendants, that listens on TCP `port`: the one to measure
 * when a launcher may exec the server itself (same PID) or start it as a child.
 */
export function listeningProcess(port: number, pid: number): number {
  const listener = tcpSockets(pid).find((s) => s.state === LISTENING && s.localPort === port);
  if (listener === undefined) throw new Error(`nothing listens on port ${port}`);
  const owner = withDescendants(pid).find((candidate) => socketInodes(candidate).has(listener.inode));
  if (owner === undefined) throw new Error(`port ${port} is not held by process ${pid} or its descendants`);
  return owner;
}

/** How many established TCP connections process `pid` holds to `remotePort` (an upstream). */
export function connectionsTo(pid: number, remotePort: number): number {
  const inodes = socketInodes(pid);
  return tcpSockets(pid).filter((s) => s.state === ESTABLISHED && s.remotePort === remotePort && inodes.has(s.inode))
    .length;
}
