/**
 * Replays an audit log against a policy: every recorded request the server let through is decided
 * by `decideRequest`, as the running ambassador decides it, and what the policy would refuse is
 * grouped for a person (and counted for a CI gate). What an event at level Metadata does not hold
 * is decided as absent; where that can change the decision, the group says so. Pure.
 */
import type { RecordedEvent } from './apiserver-event.ts';
import { resolveTarget } from '../request/resolve.ts';
import { decideRequest, describeRequest, type PolicyDecision, type Policy } from '../policy/policy.ts';
import { resolveRecorded, type RecordedRequest } from './recorded-request.ts';

export interface RefusedGroup {
  readonly verb: string;
  /** `resource[/subresource][.group]`, or the URL of a non-resource request. */
  readonly resource: string;
  /** '' for cluster-scoped and non-resource requests. */
  readonly namespace: string;
  readonly exampleUri: string;
  /** The rule that covered the request but whose condition it failed, if one did. */
  readonly rule: string | undefined;
  readonly condition: string;
  /** Why the decision may differ with what the event does not hold. */
  readonly caveat: Caveat | undefined;
  count: number;
}

export type Caveat = 'delete-body' | 'apply-patch';

export const CAVEATS: Readonly<Record<Caveat, string>> = {
  'delete-body':
    "decided without the DeleteOptions body, which an event below level Request does not hold; the API server reads the body's dryRun, not the query's, when there is one",
  'apply-patch':
    'a patch is decided as not a server-side apply: the event does not record the Content-Type, and an apply (application/apply-patch+yaml) needs create as well',
};

export interface ReplayResult {
  readonly decided: number;
  readonly allowed: number;
  readonly refused: number;
  readonly groups: readonly RefusedGroup[];
  /** Allowed requests whose decision may differ with what the event does not hold, by caveat. */
  readonly uncertainAllowed: ReadonlyMap<Caveat, number>;
  readonly recordedRefused: number;
  readonly undecided: number;
  readonly impersonated: number;
  /** Requests resolved otherwise than the server recorded them: how many, and the first. */
  readonly mismatched: number;
  readonly firstMismatch: string | undefined;
}

export class Replayer {
  readonly #policy: Policy;
  readonly #groups = new Map<string, RefusedGroup>();
  readonly #uncertainAllowed = new Map<Caveat, number>();
  #decided = 0;
  #allowed = 0;
  #recordedRefused = 0;
  #undecided = 0;
  #impersonated = 0;
  #mismatched = 0;
  #firstMismatch: string | undefined;

  constructor(policy: Policy) {
    this.#policy = policy;
  }

  /** One request, at its last stage (see RecordedLog). */
  replay(event: RecordedEvent): void {
    if (event.decision === undefined) this.#undecided++;
    else if (event.decision === 'forbid') this.#recordedRefused++;
    else if (event.impersonatedUser !== undefined) this.#impersonated++;
    else this.#decide(event);
  }

  finish(): ReplayResult {
    const groups = [...this.#groups.values()].sort((a, b) => b.count - a.count);
    const refused = groups.reduce((total, group) => total + group.count, 0);
    return {
      decided: this.#decided,
      allowed: this.#allowed,
      refused,
      groups,
      uncertainAllowed: new Map(this.#uncertainAllowed),
      recordedRefused: this.#recordedRefused,
      undecided: this.#undecided,
      impersonated: this.#impersonated,
      mismatched: this.#mismatched,
      firstMismatch: this.#firstMismatch,
    };
  }

  #decide(event: RecordedEvent): void {
    this.#decided++;
    const resolved = resolveRecorded(event);
    if (!resolved.ok) {
      const ref = event.objectRef;
      const resource =
        ref === undefined
          ? (event.requestUri.split('?', 1)[0] ?? '')
          : qualified(ref.resource, ref.subresource, ref.apiGroup);
      this.#refuse({
        verb: event.verb,
        resource,
        namespace: ref?.namespace ?? '',
        exampleUri: event.requestUri,
        rule: undefined,
        condition: `refused with 400: ${resolved.problem}`,
        caveat: undefined,
      });
      return;
    }
    const recorded = resolved.value;
    if (recorded.mismatch !== undefined) {
      this.#mismatched++;
      this.#firstMismatch ??= `${event.requestUri}: ${recorded.mismatch}`;
    }
    const decision = decideRequest(this.#policy, recorded.request, recorded.isUpgrade);
    const caveat = caveatOf(this.#policy, event, recorded, decision);
    if (decision.allowed) {
      this.#allowed++;
      if (caveat !== undefined) this.#uncertainAllowed.set(caveat, (this.#uncertainAllowed.get(caveat) ?? 0) + 1);
      return;
    }
    const { attributes } = recorded.request;
    this.#refuse({
      verb: attributes.verb,
      resource: attributes.isResourceRequest
        ? qualified(attributes.resource, attributes.subresource, attributes.apiGroup)
        : attributes.path,
      namespace: attributes.namespace,
      exampleUri: event.requestUri,
      rule: decision.rule,
      condition: refusedCondition(this.#policy, recorded, decision),
      caveat,
    });
  }

  #refuse(group: Omit<RefusedGroup, 'count'>): void {
    const key = JSON.stringify([
      group.verb,
      group.resource,
      group.namespace,
      group.rule,
      group.condition,
      group.caveat,
    ]);
    const seen = this.#groups.get(key);
    if (seen === undefined) this.#groups.set(key, { ...group, count: 1 });
    else seen.count++;
  }
}

/** `jobs.batch/status`, as kubectl names a resource of a group. */
function qualified(resource: string, subresource: string, apiGroup: string): string {
  return `${resource}${apiGroup === '' ? '' : `.${apiGroup}`}${subresource === '' ? '' : `/${subresource}`}`;
}

/** The condition in a refusal's reason, which reads `rule R of SOURCE allows WHAT CONDITION`. */
function refusedCondition(policy: Policy, recorded: RecordedRequest, decision: PolicyDecision): string {
  if (decision.rule === undefined) return 'no rule allows it';
  const { attributes } = recorded.request;
  for (const verb of [attributes.verb, 'create']) {
    const prefix = `rule ${decision.rule} of ${policy.source} allows ${describeRequest(attributes, verb)} `;
    if (decision.reason.startsWith(prefix)) return decision.reason.slice(prefix.length);
  }
  return decision.reason;
}

const DRY_RUN_DELETE_OPTIONS = Buffer.from('{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}');
const APPLY_PATCH = 'application/apply-patch+yaml';

/**
 * Whether what the event does not hold could change the decision: decided again with the other
 * possibility (a DeleteOptions body asking for a dry run; a server-side apply), by the same code.
 */
function caveatOf(
  policy: Policy,
  event: RecordedEvent,
  recorded: RecordedRequest,
  decision: PolicyDecision,
): Caveat | undefined {
  const { verb } = recorded.request.attributes;
  const isDelete = (verb === 'delete' || verb === 'deletecollection') && event.deleteOptions === undefined;
  if (!isDelete && verb !== 'patch') return undefined;
  const content = isDelete
    ? { contentType: 'application/json', contentEncoding: undefined, bytes: DRY_RUN_DELETE_OPTIONS }
    : { contentType: APPLY_PATCH, contentEncoding: undefined };
  const other = resolveTarget(isDelete ? 'DELETE' : 'PATCH', event.requestUri, content);
  if (!other.ok || decideRequest(policy, other.value, recorded.isUpgrade).allowed === decision.allowed)
    return undefined;
  return isDelete ? 'delete-body' : 'apply-patch';
}
