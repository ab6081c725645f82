/**
 * What the request path hands to forwarding, and what every forwarded request (an `Exchange`, a
 * `Tunnel`) has in common: the decision it was admitted on, and what the recorder reads of it.
 */
import type { Logger } from 'pino';
import type { CredentialStore } from '../cluster/credentials.ts';
import type { UpstreamCall } from '../cluster/upstream-call.ts';
import type { Upstream } from '../cluster/upstream.ts';
import type { RequestAttributes } from '../request/attributes.ts';
import type { Arrival, AuditVerdict, Decision, Recorder } from '../request/record.ts';
import type { InFlight } from './in-flight.ts';

export interface ForwardDeps {
  readonly upstream: Upstream;
  readonly credentials: CredentialStore;
  readonly inFlight: InFlight;
  readonly upstreamTimeoutMs: number;
  /** Longest an ordinary request's body may go without moving (`--request-body-timeout`). */
  readonly requestBodyTimeoutMs: number;
  readonly log: Logger;
  readonly recorder: Recorder;
  /** At the Request levels, bodies longer than this are not logged. */
  readonly auditBodyLimit: number;
}

/** A request that passed every check, with what it was decided on and what will be sent. */
export interface Admitted {
  readonly attributes: RequestAttributes;
  readonly query: string;
  /** Canonical path plus the original query: what is forwarded. */
  readonly pathAndQuery: string;
  readonly headers: string[];
  readonly decision: Decision;
  /** Why the policy would have refused it (in log mode). */
  readonly reason: string | undefined;
  /** The body, when it was read whole to decide on it (a delete's DeleteOptions): sent as it is. */
  readonly body: Buffer | undefined;
  /** Whether the API server will carry the request out as a dry run. */
  readonly dryRun: boolean;
  readonly arrival: Arrival;
  /** What the audit policy chose for it. */
  readonly audit: AuditVerdict;
}

/** A forwarded request as the recorder reads it; `reason` and `panicked` change as it goes. */
export abstract class AdmittedRequest {
  readonly deps: ForwardDeps;
  readonly arrival: Arrival;
  readonly attributes: RequestAttributes;
  readonly query: string;
  readonly decision: Decision;
  readonly dryRun: boolean;
  readonly audit: AuditVerdict;
  /** Why the policy would refuse it (log mode), or why the ambassador answered with an error. */
  reason: string | undefined;
  panicked = false;
  bytesFromClient = 0;
  bytesToClient = 0;
  /** When its deadline passes, on the coarse clock (`deadlines.ts`). */
  deadline = 0;
  abstract readonly call: UpstreamCall;

  constructor(deps: ForwardDeps, admitted: Admitted) {
    this.deps = deps;
    this.arrival = admitted.arrival;
    this.attributes = admitted.attributes;
    this.query = admitted.query;
    this.decision = admitted.decision;
    this.dryRun = admitted.dryRun;
    this.reason = admitted.reason;
    this.audit = admitted.audit;
  }
}
