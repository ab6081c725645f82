/**
 * The fake API server's streaming subresources: pods/exec, pods/attach and
 * pods/portforward, over WebSocket and over SPDY/3.1, spoken the way the API
 * server and the kubelet speak them so that the real kubectl works against it.
 *
 * The pod is a fake too: exec runs the commands of runFakeCommand, attach
 * behaves like `cat`, and every forwarded port is an echo service.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Duplex, PassThrough, Writable, finished } from 'node:stream';
import type { Readable } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { SpdySession } from './spdy.ts';
import type { SpdyStream } from './spdy.ts';

type Subresource = 'exec' | 'attach' | 'portforward';

/** Remote command protocol versions (k8s.io/apimachinery/pkg/util/remotecommand/constants.go). */
const RemoteCommand = {
  V1: 'channel.k8s.io',
  V2: 'v2.channel.k8s.io',
  V3: 'v3.channel.k8s.io',
  V4: 'v4.channel.k8s.io',
  V5: 'v5.channel.k8s.io',
} as const;
const PORT_FORWARD = 'portforward.k8s.io';
/** Port-forward tunnelled as SPDY inside WebSocket (client-go tools/portforward/tunneling_dialer.go). */
const PORT_FORWARD_TUNNEL = `SPDY/3.1+${PORT_FORWARD}`;

/** Protocols we speak, most preferred first. */
const SPDY_PROTOCOLS: Readonly<Record<Subresource, readonly string[]>> = {
  exec: [RemoteCommand.V4, RemoteCommand.V3, RemoteCommand.V2, RemoteCommand.V1],
  attach: [RemoteCommand.V4, RemoteCommand.V3, RemoteCommand.V2, RemoteCommand.V1],
  portforward: [PORT_FORWARD],
};
const WEBSOCKET_PROTOCOLS: Readonly<Record<Subresource, readonly string[]>> = {
  exec: [RemoteCommand.V5, RemoteCommand.V4, RemoteCommand.V1],
  attach: [RemoteCommand.V5, RemoteCommand.V4, RemoteCommand.V1],
  portforward: [PORT_FORWARD_TUNNEL],
};

/** The first byte of every remote command WebSocket message names its stream; v5 adds the close signal. */
const Channel = { Stdin: 0, Stdout: 1, Stderr: 2, Error: 3, Close: 255 } as const;
const NORMAL_CLOSURE = 1000;

const SUBRESOURCE_PATH = /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/(exec|attach|portforward)$/;

interface StreamingTarget {
  readonly subresource: Subresource;
  readonly query: URLSearchParams;
}

interface ExecRequest {
  readonly command: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

/** How a fake command ended: code 0, or a failure the way a container runtime describes it. */
interface ExitStatus {
  readonly code: number;
  readonly error?: string;
}

interface CommandStreams {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
}

const SUCCESS: ExitStatus = { code: 0 };

/**
 * Serves an authenticated upgrade request for pods/{name}/exec, /attach or
 * /portforward, over WebSocket (GET, `Upgrade: websocket`) or SPDY/3.1 (POST,
 * `Upgrade: SPDY/3.1`).
 */
export function handleStreamingUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const target = parseTarget(req);
  if (target === undefined) {
    refuse(socket, 404, 'no such streaming subresource');
    return;
  }
  switch (req.headers.upgrade?.toLowerCase()) {
    case 'websocket': {
      upgradeToWebSocket(req, socket, head, target);
      return;
    }
    case 'spdy/3.1': {
      upgradeToSpdy(req, socket, head, target);
      return;
    }
    default: {
      refuse(socket, 400, 'expected Upgrade: websocket or SPDY/3.1');
      return;
    }
  }
}

function parseTarget(req: IncomingMessage): StreamingTarget | undefined {
  const url = new URL(req.url ?? '/', 'http://fake-apiserver');
  const subresource = SUBRESOURCE_PATH.exec(url.pathname)?.[1];
  return isSubresource(subresource) ? { subresource, query: url.searchParams } : undefined;
}

function isSubresource(value: string | undefined): value is Subresource {
  return value === 'exec' || value === 'attach' || value === 'portforward';
}

function upgradeToWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamingTarget): void {
  const offered = headerList(req, 'sec-websocket-protocol');
  const protocol = negotiate(WEBSOCKET_PROTOCOLS[target.subresource], offered);
  if (protocol === undefined) {
    refuse(socket, 400, `none of the WebSocket subprotocols [${offered.join(', ')}] is supported`);
    return;
  }
  // ws only accepts subprotocols that are RFC 7230 tokens, which SPDY/3.1+portforward.k8s.io
  // is not ('/' is a separator): hide the offer from ws and announce our choice ourselves.
  delete req.headers['sec-websocket-protocol'];
  const server = new WebSocketServer({ noServer: true, clientTracking: false });
  server.on('headers', (headers) => headers.push(`Sec-WebSocket-Protocol: ${protocol}`));
  server.handleUpgrade(req, socket, head, (ws) => {
    if (target.subresource === 'portforward') servePortForward(new SpdySession(tunnelThrough(ws)));
    else serveExecOverWebSocket(ws, protocol, execRequest(target));
  });
}

/** The SPDY upgrade handshake of k8s.io/apimachinery/pkg/util/httpstream (Handshake) and httpstream/spdy. */
function upgradeToSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamingTarget): void {
  const supported = SPDY_PROTOCOLS[target.subresource];
  const offered = headerList(req, 'x-stream-protocol-version');
  const protocol = negotiate(supported, offered);
  if (protocol === undefined) {
    refuse(
      socket,
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`,
      { 'X-Accepted-Stream-Protocol-Versions': supported.join(', ') },
    );
    return;
  }
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'Connection: Upgrade',
      'Upgrade: SPDY/3.1',
      `X-Stream-Protocol-Version: ${protocol}`,
      '\r\n',
    ].join('\r\n'),
  );
  if (head.length > 0) socket.unshift(head);
  const session = new SpdySession(socket);
  if (target.subresource === 'portforward') servePortForward(session);
  else serveExecOverSpdy(session, protocol, execRequest(target));
}

/** Values of a request header that may be repeated and comma-separated. */
function headerList(req: IncomingMessage, name: string): string[] {
  return (req.headersDistinct[name] ?? [])
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

function negotiate(supported: readonly string[], offered: readonly string[]): string | undefined {
  return supported.find((protocol) => offered.includes(protocol));
}

/** Answers an upgrade request with a plain HTTP error and closes the connection. */
function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  socket.on('error', () => socket.destroy());
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(message)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${message}`);
}

function execRequest({ subresource, query }: StreamingTarget): ExecRequest {
  const tty = parseBool(query.get('tty'));
  return {
    command: subresource === 'attach' ? ['cat'] : query.getAll('command'),
    stdin: parseBool(query.get('stdin')),
    stdout: parseBool(query.get('stdout')),
    // With a TTY the kubelet drops stderr: the terminal is the only output
    // (pkg/kubelet/cri/streaming/remotecommand/httpstream.go, newOptions).
    stderr: parseBool(query.get('stderr')) && !tty,
    tty,
  };
}

/** Go's strconv.ParseBool, which decodes the API server's query parameters. */
function parseBool(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value);
}

/** The streams a client opens for exec and attach (pkg/kubelet/cri/streaming/remotecommand/httpstream.go). */
function expectedStreamTypes(exec: ExecRequest, protocol: string): Set<string> {
  const types = new Set(['error']);
  if (exec.stdin) types.add('stdin');
  if (exec.stdout) types.add('stdout');
  if (exec.stderr) types.add('stderr');
  // Terminal resizing came with v3.
  if (exec.tty && (protocol === RemoteCommand.V3 || protocol === RemoteCommand.V4)) types.add('resize');
  return types;
}

