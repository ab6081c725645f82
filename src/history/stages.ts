/**
 * Each request of an audit log once, at its last stage: a long-running one writes ResponseStarted,
 * then ResponseComplete (or Panic); one still open when the log ends counts at ResponseStarted.
 */

export interface StagedEvent {
  readonly auditId: string;
  readonly stage: string;
  readonly receivedAt?: string | undefined;
  readonly stageAt?: string | undefined;
}

const FINAL_STAGES: ReadonlySet<string> = new Set(['ResponseComplete', 'Panic']);

export class StageTally<Event extends StagedEvent> {
  events = 0;
  firstAt: string | undefined;
  lastAt: string | undefined;
  /** ResponseStarted events seen. */
  started = 0;
  /** Events at stages that end nothing (RequestReceived). */
  otherStages = 0;
  /** ResponseStarted events waiting for their last stage, by audit ID. */
  readonly #open = new Map<string, Event>();

  /** The event when it is its request's last stage, else undefined (it waits, or ends nothing). */
  accept(event: Event): Event | undefined {
    this.events++;
    // Both servers write UTC timestamps with a fixed number of digits: they sort as text.
    if (event.receivedAt !== undefined && (this.firstAt === undefined || event.receivedAt < this.firstAt))
      this.firstAt = event.receivedAt;
    if (event.stageAt !== undefined && (this.lastAt === undefined || event.stageAt > this.lastAt))
      this.lastAt = event.stageAt;
    if (event.stage === 'ResponseStarted') {
      this.started++;
      this.#open.set(event.auditId, event);
      return undefined;
    }
    if (FINAL_STAGES.has(event.stage)) {
      this.#open.delete(event.auditId);
      return event;
    }
    this.otherStages++;
    return undefined;
  }

  /** The requests the log ended while they were open; the tally forgets them. */
  takeOpen(): Event[] {
    const open = [...this.#open.values()];
    this.#open.clear();
    return open;
  }
}
