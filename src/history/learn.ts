/**
 * Learns an allow-list from the ambassador's audit log: the smallest policy in the format of
 * policy.ts that allows every request the log records and nothing else, in the terms a policy
 * decides on (verb, API group, resource/subresource, namespace, non-resource URL). resourceNames
 * are never learned: a policy naming every object seen breaks on the next object. Pure: the caller
 * reads the lines and prints the result.
 *
 * Learned: decisions `allow`, `would_deny` (what --policy-mode log lets through) and `throttled`
 * (the app wanted it), once per request at its last stage (ResponseComplete, or Panic when the
 * ambassador failed), or at ResponseStarted for a request still open when the log ends. Not
 * learned, but listed for the reviewer: `deny` (refused by the request filter or an enforced
 * policy: learning it would undo the refusal) and requests a policy cannot name without a
 * wildcard. Counted: `invalid` (no attributes), operational log lines and malformed lines.
 */
import { readObjectRef, type ObjectRef } from './apiserver-event.ts';
import { AUDIT_ANNOTATIONS } from '../audit/event.ts';
import { isStreamingSubresource, nonResourceAttributes, type RequestAttributes } from '../request/attributes.ts';
import { mayCreateObject } from '../request/resolve.ts';
import { parseRequestTarget } from '../request/target.ts';
import { isRecord, POD_NAMESPACE_PLACEHOLDER } from '../config/document.ts';
import {
  plural,
  renderPolicyYaml,
  unlearnedLines,
  type LearnedRule,
  type LearnedResourceRule,
  type LearnedUrlRule,
} from './learn-render.ts';
import { LearnedUse, type ResourceUse, type Unlearned, type UrlUse } from './learned-use.ts';
import { StageTally } from './stages.ts';

/** What one audit event says, as far as learning needs; other fields (level, bodies, …) are ignored. */
export interface AuditEvent {
  readonly auditId: string;
  readonly stage: string;
  readonly decision: string;
  readonly reason: string | undefined;
  readonly verb: string;
  readonly requestUri: string;
  readonly objectRef: ObjectRef | undefined;
  readonly receivedAt: string | undefined;
  readonly stageAt: string | undefined;
}

export type AuditLine =
  | { readonly kind: 'blank' }
  /** A JSON line that is not an audit event: the operational log shares stdout with events. */
  | { readonly kind: 'operational' }
  | { readonly kind: 'malformed'; readonly problem: string }
  | { readonly kind: 'event'; readonly event: AuditEvent };

const LEARNED_DECISIONS = ['allow', 'would_deny', 'throttled'] as const;
type LearnedDecision = (typeof LEARNED_DECISIONS)[number];
const KNOWN_DECISIONS: ReadonlySet<string> = new Set([...LEARNED_DECISIONS, 'deny', 'invalid']);

export function parseAuditLine(text: string): AuditLine {
  if (text.trim() === '') return { kind: 'blank' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'malformed', problem: 'not JSON' };
  }
  if (!isRecord(value)) return { kind: 'malformed', problem: 'not a JSON object' };
  if (value['kind'] !== 'Event') return { kind: 'operational' };
  const missing = ['auditID', 'stage', 'verb', 'requestURI'].filter((field) => typeof value[field] !== 'string');
  if (missing.length > 0) return { kind: 'malformed', problem: `an event without ${missing.join(', ')}` };
  const annotations = isRecord(value['annotations']) ? value['annotations'] : {};
  const decision = annotations[AUDIT_ANNOTATIONS.decision];
  if (typeof decision !== 'string' || !KNOWN_DECISIONS.has(decision)) {
    return { kind: 'malformed', problem: `an event without a known ${AUDIT_ANNOTATIONS.decision} annotation` };
  }
  const objectRef = value['objectRef'];
  if (
    objectRef !== undefined &&
    !(isRecord(objectRef) && typeof objectRef['resource'] === 'string' && objectRef['resource'] !== '')
  ) {
    return { kind: 'malformed', problem: 'an objectRef without a resource' };
  }
  return {
    kind: 'event',
    event: {
      auditId: String(value['auditID']),
      stage: String(value['stage']),
      decision,
      reason: optionalString(annotations[AUDIT_ANNOTATIONS.reason]),
      verb: String(value['verb']),
      requestUri: String(value['requestURI']),
      objectRef: objectRef === undefined ? undefined : readObjectRef(objectRef),
      receivedAt: optionalString(value['requestReceivedTimestamp']),
      stageAt: optionalString(value['stageTimestamp']),
    },
  };
}

