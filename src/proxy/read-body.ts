/**
 * Reads a request body whole, bounded in size and time, for the few requests decided on their body
 * (deletes, whose DeleteOptions the API server reads from it). Everything else streams.
 */
import type { IncomingMessage } from 'node:http';
import { payloadTooLarge, requestTimeout, type ProxyStatus } from './status.ts';

/** RFC 9112 §6.3: a request has a body only if it says so with Content-Length or Transfer-Encoding. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** Resolves with the body, or with the Status refusing it; the request is consumed either way. */
export function readBoundedBody(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  what: string,
): Promise<Buffer | ProxyStatus> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      resolve(tooLarge(limit, what));
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (result: Buffer | ProxyStatus): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onEnd);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) finish(tooLarge(limit, what));
      else chunks.push(chunk);
    };
    const onEnd = (): void =>
      finish(req.complete ? Buffer.concat(chunks, length) : requestTimeout(`the ${what} ended before it was complete`));
    const timer = setTimeout(
      () => finish(requestTimeout(`the ${what} did not arrive within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onEnd);
  });
}

function tooLarge(limit: number, what: string): ProxyStatus {
  return payloadTooLarge(`the ${what} is larger than the ${limit / 1024} KiB the ambassador reads before deciding`);
}
