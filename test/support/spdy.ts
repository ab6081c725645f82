/**
 * A minimal SPDY/3.1 server session: enough of the protocol to serve the streams
 * Kubernetes clients (kubectl, client-go, both built on moby/spdystream) open
 * against a kubelet. The server never opens streams or sends PINGs of its own.
 *
 * Spec: https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/
 * (section numbers below refer to it).
 *
 * Flow control: we advertise the default 64 KiB windows and return what is
 * consumed with WINDOW_UPDATE, but we neither police the peer's windows nor
 * honour ours. spdystream implements no flow control at all: it never sends
 * WINDOW_UPDATE, so a sender that honoured windows would stall after 64 KiB,
 * and the kubelet (also spdystream) never waits on them either.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { DuplexOptions } from 'node:stream';
import { constants as zlibConstants, createDeflate, createInflate } from 'node:zlib';
import type { Deflate, Inflate } from 'node:zlib';

const SPDY_VERSION = 3;
const FRAME_HEADER_BYTES = 8;
/** §2.2: a frame's length field has 24 bits. */
const MAX_PAYLOAD_BYTES = 0xff_ffff;
const CONTROL_BIT = 0x8000_0000;
const STREAM_ID_MASK = 0x7fff_ffff;

const FLAG_FIN = 0x01;
const FLAG_UNIDIRECTIONAL = 0x02;

/** §2.6: control frame types. */
const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** §2.4.2: RST_STREAM status codes. */
const StreamError = {
  InvalidStream: 2,
  RefusedStream: 3,
  Cancel: 5,
  StreamAlreadyClosed: 9,
} as const;

/** §2.6.6: GOAWAY status codes. */
const GoAwayStatus = { Ok: 0, ProtocolError: 1 } as const;

/** §2.6.8: both the session and every stream start with a 64 KiB window. */
const INITIAL_WINDOW_BYTES = 64 * 1024;
/** Consumed bytes are returned in batches of half a window, so the peer never runs dry. */
const WINDOW_UPDATE_THRESHOLD = INITIAL_WINDOW_BYTES / 2;

/** A name/value header block with no pairs (§2.6.10): what SYN_REPLY carries. */
const EMPTY_HEADER_BLOCK = Buffer.alloc(4);
const EMPTY = Buffer.alloc(0);

/**
 * §2.6.10.1: the dictionary both zlib contexts start with: length-prefixed
 * header names and values, then a raw tail (bytes as in moby/spdystream's
 * spdy/dictionary.go).
 */
const HEADER_DICTIONARY = buildHeaderDictionary(
  [
    'options',
    'head',
    'post',
    'put',
    'delete',
    'trace',
    'accept',
    'accept-charset',
    'accept-encoding',
    'accept-language',
    'accept-ranges',
    'age',
    'allow',
    'authorization',
    'cache-control',
    'connection',
    'content-base',
    'content-encoding',
    'content-language',
    'content-length',
    'content-location',
    'content-md5',
    'content-range',
    'content-type',
    'date',
    'etag',
    'expect',
    'expires',
    'from',
    'host',
    'if-match',
    'if-modified-since',
    'if-none-match',
    'if-range',
    'if-unmodified-since',
    'last-modified',
    'location',
    'max-forwards',
    'pragma',
    'proxy-authenticate',
    'proxy-authorization',
    'range',
    'referer',
    'retry-after',
    'server',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'user-agent',
    'vary',
    'via',
    'warning',
    'www-authenticate',
    'method',
    'get',
    'status',
    '200 OK',
    'version',
    'HTTP/1.1',
    'url',
    'public',
    'set-cookie',
    'keep-alive',
    'origin',
  ],
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
    '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
    '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
    'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
    'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
    'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.',
);

/**
 * §2.6.10.1: one zlib context per direction for the whole session, primed with
 * the dictionary; every header block ends with a sync flush.
 */
const HEADER_COMPRESSION_OPTIONS = { dictionary: HEADER_DICTIONARY, flush: zlibConstants.Z_SYNC_FLUSH };

