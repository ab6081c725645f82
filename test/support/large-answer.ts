/**
 * Large answers the test API server writes with back-pressure, for tests of clients that stop
 * reading: the writer's progress shows how far the bytes got before the path stalled.
 */
import type { ServerResponse } from 'node:http';
import { expect } from 'vitest';
import type { TestCluster } from './cluster.ts';

/** `length` bytes where byte i is i % 251: no chunk or frame size is a multiple, so a lost or repeated piece shows. */
export function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 251;
  return bytes;
}

const CHUNK = 64 * 1024;
/** Every chunk a large answer writes is a slice of this. */
const PATTERN_SOURCE = pattern(CHUNK + 251);

/** How a scripted large answer is going: bytes handed to write(), and whether it now waits for 'drain'. */
export interface Writer {
  written: number;
  awaitingDrain: boolean;
  finished: boolean;
}

/** Scripts the API server to answer GET `path` with `total` pattern bytes, written with back-pressure. */
export function scriptLargeAnswer(api: TestCluster['api'], path: string, total: number): Writer {
  const writer: Writer = { written: 0, awaitingDrain: false, finished: false };
  api.script((method, url) => method === 'GET' && url === path, {
    respond: (_request, response: ServerResponse) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
      const writeMore = (): void => {
        writer.awaitingDrain = false;
        while (writer.written < total) {
          const start = writer.written % 251;
          const piece = PATTERN_SOURCE.subarray(start, start + Math.min(CHUNK, total - writer.written));
          writer.written += piece.length;
          if (!response.write(piece)) {
            writer.awaitingDrain = true;
            response.once('drain', writeMore);
            return;
          }
        }
        response.end();
        writer.finished = true;
      };
      writeMore();
    },
  });
  return writer;
}

/**
 * Waits until the writer is blocked (waiting for a drain, nothing more written over five polls in
 * a row) or has finished; the caller asserts which.
 */
export async function untilStalledOrFinished(writer: Writer, timeoutMs: number): Promise<void> {
  let previous = -1;
  let quietPolls = 0;
  await expect
    .poll(
      () => {
        quietPolls = writer.awaitingDrain && writer.written === previous ? quietPolls + 1 : 0;
        previous = writer.written;
        return writer.finished || quietPolls >= 5;
      },
      { interval: 100, timeout: timeoutMs },
    )
    .toBe(true);
}
