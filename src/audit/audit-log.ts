/**
 * The audit log: one JSON line per event, written asynchronously (pino's sonic-boom) to stdout or a
 * file, so a slow sink never blocks proxying. The buffer is bounded: past it events are dropped and
 * counted. If the sink fails, the proxy keeps serving, says so once, and counts what was lost.
 */
import { constants, openSync } from 'node:fs';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { CredentialStore, UserInfo } from '../cluster/credentials.ts';
import type { CompletedRequest, Recorder } from '../request/record.ts';
import { auditLine } from './event.ts';
import type { AuditStage } from '../config/kinds.ts';

/** Events waiting for a slow sink; beyond this many bytes new ones are dropped, not buffered. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Events are written in batches of this many bytes: one write system call per event cost up to 20%
 * of the proxy's throughput (npm run bench:audit). The timer writes what a quiet period leaves.
 */
const BATCH_BYTES = 8 * 1024;
const FLUSH_INTERVAL_MS = 1000;
/** At shutdown, how long a sink that is not reading gets to take what is left. */
const CLOSE_TIMEOUT_MS = 2000;

export type AuditLoss = 'dropped' | 'sink_error';

/** sonic-boom with `contentMode: 'buffer'`, whose write takes Buffers: its type definitions know only strings. */
type BufferSink = Omit<ReturnType<typeof pino.destination>, 'write'> & { write(data: Buffer): boolean };

export class AuditLog implements Recorder {
  readonly #sink: BufferSink | undefined;
  readonly #credentials: CredentialStore;
  readonly #log: Logger;
  readonly #onLoss: (reason: AuditLoss) => void;
  readonly #flushTimer: NodeJS.Timeout;
  #broken = false;
  #reportedIdentity: UserInfo | undefined;

  /** `destination` is a file path, or `-` for stdout. */
  constructor(destination: string, credentials: CredentialStore, log: Logger, onLoss: (reason: AuditLoss) => void) {
    this.#credentials = credentials;
    this.#log = log;
    this.#onLoss = onLoss;
    try {
      const sink: BufferSink = pino.destination({
        dest: destination === '-' ? 1 : openWithoutBlocking(destination),
        sync: false,
        minLength: BATCH_BYTES,
        maxLength: MAX_BUFFERED_BYTES,
        // Given strings, sonic-boom measures the whole pending batch (Buffer.byteLength) at every write, flattening it
        // each time; given Buffers, it adds up their lengths: 1.5-2 µs less per event.
        contentMode: 'buffer',
      }) as unknown as BufferSink;
      sink.on('error', (error: Error) => this.#fail(error));
      sink.on('drop', () => this.#onLoss('dropped'));
      this.#sink = sink;
    } catch (error) {
      this.#fail(error as Error);
    }
    this.#flushTimer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  /**
   * Who the API server said the credentials are (SelfSubjectReview): the audit `user` whenever the
   * credentials themselves do not tell (an opaque token, claims that cannot be read).
   */
  useReportedIdentity(user: UserInfo): void {
    this.#reportedIdentity = user;
  }

  requestCompleted(request: CompletedRequest): void {
    this.#write(request, request.panicked === true ? 'Panic' : 'ResponseComplete');
  }

  /** Long-running requests also get a ResponseStarted event, as the API server writes them. */
  firstByte(request: CompletedRequest): void {
    this.#write(request, 'ResponseStarted');
  }

  /** Upstream errors and denials are in the request's own event (code, decision, reason). */
  upstreamError(): void {
    // Written with the request's own event.
  }

  policyDenied(): void {
    // Written with the request's own event.
  }

  /** Writes what is buffered; resolves when the sink has it. */
  flush(): Promise<void> {
    const sink = this.#sink;
    if (this.#broken || sink === undefined) return Promise.resolve();
    return new Promise((resolve) => sink.flush(() => resolve()));
  }

  /** Writes what is left and stops the timer (at shutdown); a sink that is not reading does not hold shutdown up. */
  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.flush().then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, false))),
    ]);
    clearTimeout(timer);
    if (flushed) return;
    this.#log.warn(
      { timeoutMs: CLOSE_TIMEOUT_MS },
      'the audit log did not take every event before shutdown; the rest are lost',
    );
    // Otherwise pino's exit hook would retry the write, synchronously, for ever.
    this.#sink?.destroy();
  }

  #write(request: CompletedRequest, stage: AuditStage): void {
    if (request.audit.level === 'None' || request.audit.omitStages.has(stage)) return;
    if (this.#broken) {
      this.#onLoss('sink_error');
      return;
    }
    const line = auditLine(stage, request, this.#credentials.current.identity ?? this.#reportedIdentity, Date.now());
    try {
      this.#sink?.write(Buffer.from(line));
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #fail(error: Error): void {
    this.#onLoss('sink_error');
    if (this.#broken) return;
    this.#broken = true;
    this.#log.error(
      { reason: error.message },
      'the audit log cannot be written; the proxy keeps serving, and lost events are counted',
    );
    // Nothing more is written to it: left open, pino's exit hook would retry the write for ever at exit.
    this.#sink?.destroy();
  }
}

/**
 * A sink that stops reading (a named pipe nobody drains) must not block a thread in write(2): the
 * process could then not even exit. Without blocking, a full pipe answers EAGAIN, which the writer
 * retries while events wait in the bounded buffer.
 */
function openWithoutBlocking(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o640);
}