function buildHeaderDictionary(words: readonly string[], tail: string): Buffer {
  const entries = words.flatMap((word) => [uint32s(word.length), Buffer.from(word, 'latin1')]);
  return Buffer.concat([...entries, Buffer.from(tail, 'latin1')]);
}

/** A session error (§2.4.1): the session ends with GOAWAY PROTOCOL_ERROR. */
class ProtocolError extends Error {}

interface ControlFrame {
  readonly control: true;
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
}

interface DataFrame {
  readonly control: false;
  readonly streamId: number;
  readonly flags: number;
  readonly payload: Buffer;
}

type Frame = ControlFrame | DataFrame;

/** A stream the peer opened. Ending it sends FIN; destroying it before both sides have finished sends RST_STREAM. */
export class SpdyStream extends Duplex {
  readonly id: number;
  /** The SYN_STREAM headers. Names are lower case; several values of a name are NUL-separated (§2.6.10). */
  readonly headers: ReadonlyMap<string, string>;

  constructor(id: number, headers: ReadonlyMap<string, string>, options: DuplexOptions) {
    super(options);
    this.id = id;
    this.headers = headers;
  }
}

interface SpdySessionEvents {
  /** A stream the peer opened; it has been answered with SYN_REPLY. */
  stream: [stream: SpdyStream];
  /** The transport is gone and every stream destroyed. */
  close: [];
}

/** What the session knows of each open stream. */
interface OpenStream {
  readonly stream: SpdyStream;
  /** The peer sent FIN or RST_STREAM. */
  remoteClosed: boolean;
  /** We sent FIN or RST_STREAM. */
  localClosed: boolean;
  /** DATA bytes received on the stream, and how many of them were returned to the peer with WINDOW_UPDATE. */
  received: number;
  credited: number;
}

