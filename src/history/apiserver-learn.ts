/**
 * Learns an allow-list from kube-apiserver's audit log: the requests one user (a workload's
 * service account) made that the API server allowed (`authorization.k8s.io/decision: allow`),
 * each resolved from its requestURI by the code that resolves live requests, then merged into
 * rules by `learnRules`. Not learned, and listed for the reviewer: requests the API server forbade,
 * requests made as another user (Impersonate-User: the ambassador drops those headers, so through
 * it they would be made as the service account), and requests the ambassador refuses as
 * malformed. Counted: events without an authorization decision (refused before authorization, or
 * RequestReceived). Where the attributes resolved from requestURI differ from the event's verb
 * and objectRef, the resolved ones are learned (the ambassador decides on them) and the header says so.
 */
import type { RecordedEvent } from './apiserver-event.ts';
import type { RecordedLogSummary } from './recorded-log.ts';
import { learnRules } from './learn.ts';
import { describeRequest } from '../policy/policy.ts';
import { plural, renderPolicyYaml, unlearnedLines, type LearnedRule } from './learn-render.ts';
import { describeTarget, LearnedUse, tally, type Unlearned } from './learned-use.ts';
import { decidedVerbs, resolveRecorded } from './recorded-request.ts';

export interface ApiServerLearning {
  readonly learned: number;
  readonly undecided: number;
  readonly use: LearnedUse;
  readonly notLearned: ReadonlyMap<string, Readonly<Unlearned>>;
  readonly mismatched: ReadonlyMap<string, Readonly<Unlearned>>;
}

export class ApiServerLearner {
  readonly #use = new LearnedUse();
  readonly #notLearned = new Map<string, Unlearned>();
  readonly #mismatched = new Map<string, Unlearned>();
  #learned = 0;
  #undecided = 0;

  /** One request, at its last stage (see RecordedLog). */
  learn(event: RecordedEvent): void {
    if (event.decision === undefined) {
      this.#undecided++;
      return;
    }
    if (event.impersonatedUser !== undefined) {
      const reason = `made as ${event.impersonatedUser} (Impersonate-User); the ambassador drops a client's Impersonate-* headers, so through it the request is the service account's own`;
      tally(this.#notLearned, recordedTarget(event), reason);
      return;
    }
    const resolved = resolveRecorded(event);
    if (!resolved.ok) {
      tally(this.#notLearned, recordedTarget(event), `the ambassador refuses it with 400: ${resolved.problem}`);
      return;
    }
    const recorded = resolved.value;
    const { attributes } = recorded.request;
    if (event.decision === 'forbid') {
      this.#use.deny(
        attributes,
        event.reason === undefined || event.reason === '' ? 'forbidden' : `forbidden: ${event.reason}`,
      );
      return;
    }
    if (recorded.mismatch !== undefined) tally(this.#mismatched, describeTarget(attributes), recorded.mismatch);
    if (this.#use.allow(attributes, decidedVerbs(recorded))) this.#learned++;
  }

  finish(): ApiServerLearning {
    return {
      learned: this.#learned,
      undecided: this.#undecided,
      use: this.#use,
      notLearned: this.#notLearned,
      mismatched: this.#mismatched,
    };
  }
}

/**
 * The request as the event records it, without the object's name or the query, so that a log of
 * any length is summed up in a line per kind of request.
 */
function recordedTarget(event: RecordedEvent): string {
  const ref = event.objectRef;
  if (ref !== undefined)
    return describeRequest({ isResourceRequest: true, verb: event.verb, apiPrefix: '', path: '', ...ref, name: '' });
  return `${event.verb} on ${JSON.stringify(event.requestUri.split('?', 1)[0] ?? '')}`;
}

/** The learned policy as YAML, its header saying where it came from and what was left out. */
export function renderApiServerPolicy(
  log: RecordedLogSummary,
  learning: ApiServerLearning,
  user: string,
  podNamespace: string | undefined,
  source: string,
): string {
  const rules: LearnedRule[] = learnRules(
    { resources: [...learning.use.resources.values()], urls: [...learning.use.urls.values()] },
    podNamespace,
  );
  return renderPolicyYaml(header(log, learning, user, source), rules);
}

function header(log: RecordedLogSummary, learning: ApiServerLearning, user: string, source: string): string[] {
  const period = log.firstAt === undefined || log.lastAt === undefined ? '' : `, ${log.firstAt} to ${log.lastAt}`;
  const others = log.users.size - (log.users.has(user) ? 1 : 0);
  const lines = [
    `Learned by kube-api-ambassador policy learn from ${source} (kube-apiserver's audit log) for ${user}; review it before enforcing it.`,
    `${plural(log.events, 'audit event')}${period}: ${plural(log.requests, 'request')} of ${user}, ${plural(otherRequests(log, user), 'request')} of ${plural(others, 'other user')}.`,
    `Learned from ${plural(learning.learned, 'request')} the API server allowed${log.stillOpen === 0 ? '' : `; ${log.stillOpen} of ${user}'s requests still open when the log ended`}.`,
    `Skipped: ${skipped(log, learning)}.`,
    'resourceNames are never learned: each rule covers every object of its resources. Requests the',
    "cluster's audit policy leaves out (level None, or an omitted stage) are not learned either.",
  ];
  const sections: [string, ReadonlyMap<string, Readonly<Unlearned>>][] = [
    [
      'WARNING: the API server forbade these, so they are NOT in this policy; add a rule by hand if the app needs them:',
      learning.use.denied,
    ],
    [
      'WARNING: these cannot be allowed without allowing more, so they are NOT in this policy:',
      learning.use.inexpressible,
    ],
    ['WARNING: these are NOT in this policy:', learning.notLearned],
    [
      'NOTE: the ambassador resolves these otherwise than the API server recorded them; learned as the ambassador resolves them:',
      learning.mismatched,
    ],
  ];
  for (const [title, unlearned] of sections) {
    if (unlearned.size > 0) lines.push('', title, ...unlearnedLines(unlearned));
  }
  return lines;
}

function otherRequests(log: RecordedLogSummary, user: string): number {
  let count = 0;
  for (const [name, requests] of log.users) if (name !== user) count += requests;
  return count;
}

function skipped(log: RecordedLogSummary, learning: ApiServerLearning): string {
  const parts = [
    learning.use.denied.size === 0 ? '' : `${plural(sum(learning.use.denied), 'forbidden request')} (listed below)`,
    learning.undecided === 0
      ? ''
      : `${plural(learning.undecided, 'request')} without an authorization decision (refused before authorization)`,
    log.startedEvents === 0
      ? ''
      : `${plural(log.startedEvents, 'ResponseStarted event')} (each request counts once, at its last stage)`,
    log.otherStages === 0 ? '' : plural(log.otherStages, 'RequestReceived event'),
    log.otherLines === 0 ? '' : plural(log.otherLines, 'JSON line that is not an audit event'),
    log.malformedLines === 0 ? '' : malformed(log),
  ].filter((part) => part !== '');
  return parts.length === 0 ? 'nothing' : parts.join(', ');
}

function sum(unlearned: ReadonlyMap<string, Readonly<Unlearned>>): number {
  let count = 0;
  for (const { count: each } of unlearned.values()) count += each;
  return count;
}

function malformed(log: RecordedLogSummary): string {
  const shown = log.firstMalformed.map(({ line, problem }) => `line ${line}: ${problem}`);
  if (log.malformedLines > shown.length) shown.push('…');
  return `${plural(log.malformedLines, 'malformed line')} (${shown.join(', ')})`;
}