/** The attributes the ambassador decided the request on, read back from its event. */
function attributesOf(event: AuditEvent): RequestAttributes {
  const parsed = parseRequestTarget(event.requestUri);
  const path = parsed.ok ? parsed.value.decodedPath : (event.requestUri.split('?')[0] ?? '');
  const ref = event.objectRef;
  if (ref === undefined) return nonResourceAttributes(event.verb, path);
  return { isResourceRequest: true, verb: event.verb, apiPrefix: ref.apiGroup === '' ? 'api' : 'apis', path, ...ref };
}

export interface MalformedLine {
  readonly line: number;
  readonly problem: string;
}

export interface AuditLogSummary {
  readonly events: number;
  readonly firstAt: string | undefined;
  readonly lastAt: string | undefined;
  readonly learned: Readonly<Record<LearnedDecision, number>>;
  /** Requests with a ResponseStarted event but no last stage: still open when the log ended. */
  readonly stillOpen: number;
  /** ResponseStarted events of requests learned at their last stage. */
  readonly startedEvents: number;
  readonly otherStages: number;
  readonly invalid: number;
  readonly operationalLines: number;
  readonly malformedLines: number;
  readonly firstMalformed: readonly MalformedLine[];
  readonly denied: ReadonlyMap<string, Readonly<Unlearned>>;
  readonly inexpressible: ReadonlyMap<string, Readonly<Unlearned>>;
  readonly resources: readonly Readonly<ResourceUse>[];
  readonly urls: readonly Readonly<UrlUse>[];
}

const MALFORMED_SHOWN = 5;

/** Reads an audit log line by line and sums up what a policy must allow; `finish` after the last line. */
export class AuditLogReader {
  #lineNumber = 0;
  readonly #stages = new StageTally<AuditEvent>();
  readonly #learned: Record<LearnedDecision, number> = { allow: 0, would_deny: 0, throttled: 0 };
  #invalid = 0;
  #operationalLines = 0;
  #malformedLines = 0;
  readonly #firstMalformed: MalformedLine[] = [];
  readonly #use = new LearnedUse();