/** The server side of a SPDY/3.1 session over any byte stream (a TCP socket, a WebSocket tunnel). */
export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly #transport: Duplex;
  readonly #inflater = new HeaderCompression(createInflate(HEADER_COMPRESSION_OPTIONS));
  readonly #deflater = new HeaderCompression(createDeflate(HEADER_COMPRESSION_OPTIONS));
  readonly #streams = new Map<number, OpenStream>();
  #received: Buffer = EMPTY;
  #lastStreamId = 0;
  #sessionUncredited = 0;
  #drainWaiters: (() => void)[] = [];
  /** close() was called or the transport is gone: no new streams, no RST_STREAM for abandoned ones. */
  #ending = false;
  #closed = false;

  constructor(transport: Duplex) {
    super();
    this.#transport = transport;
    // The listener also keeps a peer's reset from being thrown as an unhandled 'error'.
    transport.on('error', () => this.#teardown());
    transport.on('close', () => this.#teardown());
    transport.on('drain', () => {
      for (const resume of this.#drainWaiters.splice(0)) resume();
    });
    void this.#readFrames();
  }

  /**
   * Ends the session (§2.6.6): abandons the streams still open, sends GOAWAY and
   * half-closes the transport. The session closes once the peer hangs up.
   */
  close(): void {
    if (this.#ending) return;
    this.#ending = true;
    for (const open of this.#streams.values()) open.stream.destroy();
    this.#write(controlFrame(FrameType.GoAway, 0, uint32s(this.#lastStreamId, GoAwayStatus.Ok)));
    this.#transport.end();
  }

  async #readFrames(): Promise<void> {
    try {
      const chunks = this.#transport.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
      for await (const chunk of chunks) {
        this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
        for (let frame = this.#takeFrame(); frame !== undefined; frame = this.#takeFrame()) {
          await this.#handle(frame);
        }
      }
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.#write(controlFrame(FrameType.GoAway, 0, uint32s(this.#lastStreamId, GoAwayStatus.ProtocolError)));
      }
    } finally {
      this.#teardown();
    }
  }

  #takeFrame(): Frame | undefined {
    const parsed = parseFrame(this.#received);
    if (parsed === undefined) return undefined;
    this.#received = this.#received.subarray(parsed.size);
    return parsed.frame;
  }

  async #handle(frame: Frame): Promise<void> {
    if (!frame.control) {
      this.#onData(frame);
      return;
    }
    switch (frame.type) {
      case FrameType.SynStream:
        return this.#onSynStream(frame);
      case FrameType.SynReply:
        // We open no streams, so there is nothing to reply to; decompress anyway to keep the zlib context in step.
        await this.#inflateHeaders(payloadAfter(frame, 4));
        throw new ProtocolError('SYN_REPLY from a client');
      case FrameType.Headers:
        // Nothing here reads trailing headers; they still have to pass through the zlib context.
        await this.#inflateHeaders(payloadAfter(frame, 4));
        return;
      case FrameType.RstStream: {
        this.#onRstStream(frame);
        return;
      }
      case FrameType.Ping: {
        this.#onPing(frame);
        return;
      }
      case FrameType.Settings: {
        // Nothing the peer can set changes what this session does; see the note on flow control.
        expectSettingsLength(frame);
        return;
      }
      case FrameType.GoAway:
      case FrameType.WindowUpdate: {
        // GOAWAY: the peer opens no more streams, which needs no action. WINDOW_UPDATE: see the note on flow control.
        expectLength(frame, 8);
        return;
      }
      default:
        // §2.2.1: control frames of unknown types are ignored.
        return;
    }
  }

  async #onSynStream(frame: ControlFrame): Promise<void> {
    // Stream id, associated-to stream id, priority and slot come before the header block.
    const headers = await this.#inflateHeaders(payloadAfter(frame, 10));
    const id = frame.payload.readUInt32BE(0) & STREAM_ID_MASK;
    // §2.3.2: the peer's streams have odd, monotonically increasing ids.
    if (id % 2 === 0 || id <= this.#lastStreamId) throw new ProtocolError(`unexpected stream id ${id}`);
    this.#lastStreamId = id;
    if (this.#ending || (frame.flags & FLAG_UNIDIRECTIONAL) !== 0) {
      this.#write(rstStreamFrame(id, StreamError.RefusedStream));
      return;
    }
    const reply = await this.#deflater.process(EMPTY_HEADER_BLOCK);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() or the teardown may run during the await; TypeScript keeps the narrowing from before it
    if (this.#ending) return;
    this.#write(controlFrame(FrameType.SynReply, 0, Buffer.concat([uint32s(id), reply])));
    const open = this.#open(id, headers);
    if ((frame.flags & FLAG_FIN) !== 0) this.#finishRemote(open);
    this.emit('stream', open.stream);
  }

  #onData(frame: DataFrame): void {
    if (frame.streamId === 0) throw new ProtocolError('DATA on stream 0');
    // Stream windows bound what each stream buffers, so the session window is returned as data arrives.
    this.#creditSession(frame.payload.length);
    const open = this.#streams.get(frame.streamId);
    if (open === undefined) {
      // A stream already closed may still have data in flight; one never opened is an error (§2.4.2).
      if (frame.streamId > this.#lastStreamId) this.#write(rstStreamFrame(frame.streamId, StreamError.InvalidStream));
      return;
    }
    if (open.remoteClosed) {
      this.#reset(open, StreamError.StreamAlreadyClosed);
      return;
    }
    if (frame.payload.length > 0) {
      open.received += frame.payload.length;
      if (open.stream.push(frame.payload)) this.#creditStream(open);
    }
    if ((frame.flags & FLAG_FIN) !== 0) this.#finishRemote(open);
  }

  #onRstStream(frame: ControlFrame): void {
    expectLength(frame, 8);
    const open = this.#streams.get(frame.payload.readUInt32BE(0) & STREAM_ID_MASK);
    if (open === undefined) return;
    // §2.4.2: a reset stream is closed both ways, and a RST_STREAM is never answered with another.
    open.remoteClosed = true;
    open.localClosed = true;
    open.stream.destroy();
  }

  #onPing(frame: ControlFrame): void {
    expectLength(frame, 4);
    // §2.6.5: echo the peer's (odd) PINGs; even ids would answer PINGs of ours, and we send none.
    if (frame.payload.readUInt32BE(0) % 2 === 1) this.#write(controlFrame(FrameType.Ping, 0, frame.payload));
  }

  #open(id: number, headers: ReadonlyMap<string, string>): OpenStream {
    const open: OpenStream = {
      stream: new SpdyStream(id, headers, {
        read: () => this.#creditStream(open),
        write: (chunk: Buffer, _encoding: BufferEncoding, callback: () => void) =>
          this.#sendData(id, chunk, 0, callback),
        final: (callback: () => void) => {
          open.localClosed = true;
          this.#sendData(id, EMPTY, FLAG_FIN, callback);
        },
        destroy: (error: Error | null, callback: (error: Error | null) => void) => {
          this.#forget(open);
          callback(error);
        },
      }),
      remoteClosed: false,
      localClosed: false,
      received: 0,
      credited: 0,
    };
    this.#streams.set(id, open);
    return open;
  }

  #finishRemote(open: OpenStream): void {
    open.remoteClosed = true;
    open.stream.push(null);
  }

  #reset(open: OpenStream, status: number): void {
    open.remoteClosed = true;
    open.localClosed = true;
    this.#write(rstStreamFrame(open.stream.id, status));
    open.stream.destroy();
  }

  /** A destroyed stream leaves the session, cancelling whatever half of it was still open. */
  #forget(open: OpenStream): void {
    this.#streams.delete(open.stream.id);
    if (this.#ending || (open.localClosed && open.remoteClosed)) return;
    open.localClosed = true;
    open.remoteClosed = true;
    this.#write(rstStreamFrame(open.stream.id, StreamError.Cancel));
  }

  /**
   * Returns received bytes to the stream's window (§2.6.8) while its reader keeps
   * up: when push() accepts more, and when the reader asks for more after it
   * did not. What a stream buffers is thus bounded by its window plus its highWaterMark.
   */
  #creditStream(open: OpenStream): void {
    const delta = open.received - open.credited;
    if (open.remoteClosed || delta < WINDOW_UPDATE_THRESHOLD) return;
    open.credited = open.received;
    this.#write(controlFrame(FrameType.WindowUpdate, 0, uint32s(open.stream.id, delta)));
  }

  #creditSession(byteCount: number): void {
    this.#sessionUncredited += byteCount;
    if (this.#sessionUncredited < WINDOW_UPDATE_THRESHOLD) return;
    // §2.6.8 (SPDY/3.1): stream id 0 is the session's window.
    this.#write(controlFrame(FrameType.WindowUpdate, 0, uint32s(0, this.#sessionUncredited)));
    this.#sessionUncredited = 0;
  }

  #sendData(streamId: number, data: Buffer, flags: number, callback: () => void): void {
    let writable = true;
    for (let offset = 0; offset === 0 || offset < data.length; offset += MAX_PAYLOAD_BYTES) {
      const last = offset + MAX_PAYLOAD_BYTES >= data.length;
      writable = this.#write(dataFrame(streamId, last ? flags : 0, data.subarray(offset, offset + MAX_PAYLOAD_BYTES)));
    }
    if (writable) callback();
    else this.#drainWaiters.push(callback);
  }

  /** Queues a frame; false means wait for 'drain'. Once the transport is ended nothing more can be sent. */
  #write(frame: Buffer): boolean {
    if (!this.#transport.writable) return true;
    return this.#transport.write(frame);
  }

  async #inflateHeaders(block: Buffer): Promise<Map<string, string>> {
    let decompressed: Buffer;
    try {
      decompressed = await this.#inflater.process(block);
    } catch {
      throw new ProtocolError('undecodable header block');
    }
    return parseHeaderBlock(decompressed);
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ending = true;
    for (const open of this.#streams.values()) open.stream.destroy();
    this.#drainWaiters = [];
    this.#inflater.close();
    this.#deflater.close();
    this.#transport.destroy();
    this.emit('close');
  }
}

