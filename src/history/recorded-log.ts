/**
 * Reads an audit log line by line, the ambassador's or kube-apiserver's (detected from the events
 * themselves), and hands on each request once, at its last recorded stage: ResponseComplete, or
 * Panic when the server failed it, or ResponseStarted for a long-running request still open when
 * the log ends. Only the requests of `user` are handed on, when given; every user is counted.
 * Memory holds only requests still open, and counts: a log of any size streams.
 */
import { parseAuditLine, type MalformedLine } from './learn.ts';
import { isRecord } from '../config/document.ts';
import { AUDIT_ANNOTATIONS } from '../audit/event.ts';
import { isApiServerDocument, readApiServerDocument, type RecordedEvent } from './apiserver-event.ts';
import { StageTally } from './stages.ts';

export type LogFormat = 'ambassador' | 'kube-apiserver';

export interface RecordedLogSummary {
  readonly format: LogFormat | undefined;
  readonly events: number;
  readonly firstAt: string | undefined;
  readonly lastAt: string | undefined;
  /** Requests per authenticated user ('' where the log names none, as the ambassador's own). */
  readonly users: ReadonlyMap<string, number>;
  /** Requests handed on: all, or those of `user`. */
  readonly requests: number;
  /** Of those, requests whose last event is ResponseStarted. */
  readonly stillOpen: number;
  /** ResponseStarted events (of every user) of requests that reached a later stage. */
  readonly startedEvents: number;
  /** RequestReceived events, and stages this reader does not know. */
  readonly otherStages: number;
  /** JSON lines that are not audit events (the ambassador's operational log, say). */
  readonly otherLines: number;
  readonly malformedLines: number;
  readonly firstMalformed: readonly MalformedLine[];
}

const MALFORMED_SHOWN = 5;

/** The ambassador marks each of its events with its own decision; kube-apiserver's carry none. */
export function logFormatOf(value: Record<string, unknown>): LogFormat | undefined {
  if (value['kind'] === 'Event' && isRecord(value['annotations']) && AUDIT_ANNOTATIONS.decision in value['annotations'])
    return 'ambassador';
  return isApiServerDocument(value) ? 'kube-apiserver' : undefined;
}

export class RecordedLog {
  readonly #onRequest: (event: RecordedEvent) => void;
  readonly #user: string | undefined;
  #format: LogFormat | undefined;
  #lineNumber = 0;
  readonly #stages = new StageTally<RecordedEvent>();
  readonly #users = new Map<string, number>();
  #requests = 0;
  #otherLines = 0;
  #malformedLines = 0;
  readonly #firstMalformed: MalformedLine[] = [];

  constructor(onRequest: (event: RecordedEvent) => void, user: string | undefined) {
    this.#onRequest = onRequest;
    this.#user = user;
  }

  read(text: string): void {
    this.#lineNumber++;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.#malformed('not JSON');
      return;
    }
    if (!isRecord(value)) {
      this.#malformed('not a JSON object');
      return;
    }
    const format = logFormatOf(value);
    if (format === undefined) {
      this.#otherLines++;
      return;
    }
    this.#format ??= format;
    if (format !== this.#format) {
      this.#malformed(
        `an event of ${format === 'ambassador' ? "the ambassador's" : "kube-apiserver's"} log among those of the other`,
      );
      return;
    }
    if (format === 'ambassador') this.#readAmbassadorEvent(text);
    else this.#readApiServerDocument(value);
  }

  finish(): RecordedLogSummary {
    const open = this.#stages.takeOpen();
    let stillOpen = 0;
    for (const event of open) if (this.#hand(event)) stillOpen++;
    const stages = this.#stages;
    return {
      format: this.#format,
      events: stages.events,
      firstAt: stages.firstAt,
      lastAt: stages.lastAt,
      users: new Map(this.#users),
      requests: this.#requests,
      stillOpen,
      startedEvents: stages.started - open.length,
      otherStages: stages.otherStages,
      otherLines: this.#otherLines,
      malformedLines: this.#malformedLines,
      firstMalformed: [...this.#firstMalformed],
    };
  }

  #readApiServerDocument(value: Record<string, unknown>): void {
    const document = readApiServerDocument(value);
    for (const problem of document.problems) this.#malformed(problem);
    for (const event of document.events) this.#accept(event);
  }

  /** The ambassador's event, in kube-apiserver's terms: what it let through is `allow`. */
  #readAmbassadorEvent(text: string): void {
    const line = parseAuditLine(text);
    if (line.kind !== 'event') {
      this.#malformed(line.kind === 'malformed' ? line.problem : 'not an event');
      return;
    }
    const { event } = line;
    const allowed = event.decision !== 'deny' && event.decision !== 'invalid';
    this.#accept({
      ...event,
      level: '',
      user: undefined,
      impersonatedUser: undefined,
      decision: allowed ? 'allow' : 'forbid',
      deleteOptions: undefined,
    });
  }

  #accept(event: RecordedEvent): void {
    const last = this.#stages.accept(event);
    if (last !== undefined) this.#hand(last);
  }

  /** Whether the request was handed on: whether it is one of `user`'s. */
  #hand(event: RecordedEvent): boolean {
    const user = event.user ?? '';
    this.#users.set(user, (this.#users.get(user) ?? 0) + 1);
    if (this.#user !== undefined && user !== this.#user) return false;
    this.#requests++;
    this.#onRequest(event);
    return true;
  }

  #malformed(problem: string): void {
    this.#malformedLines++;
    if (this.#firstMalformed.length < MALFORMED_SHOWN) this.#firstMalformed.push({ line: this.#lineNumber, problem });
  }
}

/** The format of a line that is an audit event, or undefined. */
export function logFormatOfLine(text: string): LogFormat | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? logFormatOf(value) : undefined;
  } catch {
    return undefined;
  }
}