/** Exec and attach over SPDY: the client opens one stream per type; the command runs once all are there. */
function serveExecOverSpdy(session: SpdySession, protocol: string, exec: ExecRequest): void {
  const expected = expectedStreamTypes(exec, protocol);
  const streams = new Map<string, SpdyStream>();
  session.on('stream', (stream) => {
    const type = stream.headers.get('streamtype') ?? '';
    if (!expected.has(type) || streams.has(type)) {
      stream.destroy();
      return;
    }
    // Only stdin carries data from the client; resize events are read and ignored.
    if (type !== 'stdin') stream.resume();
    streams.set(type, stream);
    if (streams.size === expected.size) runExecOverSpdy(session, protocol, exec, streams);
  });
}

function runExecOverSpdy(
  session: SpdySession,
  protocol: string,
  exec: ExecRequest,
  streams: ReadonlyMap<string, SpdyStream>,
): void {
  const io = commandStreams(exec.tty, streams.get('stdin'), streams.get('stdout'), streams.get('stderr'));
  runFakeCommand(exec.command, io)
    .then(async (status) => {
      const report = statusReport(protocol, status);
      if (report !== undefined) await write(streams.get('error'), report);
      await Promise.all([...streams.values()].map(endWriting));
      session.close();
    })
    .catch(() => {
      // The client went away mid-command: the session is already torn down.
    });
}

/** Exec and attach over WebSocket: the streams are channels of one connection. */
function serveExecOverWebSocket(ws: WebSocket, protocol: string, exec: ExecRequest): void {
  const stdin = exec.stdin ? new PassThrough() : undefined;
  ws.on('message', (data, isBinary) => {
    if (isBinary) receiveChannelMessage(ws, protocol, toBuffer(data), stdin);
  });
  // 'error' is always followed by 'close'.
  ws.on('error', () => ws.terminate());
  ws.on('close', () => stdin?.destroy());
  const io = commandStreams(
    exec.tty,
    stdin,
    exec.stdout ? channelWriter(ws, Channel.Stdout) : undefined,
    exec.stderr ? channelWriter(ws, Channel.Stderr) : undefined,
  );
  runFakeCommand(exec.command, io).then(
    (status) => {
      const report = statusReport(protocol, status);
      if (report !== undefined) ws.send(onChannel(Channel.Error, report));
      ws.close(NORMAL_CLOSURE);
    },
    () => {
      // The client went away mid-command.
    },
  );
}

function receiveChannelMessage(ws: WebSocket, protocol: string, message: Buffer, stdin: PassThrough | undefined): void {
  const channel = message[0];
  const payload = message.subarray(1);
  if (channel === Channel.Stdin && stdin?.writable) {
    if (!stdin.write(payload)) {
      ws.pause();
      stdin.once('drain', () => ws.resume());
    }
  } else if (channel === Channel.Close && protocol === RemoteCommand.V5 && payload[0] === Channel.Stdin) {
    stdin?.end();
  }
  // Resize events and anything else are ignored.
}

function channelWriter(ws: WebSocket, channel: number): Writable {
  return new Writable({
    write: (chunk: Buffer, _encoding: BufferEncoding, callback: () => void) => {
      // A send fails only when the client is gone, and its 'close' ends the command.
      ws.send(onChannel(channel, chunk), () => callback());
    },
  });
}

function onChannel(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.of(channel), data]);
}

/** A terminal has a single output, so with a TTY stderr goes to stdout. */
function commandStreams(tty: boolean, stdin?: Readable, stdout?: Writable, stderr?: Writable): CommandStreams {
  return { stdin, stdout, stderr: tty ? stdout : stderr };
}

/**
 * What the error stream carries when the command ends: from v4 on a
 * metav1.Status, before that only a failure's message
 * (pkg/kubelet/cri/streaming/remotecommand/httpstream.go, v4WriteStatusFunc).
 */
function statusReport(protocol: string, status: ExitStatus): Buffer | undefined {
  if (protocol === RemoteCommand.V4 || protocol === RemoteCommand.V5) {
    return Buffer.from(JSON.stringify(v4Status(status)));
  }
  return status.code === 0 ? undefined : Buffer.from(failureMessage(status));
}

/** The status the kubelet reports (pkg/kubelet/cri/streaming/remotecommand/exec.go, ServeExec). */
function v4Status(status: ExitStatus): Record<string, unknown> {
  if (status.code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: failureMessage(status),
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(status.code) }] },
  };
}