/** One direction's header compression context. Blocks must go through it one at a time, in frame order. */
class HeaderCompression {
  readonly #zlib: Inflate | Deflate;
  #output: Buffer[] = [];
  #fail: ((error: Error) => void) | undefined;

  constructor(zlib: Inflate | Deflate) {
    this.#zlib = zlib;
    zlib.on('data', (chunk: Buffer) => this.#output.push(chunk));
    zlib.on('error', (error) => this.#fail?.(error));
  }

  process(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#fail = reject;
      // zlib pushes a write's output before it calls the write's callback, and the
      // stream's default Z_SYNC_FLUSH makes that output the complete block.
      this.#zlib.write(block, (error) => {
        this.#fail = undefined;
        if (error) reject(error);
        else resolve(Buffer.concat(this.#output.splice(0)));
      });
    });
  }

  close(): void {
    this.#fail?.(new Error('SPDY session closed'));
    this.#zlib.destroy();
  }
}

/** Decodes a decompressed name/value header block (§2.6.10). */
function parseHeaderBlock(block: Buffer): Map<string, string> {
  let offset = 0;
  const take = (byteCount: number): Buffer => {
    if (offset + byteCount > block.length) throw new ProtocolError('truncated header block');
    offset += byteCount;
    return block.subarray(offset - byteCount, offset);
  };
  const takeString = (): string => {
    const length = take(4).readUInt32BE(0);
    return take(length).toString('utf8');
  };
  const headers = new Map<string, string>();
  for (let count = take(4).readUInt32BE(0); count > 0; count--) {
    const name = takeString();
    const value = takeString();
    if (name === '' || name !== name.toLowerCase() || headers.has(name)) {
      throw new ProtocolError(`invalid header name "${name}"`);
    }
    headers.set(name, value);
  }
  if (offset !== block.length) throw new ProtocolError('bytes after the header block');
  return headers;
}

