/**
 * A local OTLP/HTTP trace receiver for tests: a node:http server on 127.0.0.1 that takes
 * `POST /v1/traces` (protobuf, as the OpenTelemetry collector does) and decodes each export with
 * its own protobuf reader, written from opentelemetry-proto's trace.proto, independent of the
 * exporter's encoder: what a test reads is what went over the wire.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttributeValue = string | boolean | number;

export interface ReceivedSpan {
  /** Lower-case hex, as in a traceparent. */
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** opentelemetry.proto.trace.v1.Span.SpanKind: 2 is SERVER. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** Status.code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly resource: Readonly<Record<string, AttributeValue>>;
  readonly scope: string;
}

export interface OtlpReceiver {
  /** http://127.0.0.1:PORT/v1/traces */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Resolves with the first span, received or to come, that matches; rejects after the timeout. */
  waitForSpan(predicate: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

const TRACES_PATH = '/v1/traces';

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const waiters = new Set<{ predicate: (span: ReceivedSpan) => boolean; resolve: (span: ReceivedSpan) => void }>();
  const server = createServer((req, res) => void receive(req, res));

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== TRACES_PATH || req.headers['content-type'] !== 'application/x-protobuf') {
      res.writeHead(415).end();
      return;
    }
    const body = Buffer.concat(chunks);
    for (const span of decodeExportTraceServiceRequest(
      req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body,
    )) {
      spans.push(span);
      for (const waiter of waiters) {
        if (waiter.predicate(span)) {
          waiters.delete(waiter);
          waiter.resolve(span);
        }
      }
    }
    // An empty ExportTraceServiceResponse: everything was accepted.
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${TRACES_PATH}`,
    spans,
    waitForSpan(predicate, timeoutMs = 10_000) {
      const seen = spans.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (span: ReceivedSpan) => {
            clearTimeout(timer);
            resolve(span);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching span within ${timeoutMs}ms; received: ${JSON.stringify(spans)}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format (protobuf.dev/programming-guides/encoding): just what trace.proto needs.

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

type FieldValue = bigint | Buffer;
/** A message's fields by number, each with its values in order (repeated fields have several). */
type Message = Map<number, FieldValue[]>;

function readVarint(bytes: Buffer, start: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  let at = start;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error('truncated varint');
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7n;
  }
}

function decodeMessage(bytes: Buffer): Message {
  const message: Message = new Map();
  let at = 0;
  while (at < bytes.length) {
    const [key, afterKey] = readVarint(bytes, at);
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    let value: FieldValue;
    if (wireType === VARINT) [value, at] = readVarint(bytes, afterKey);
    else if (wireType === FIXED64) [value, at] = [bytes.readBigUInt64LE(afterKey), afterKey + 8];
    else if (wireType === FIXED32) [value, at] = [BigInt(bytes.readUInt32LE(afterKey)), afterKey + 4];
    else if (wireType === LENGTH_DELIMITED) {
      const [length, afterLength] = readVarint(bytes, afterKey);
      at = afterLength + Number(length);
      if (at > bytes.length) throw new Error('truncated field');
      value = bytes.subarray(afterLength, at);
    } else throw new Error(`unexpected wire type ${wireType}`);
    const values = message.get(field);
    if (values === undefined) message.set(field, [value]);
    else values.push(value);
  }
  return message;
}

function messages(message: Message, field: number): Message[] {
  return (message.get(field) ?? []).map((value) => decodeMessage(asBytes(value)));
}

function bytesField(message: Message, field: number): Buffer {
  const value = message.get(field)?.[0];
  return value === undefined ? Buffer.alloc(0) : asBytes(value);
}

function numberField(message: Message, field: number): number {
  const value = message.get(field)?.[0];
  return typeof value === 'bigint' ? Number(value) : 0;
}

function asBytes(value: FieldValue): Buffer {
  if (typeof value === 'bigint') throw new Error('expected a length-delimited field');
  return value;
}

/** KeyValue { key = 1; AnyValue value = 2 }, AnyValue { string 1; bool 2; int64 3; double 4; … }. */
function attributesOf(message: Message, field: number): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const keyValue of messages(message, field)) {
    const key = bytesField(keyValue, 1).toString('utf8');
    const [anyValue] = messages(keyValue, 2);
    if (anyValue === undefined) continue;
    if (anyValue.has(1)) attributes[key] = bytesField(anyValue, 1).toString('utf8');
    else if (anyValue.has(2)) attributes[key] = anyValue.get(2)?.[0] === 1n;
    else if (anyValue.has(3)) attributes[key] = Number(BigInt.asIntN(64, anyValue.get(3)?.[0] as bigint));
    else if (anyValue.has(4)) attributes[key] = bytesOfFixed64(anyValue.get(4)?.[0] as bigint).readDoubleLE(0);
  }
  return attributes;
}

function bytesOfFixed64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return bytes;
}

/**
 * ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }
 * ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 }
 * ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2 }
 * Span { trace_id 1; span_id 2; trace_state 3; parent_span_id 4; name 5; kind 6; attributes 9; status 15 }
 */
export function decodeExportTraceServiceRequest(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of messages(decodeMessage(body), 1)) {
    const [resourceMessage] = messages(resourceSpans, 1);
    const resource = resourceMessage === undefined ? {} : attributesOf(resourceMessage, 1);
    for (const scopeSpans of messages(resourceSpans, 2)) {
      const [scopeMessage] = messages(scopeSpans, 1);
      const scope = scopeMessage === undefined ? '' : bytesField(scopeMessage, 1).toString('utf8');
      for (const span of messages(scopeSpans, 2)) {
        const [status] = messages(span, 15);
        spans.push({
          traceId: bytesField(span, 1).toString('hex'),
          spanId: bytesField(span, 2).toString('hex'),
          traceState: bytesField(span, 3).toString('utf8'),
          parentSpanId: bytesField(span, 4).toString('hex'),
          name: bytesField(span, 5).toString('utf8'),
          kind: numberField(span, 6),
          attributes: attributesOf(span, 9),
          statusCode: status === undefined ? 0 : numberField(status, 3),
          resource,
          scope,
        });
      }
    }
  }
  return spans;
}
