/**
 * The allow-list: rules shaped like RBAC PolicyRules, validated and compiled once (compile.ts), then
 * matched against the request attributes the API server itself will act on. Default deny.
 *
 *   rules:
 *     - name: read-pods                     # optional, named in denials and logs
 *       verbs: [get, list, watch]
 *       apiGroups: [""]
 *       resources: [pods, pods/log]         # also "*", and subresource wildcards as in RBAC and audit
 *       resourceNames: [web]                # optional
 *       namespaces: ["$(POD_NAMESPACE)"]    # optional; "" means cluster-scoped
 *       when: { follow: false }             # optional conditions, see Conditions (conditions.ts)
 *     - verbs: [get]
 *       nonResourceURLs: [/version, /healthz*]
 */
import type { RequestAttributes } from '../request/attributes.ts';
import type { ResolvedRequest } from '../request/resolve.ts';
import { resourceMatches, urlMatches } from '../request/rule-match.ts';
import { failedCondition, type Conditions, type FailedCondition, type RefusalCode } from './conditions.ts';

/** `*` in a rule's verbs, apiGroups, resources or namespaces: any. */
export const WILDCARD = '*';

/** A validated rule; `namespaces` undefined means every namespace, `""` in it the cluster scope. */
export interface CompiledRule {
  readonly label: string;
  readonly verbs: ReadonlySet<string>;
  readonly apiGroups: ReadonlySet<string> | undefined;
  readonly resources: readonly string[] | undefined;
  readonly resourceNames: ReadonlySet<string> | undefined;
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly nonResourceURLs: readonly string[] | undefined;
  readonly when: Conditions | undefined;
}

export interface Policy {
  /** Where the policy came from, for messages. */
  readonly source: string;
  readonly rules: readonly CompiledRule[];
}

/** The allow-list's answer to one request (the audit record's `Decision` is record.ts's). */
export interface PolicyDecision {
  readonly allowed: boolean;
  /** The rule that allowed the request, or the one whose condition it failed. */
  readonly rule: string | undefined;
  /** Why, in words a person can act on. */
  readonly reason: string;
  /** The status a refusal is answered with (see RefusalCode). */
  readonly code: RefusalCode;
}

/** Whether the rule covers the request's attributes, before conditions. */
function ruleCovers(rule: CompiledRule, attributes: RequestAttributes, verb: string): boolean {
  if (!rule.verbs.has(WILDCARD) && !rule.verbs.has(verb)) return false;
  if (!attributes.isResourceRequest)
    return rule.nonResourceURLs !== undefined && urlMatches(rule.nonResourceURLs, attributes.path);
  if (rule.resources === undefined || rule.apiGroups === undefined) return false;
  if (!rule.apiGroups.has(WILDCARD) && !rule.apiGroups.has(attributes.apiGroup)) return false;
  if (!resourceMatches(rule.resources, attributes.resource, attributes.subresource)) return false;
  if (rule.resourceNames !== undefined && !rule.resourceNames.has(attributes.name)) return false;
  return rule.namespaces === undefined || rule.namespaces.has(attributes.namespace);
}

/**
 * Decides a request: the first rule that covers it and whose conditions it meets allows it.
 * `verb` is normally the request's own; an exec/attach/portforward WebSocket upgrade is decided
 * for both `get` and `create`, as kube-apiserver ≥1.35 authorizes it.
 */
export function decide(
  policy: Policy,
  request: ResolvedRequest,
  verb: string = request.attributes.verb,
): PolicyDecision {
  const { attributes } = request;
  let firstFailure: { rule: string; failure: FailedCondition } | undefined;
  for (const rule of policy.rules) {
    if (!ruleCovers(rule, attributes, verb)) continue;
    const failure = rule.when === undefined ? undefined : failedCondition(rule.when, request, verb);
    if (failure === undefined)
      return { allowed: true, rule: rule.label, reason: `allowed by rule ${rule.label}`, code: 403 };
    firstFailure ??= { rule: rule.label, failure };
  }
  if (firstFailure !== undefined) {
    const { rule, failure } = firstFailure;
    return {
      allowed: false,
      rule,
      reason: `rule ${rule} of ${policy.source} allows ${describeRequest(attributes, verb)} ${failure.condition}`,
      code: failure.code,
    };
  }
  return {
    allowed: false,
    rule: undefined,
    reason: `no rule of ${policy.source} allows ${describeRequest(attributes, verb)}`,
    code: 403,
  };
}

/** apiserver-style phrasing: `list on resource "pods" in API group "" in the namespace "x"`. */
export function describeRequest(attributes: RequestAttributes, verb: string = attributes.verb): string {
  if (!attributes.isResourceRequest) return `${verb} on ${JSON.stringify(attributes.path)}`;
  const resource =
    attributes.subresource === '' ? attributes.resource : `${attributes.resource}/${attributes.subresource}`;
  const name = attributes.name === '' ? '' : ` named ${JSON.stringify(attributes.name)}`;
  const scope =
    attributes.namespace === '' ? ' at the cluster scope' : ` in the namespace ${JSON.stringify(attributes.namespace)}`;
  return `${verb} on resource ${JSON.stringify(resource)}${name} in API group ${JSON.stringify(attributes.apiGroup)}${scope}`;
}

/**
 * Decides a request as the proxy sees it. Some requests are authorized by kube-apiserver for a
 * second verb, and the policy must allow both: an upgrade (exec, attach, port-forward) over
 * WebSocket is a GET that also needs `create` (≥1.35), as the SPDY POST does; a write that may
 * create its object (`mayCreate`) also needs `create`.
 */
export function decideRequest(policy: Policy, request: ResolvedRequest, isUpgrade: boolean): PolicyDecision {
  const decision = decide(policy, request);
  if (!decision.allowed || !(isUpgrade || request.mayCreate) || request.attributes.verb === 'create') return decision;
  return decide(policy, request, 'create');
}