/** The first whole frame in `buffer` (§2.2), or undefined until one has arrived. */
function parseFrame(buffer: Buffer): { frame: Frame; size: number } | undefined {
  if (buffer.length < FRAME_HEADER_BYTES) return undefined;
  const size = FRAME_HEADER_BYTES + buffer.readUIntBE(5, 3);
  if (buffer.length < size) return undefined;
  const word = buffer.readUInt32BE(0);
  const flags = buffer.readUInt8(4);
  const payload = buffer.subarray(FRAME_HEADER_BYTES, size);
  if ((word & CONTROL_BIT) === 0) return { frame: { control: false, streamId: word, flags, payload }, size };
  const version = (word >>> 16) & 0x7fff;
  if (version !== SPDY_VERSION) throw new ProtocolError(`unsupported SPDY version ${version}`);
  return { frame: { control: true, type: word & 0xffff, flags, payload }, size };
}

function payloadAfter(frame: ControlFrame, fixedBytes: number): Buffer {
  if (frame.payload.length < fixedBytes) throw new ProtocolError(`short control frame of type ${frame.type}`);
  return frame.payload.subarray(fixedBytes);
}

function expectLength(frame: ControlFrame, length: number): void {
  if (frame.payload.length !== length) {
    throw new ProtocolError(`control frame of type ${frame.type} has length ${frame.payload.length}`);
  }
}

/** §2.6.4: an entry count, then eight bytes per entry. */
function expectSettingsLength(frame: ControlFrame): void {
  const entries = payloadAfter(frame, 4).length / 8;
  if (entries !== frame.payload.readUInt32BE(0)) throw new ProtocolError('malformed SETTINGS');
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([header, payload]);
}

function dataFrame(streamId: number, flags: number, payload: Buffer): Buffer {
  return Buffer.concat([uint32s(streamId, ((flags << 24) | payload.length) >>> 0), payload]);
}

function rstStreamFrame(streamId: number, status: number): Buffer {
  return controlFrame(FrameType.RstStream, 0, uint32s(streamId, status));
}

function uint32s(...values: number[]): Buffer {
  const buffer = Buffer.allocUnsafe(4 * values.length);
  values.forEach((value, index) => buffer.writeUInt32BE(value, 4 * index));
  return buffer;
}