  read(text: string): void {
    this.#lineNumber++;
    const line = parseAuditLine(text);
    switch (line.kind) {
      case 'blank':
        return;
      case 'operational':
        this.#operationalLines++;
        return;
      case 'malformed':
        this.#malformedLines++;
        if (this.#firstMalformed.length < MALFORMED_SHOWN)
          this.#firstMalformed.push({ line: this.#lineNumber, problem: line.problem });
        return;
      case 'event':
        this.#readEvent(line.event);
    }
  }

  /** What the log held, once its last line has been read. */
  finish(): AuditLogSummary {
    const open = this.#stages.takeOpen();
    for (const event of open) this.#learn(event);
    const stages = this.#stages;
    return {
      events: stages.events,
      firstAt: stages.firstAt,
      lastAt: stages.lastAt,
      learned: { ...this.#learned },
      stillOpen: open.length,
      startedEvents: stages.started - open.length,
      otherStages: stages.otherStages,
      invalid: this.#invalid,
      operationalLines: this.#operationalLines,
      malformedLines: this.#malformedLines,
      firstMalformed: [...this.#firstMalformed],
      denied: new Map(this.#use.denied),
      inexpressible: new Map(this.#use.inexpressible),
      resources: [...this.#use.resources.values()],
      urls: [...this.#use.urls.values()],
    };
  }

  #readEvent(event: AuditEvent): void {
    const last = this.#stages.accept(event);
    if (last !== undefined) this.#learn(last);
  }

  #learn(event: AuditEvent): void {
    if (event.decision === 'invalid') {
      this.#invalid++;
      return;
    }
    const attributes = attributesOf(event);
    if (event.decision === 'deny') {
      this.#use.deny(attributes, event.reason ?? 'refused');
      return;
    }
    if (this.#use.allow(attributes, impliedVerbs(attributes))) this.#learned[event.decision as LearnedDecision]++;
  }
}

/**
 * The verbs the policy must allow for the request, where the event records one: a WebSocket exec,
 * attach or port-forward is a GET that kube-apiserver (≥1.35), and so the policy, also authorizes
 * as `create`, and so is an update of a resource that creates on update. (A server-side apply is
 * one too, but the event does not say which patch type was sent.)
 */
function impliedVerbs(attributes: RequestAttributes): readonly string[] {
  const upgrade = attributes.verb === 'get' && isStreamingSubresource(attributes);
  return upgrade || mayCreateObject(attributes, undefined) ? [attributes.verb, 'create'] : [attributes.verb];
}

const VERB_ORDER = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const MERGED_DIMENSIONS = ['resources', 'namespaces', 'apiGroups'] as const;
type Dimension = (typeof MERGED_DIMENSIONS)[number];

/**
 * The rules for what the log used, each a product verbs × apiGroups × resources × namespaces that
 * holds only combinations the log used. It starts with one rule per (namespace, group, resource)
 * and merges two rules whenever they differ in one dimension only (their union is then exactly
 * both), first across resources, then namespaces, then groups, until nothing merges. The log's own
 * namespace `podNamespace` becomes $(POD_NAMESPACE).
 */
export function learnRules(
  summary: Pick<AuditLogSummary, 'resources' | 'urls'>,
  podNamespace: string | undefined,
): LearnedRule[] {
  let rules: LearnedResourceRule[] = summary.resources.map((use) => ({
    verbs: sortVerbs(use.verbs),
    apiGroups: [use.apiGroup],
    resources: [use.resource],
    namespaces: [use.namespace === podNamespace ? POD_NAMESPACE_PLACEHOLDER : use.namespace],
    requests: use.requests,
  }));
  let before;
  do {
    before = rules.length;
    for (const dimension of MERGED_DIMENSIONS) rules = mergeAlong(rules, dimension);
  } while (rules.length < before);
  rules.sort(compareResourceRules);
  return [...rules, ...urlRules(summary.urls)];
}

function mergeAlong(rules: readonly LearnedResourceRule[], dimension: Dimension): LearnedResourceRule[] {
  const merged = new Map<string, LearnedResourceRule>();
  for (const rule of rules) {
    const key = JSON.stringify([
      rule.verbs,
      ...MERGED_DIMENSIONS.filter((other) => other !== dimension).map((other) => rule[other]),
    ]);
    const existing = merged.get(key);
    merged.set(
      key,
      existing === undefined
        ? rule
        : {
            ...existing,
            [dimension]: SORTS[dimension]([...existing[dimension], ...rule[dimension]]),
            requests: existing.requests + rule.requests,
          },
    );
  }
  return [...merged.values()];
}

/** One rule per set of verbs, listing the URLs used with exactly those verbs. */
function urlRules(urls: readonly Readonly<UrlUse>[]): LearnedUrlRule[] {
  const byVerbs = new Map<string, { verbs: string[]; urls: string[]; requests: number }>();
  for (const use of urls) {
    const verbs = sortVerbs(use.verbs);
    const key = verbs.join(' ');
    const group = byVerbs.get(key) ?? { verbs, urls: [], requests: 0 };
    byVerbs.set(key, group);
    group.urls.push(use.url);
    group.requests += use.requests;
  }
  return [...byVerbs.values()]
    .map((group) => ({ verbs: group.verbs, nonResourceURLs: group.urls.sort(), requests: group.requests }))
    .sort((a, b) => compareText(a.nonResourceURLs[0] ?? '', b.nonResourceURLs[0] ?? ''));
}

function sortVerbs(verbs: Iterable<string>): string[] {
  const rank = (verb: string): number => (VERB_ORDER.includes(verb) ? VERB_ORDER.indexOf(verb) : VERB_ORDER.length);
  return [...new Set(verbs)].sort((a, b) => rank(a) - rank(b) || compareText(a, b));
}

/** The pod's own namespace first, named namespaces next, the cluster scope ("") last. */
function namespaceRank(namespace: string): number {
  if (namespace === POD_NAMESPACE_PLACEHOLDER) return 0;
  return namespace === '' ? 2 : 1;
}

function sortNamespaces(namespaces: Iterable<string>): string[] {
  return [...new Set(namespaces)].sort((a, b) => namespaceRank(a) - namespaceRank(b) || compareText(a, b));
}

function sortText(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(compareText);
}

const SORTS: Readonly<Record<Dimension, (values: Iterable<string>) => string[]>> = {
  resources: sortText,
  namespaces: sortNamespaces,
  apiGroups: sortText,
};

function compareResourceRules(a: LearnedResourceRule, b: LearnedResourceRule): number {
  const [na = '', ga = '', ra = ''] = [a.namespaces[0], a.apiGroups[0], a.resources[0]];
  const [nb = '', gb = '', rb = ''] = [b.namespaces[0], b.apiGroups[0], b.resources[0]];
  return namespaceRank(na) - namespaceRank(nb) || compareText(na, nb) || compareText(ga, gb) || compareText(ra, rb);
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** The policy as YAML a person reviews: a header saying where it came from and what was left out. */
export function renderLearnedPolicy(summary: AuditLogSummary, rules: readonly LearnedRule[], source: string): string {
  return renderPolicyYaml(header(summary, source), rules);
}

function header(summary: AuditLogSummary, source: string): string[] {
  const learned = Object.values(summary.learned).reduce((sum, count) => sum + count, 0);
  const period =
    summary.firstAt === undefined || summary.lastAt === undefined ? '' : `, ${summary.firstAt} to ${summary.lastAt}`;
  const lines = [
    `Learned by kube-api-ambassador policy learn from ${source}; review it before enforcing it.`,
    `${plural(summary.events, 'audit event')}${period}.`,
    `Learned from ${plural(learned, 'request')}: ${summary.learned.allow} allowed, ${summary.learned.would_deny} would have been denied (--policy-mode log), ` +
      `${summary.learned.throttled} throttled${summary.stillOpen === 0 ? '' : `; ${summary.stillOpen} of them still open when the log ended`}.`,
    `Skipped: ${skipped(summary)}.`,
    'resourceNames are never learned: each rule covers every object of its resources. Requests the audit',
    'log leaves out (by default /healthz, /livez, /readyz and /metrics; more under an --audit-policy) are not learned either.',
  ];
  if (summary.denied.size > 0) {
    lines.push(
      '',
      `WARNING: these were denied, so they are NOT in this policy; add a rule by hand if the app needs them:`,
    );
    lines.push(...unlearnedLines(summary.denied));
  }
  if (summary.inexpressible.size > 0) {
    lines.push('', 'WARNING: these cannot be allowed without allowing more, so they are NOT in this policy:');
    lines.push(...unlearnedLines(summary.inexpressible));
  }
  return lines;
}

function skipped(summary: AuditLogSummary): string {
  const parts = [
    summary.invalid === 0 ? '' : `${plural(summary.invalid, 'invalid request')} (no attributes to learn from)`,
    summary.startedEvents === 0
      ? ''
      : `${plural(summary.startedEvents, 'ResponseStarted event')} (each request counts once, at its last stage)`,
    summary.otherStages === 0 ? '' : `${plural(summary.otherStages, 'event')} at other stages`,
    summary.operationalLines === 0 ? '' : plural(summary.operationalLines, 'operational log line'),
    summary.malformedLines === 0 ? '' : malformed(summary),
  ].filter((part) => part !== '');
  return parts.length === 0 ? 'nothing' : parts.join(', ');
}

function malformed(summary: AuditLogSummary): string {
  const shown = summary.firstMalformed.map(({ line, problem }) => `line ${line}: ${problem}`);
  if (summary.malformedLines > shown.length) shown.push('…');
  return `${plural(summary.malformedLines, 'malformed line')} (${shown.join(', ')})`;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