function failureMessage(status: ExitStatus): string {
  return `command terminated with non-zero exit code: ${status.error ?? ''}`;
}

/** The fake container's commands. */
async function runFakeCommand(argv: readonly string[], io: CommandStreams): Promise<ExitStatus> {
  const [name = '', ...args] = argv;
  switch (name) {
    case 'echo':
      await write(io.stdout, `${args.join(' ')}\n`);
      return SUCCESS;
    case 'cat':
      await copy(io.stdin, io.stdout);
      return SUCCESS;
    case 'stderr':
      await write(io.stderr, `${args.join(' ')}\n`);
      return SUCCESS;
    case 'exit':
      return exitStatus(argv, args[0]);
    default:
      await write(io.stderr, `${name}: command not found\n`);
      return { code: 127, error: `${name}: command not found` };
  }
}

function exitStatus(argv: readonly string[], requested = '0'): ExitStatus {
  const code = Number(requested);
  if (!Number.isInteger(code) || code < 0 || code > 255) {
    return { code: 2, error: `exit: ${requested}: numeric argument required` };
  }
  if (code === 0) return SUCCESS;
  return { code, error: `error executing command [${argv.join(' ')}], exit code ${code}` };
}

function write(target: Writable | undefined, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (target === undefined) resolve();
    else target.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

async function copy(from: Readable | undefined, to: Writable | undefined): Promise<void> {
  if (from === undefined) return;
  // Leave `from` open when it is drained: over SPDY it is a duplex whose other half must still send FIN.
  const chunks = from.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
  for await (const chunk of chunks) await write(to, chunk);
}

/** Ends a stream's writable side and waits until that is done, or the stream is gone. */
function endWriting(stream: Writable): Promise<void> {
  stream.end();
  return new Promise((resolve) => finished(stream, { readable: false }, () => resolve()));
}

/**
 * pods/portforward: the client opens an error and a data stream per
 * connection, paired by request id (pkg/kubelet/cri/streaming/portforward/httpstream.go).
 */
function servePortForward(session: SpdySession): void {
  const unpaired = new Map<string, SpdyStream>();
  session.on('stream', (stream) => {
    const requestId = stream.headers.get('requestid');
    const type = stream.headers.get('streamtype');
    if (requestId === undefined || (type !== 'data' && type !== 'error')) {
      stream.destroy();
      return;
    }
    const partner = unpaired.get(requestId);
    if (partner === undefined) {
      unpaired.set(requestId, stream);
      stream.once('close', () => {
        if (unpaired.get(requestId) === stream) unpaired.delete(requestId);
      });
      return;
    }
    unpaired.delete(requestId);
    if (partner.headers.get('streamtype') === type) {
      partner.destroy();
      stream.destroy();
      return;
    }
    if (type === 'data') echo(stream, partner);
    else echo(partner, stream);
  });
}

/** Every forwarded port echoes what it receives; the error stream closes when the connection is over. */
function echo(data: SpdyStream, error: SpdyStream): void {
  // The client half-closes the error stream as soon as it opens it.
  error.resume();
  const port = Number(data.headers.get('port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    error.end(`invalid port ${data.headers.get('port') ?? '(none)'}`);
    data.destroy();
    return;
  }
  data.pipe(data);
  finished(data, () => error.end());
}

/** A byte stream carried in binary WebSocket messages, like client-go's TunnelingConnection. */
function tunnelThrough(ws: WebSocket): Duplex {
  const tunnel = new Duplex({
    read: () => ws.resume(),
    write: (chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error) => void) => ws.send(chunk, callback),
    final: (callback: () => void) => {
      ws.close(NORMAL_CLOSURE);
      callback();
    },
    destroy: (error: Error | null, callback: (error: Error | null) => void) => {
      ws.terminate();
      callback(error);
    },
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) tunnel.destroy(new Error('text message in a SPDY tunnel'));
    else if (!tunnel.push(toBuffer(data))) ws.pause();
  });
  ws.on('close', () => tunnel.push(null));
  ws.on('error', (error) => tunnel.destroy(error));
  return tunnel;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
