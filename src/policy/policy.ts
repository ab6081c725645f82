/**
 * The allow-list: rules shaped like RBAC PolicyRules, validated and compiled once, then matched
 * against the request attributes the API server itself will act on. Default deny.
 *
 *   rules:
 *     - name: read-pods                     # optional, named in denials and logs
 *       verbs: [get, list, watch]
 *       apiGroups: [""]
 *       resources: [pods, pods/log]         # also "*", and subresource wildcards as in RBAC and audit
 *       resourceNames: [web]                # optional
 *       namespaces: ["$(POD_NAMESPACE)"]    # optional; "" means cluster-scoped
 *       when: { follow: false }             # optional conditions, see Conditions
 *     - verbs: [get]
 *       nonResourceURLs: [/version, /healthz*]
 */
import { isRecord, POD_NAMESPACE_PLACEHOLDER } from '../config/document.ts';
import { nearest } from '../config/nearest.ts';
import type { RequestAttributes } from '../request/attributes.ts';
import { WRITE_VERBS, dryRunOf } from '../request/dry-run.ts';
import type { ResolvedRequest } from '../request/resolve.ts';
import { resourceMatches, urlMatches } from '../request/rule-match.ts';
import { pinsLabelKey } from '../request/selectors.ts';
import { isTrueQueryValue, queryValue, queryValues } from '../request/target.ts';

/**
 * Lists, watches and collection deletes must select by label: their selector must hold an
 * equality (`=`, `==`), `in` or existence requirement, on one of `requireKeys` when given.
 * Negative requirements (`!=`, `notin`, `!key`) and `gt`/`lt` never satisfy it: alone, they
 * select nearly everything.
 */
export interface LabelSelectorCondition {
  readonly requireKeys: ReadonlySet<string> | undefined;
}

export interface Conditions {
  /** Writes only as dry runs, in the API server's reading (see `dryRunOf`). */
  readonly dryRun?: boolean;
  readonly labelSelector?: LabelSelectorCondition;
  /** Whether log requests may follow. */
  readonly follow?: boolean;
  /** exec, attach and log may only name these containers. */
  readonly containers?: readonly string[];
  /** exec may only run exactly these argument vectors. */
  readonly commands?: readonly (readonly string[])[];
  /** Whether exec and attach may send stdin, or ask for a TTY. */
  readonly stdin?: boolean;
  readonly tty?: boolean;
  /**
   * port-forward may only reach these ports, named in the request's `ports=` (as the WebSocket
   * clients of client-node and the Python client send them). kubectl names its ports inside the
   * SPDY stream instead, where the ambassador does not look, so such a rule refuses kubectl.
   */
  readonly ports?: readonly number[];
}

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

export interface Decision {
  readonly allowed: boolean;
  /** The rule that allowed the request, or the one whose condition it failed. */
  readonly rule: string | undefined;
  /** Why, in words a person can act on. */
  readonly reason: string;
  /**
   * The status a refusal is answered with: 403, or 400/415 when a rule's condition could not be
   * checked because the request's DeleteOptions body cannot be read.
   */
  readonly code: 403 | 400 | 415;
}

const ALL = '*';
const RULE_KEYS = new Set([
  'name',
  'verbs',
  'apiGroups',
  'resources',
  'resourceNames',
  'namespaces',
  'nonResourceURLs',
  'when',
]);
const CONDITION_KEYS = new Set([
  'dryRun',
  'labelSelector',
  'follow',
  'containers',
  'commands',
  'stdin',
  'tty',
  'ports',
]);
const TOP_LEVEL_KEYS = new Set(['apiVersion', 'kind', 'rules']);
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The verbs a resource request can have, as kube-apiserver resolves them (RequestInfoFactory.NewRequestInfo,
 * k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): from the method, list/watch/deletecollection for
 * collections, watch and proxy from the legacy verb-in-path forms.
 */
const RESOURCE_REQUEST_VERBS = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'proxy',
];
/** A non-resource request's verb is its HTTP method in lower case (the same function). */
const NON_RESOURCE_REQUEST_VERBS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];
/**
 * Verbs the API server checks on what a request carries, never a request's own verb: PodSecurityPolicy's
 * use, RBAC's bind and escalate, impersonate, and the signers' approve, sign and attest (kubernetes.io,
 * "Authorization": Determine the Request Verb).
 */
const AUTHORIZATION_ONLY_VERBS = new Set(['use', 'bind', 'escalate', 'impersonate', 'approve', 'sign', 'attest']);

/** Without `$(POD_NAMESPACE)`'s value: how the ambassador learns it. Callers with another way say theirs. */
export const POD_NAMESPACE_SOURCES = 'the POD_NAMESPACE variable or a service account namespace file';

/**
 * `warnings` are about rules that are valid but cannot do what they seem to: a verb no request has
 * (RBAC keeps custom verbs, so the policy does too).
 */
export type PolicyCompile =
  | { readonly ok: true; readonly policy: Policy; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Validates a parsed policy document and compiles it. Every problem is reported, each naming the
 * rule and field. `podNamespace` replaces `$(POD_NAMESPACE)`; without it that placeholder is a
 * problem, which names `podNamespaceSources` as the ways to give it.
 */
export function compilePolicy(
  document: unknown,
  source: string,
  podNamespace: string | undefined,
  podNamespaceSources: string = POD_NAMESPACE_SOURCES,
): PolicyCompile {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!isRecord(document)) return { ok: false, problems: ['the policy must be a mapping with a "rules" list'] };
  for (const key of Object.keys(document)) {
    if (!TOP_LEVEL_KEYS.has(key)) problems.push(`${key}: unknown field (${suggestKey(key, TOP_LEVEL_KEYS)})`);
  }
  const rules = document['rules'];
  // An empty list allows nothing, as an RBAC Role without rules: the start of `--policy-mode log`.
  if (!Array.isArray(rules)) {
    problems.push('rules: must be a list (empty allows nothing)');
    return { ok: false, problems };
  }
  const compiled: CompiledRule[] = [];
  const namespace = { value: podNamespace, sources: podNamespaceSources };
  rules.forEach((rule: unknown, index) => {
    const rule_ = compileRule(rule, index, namespace, problems);
    if (rule_ !== undefined) {
      compiled.push(rule_);
      warnings.push(...verbWarnings(rule_, `rules[${index}]`));
    }
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, policy: { source, rules: compiled }, warnings };
}

/** `did you mean verbs?`, else the list of what the field may be. */
function suggestKey(key: string, known: ReadonlySet<string>): string {
  const suggestion = nearest(key, known);
  return suggestion === undefined ? `expected ${[...known].join(', ')}` : `did you mean ${suggestion}?`;
}

/** A warning for each verb of the rule that no request it could match has. */
function verbWarnings(rule: CompiledRule, at: string): string[] {
  const requestVerbs = rule.nonResourceURLs === undefined ? RESOURCE_REQUEST_VERBS : NON_RESOURCE_REQUEST_VERBS;
  const kind = rule.nonResourceURLs === undefined ? 'resource request' : 'request for a non-resource URL';
  const warnings: string[] = [];
  for (const verb of rule.verbs) {
    if (verb === ALL || requestVerbs.includes(verb)) continue;
    if (AUTHORIZATION_ONLY_VERBS.has(verb)) {
      warnings.push(
        `${at}.verbs: ${JSON.stringify(verb)} is checked by the API server on what a request carries, never a request's own verb: it allows nothing here`,
      );
      continue;
    }
    const suggestion = nearest(verb, requestVerbs);
    warnings.push(
      `${at}.verbs: ${JSON.stringify(verb)} is not the verb of any ${kind}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}; ` +
        `it is kept, as RBAC keeps custom verbs, but allows nothing. Their verbs: ${requestVerbs.join(', ')}`,
    );
  }
  return warnings;
}

interface PodNamespace {
  readonly value: string | undefined;
  readonly sources: string;
}

function compileRule(
  rule: unknown,
  index: number,
  podNamespace: PodNamespace,
  problems: string[],
): CompiledRule | undefined {
  const at = `rules[${index}]`;
  if (!isRecord(rule)) {
    problems.push(`${at}: must be a mapping`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.has(key)) problems.push(`${at}.${key}: unknown field (${suggestKey(key, RULE_KEYS)})`);
  }
  const name = rule['name'];
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    problems.push(`${at}.name: must be a non-empty string`);
  const label = typeof name === 'string' && name !== '' ? `"${name}" (${at})` : at;

  const verbs = stringList(rule, 'verbs', at, problems, { required: true });
  const apiGroups = stringList(rule, 'apiGroups', at, problems, { allowEmptyString: true });
  const resources = stringList(rule, 'resources', at, problems);
  const resourceNames = stringList(rule, 'resourceNames', at, problems);
  const namespaces = stringList(rule, 'namespaces', at, problems, { allowEmptyString: true });
  const nonResourceURLs = stringList(rule, 'nonResourceURLs', at, problems);

  if (
    nonResourceURLs !== undefined &&
    (resources !== undefined || apiGroups !== undefined || resourceNames !== undefined || namespaces !== undefined)
  ) {
    problems.push(`${at}: nonResourceURLs cannot be combined with apiGroups, resources, resourceNames or namespaces`);
  }
  if (nonResourceURLs === undefined && resources === undefined) {
    problems.push(`${at}: needs resources (with apiGroups) or nonResourceURLs`);
  }
  if (resources !== undefined && apiGroups === undefined) {
    problems.push(`${at}.apiGroups: required with resources (use [""] for the core group, as in RBAC)`);
  }
  if (resourceNames !== undefined && resources === undefined) problems.push(`${at}.resourceNames: requires resources`);
  for (const url of nonResourceURLs ?? []) {
    if (!url.startsWith('/') && url !== ALL)
      problems.push(`${at}.nonResourceURLs: ${JSON.stringify(url)} must start with "/"`);
    if (url.includes(ALL) && url.indexOf(ALL) !== url.length - 1) {
      problems.push(`${at}.nonResourceURLs: ${JSON.stringify(url)} may only have "*" at the end`);
    }
  }
  const resolvedNamespaces = namespaces?.map((namespace) => {
    if (namespace !== POD_NAMESPACE_PLACEHOLDER) {
      if (namespace !== '' && namespace !== ALL && !NAMESPACE_NAME.test(namespace)) {
        problems.push(`${at}.namespaces: ${JSON.stringify(namespace)} is not a namespace name`);
      }
      return namespace;
    }
    if (podNamespace.value === undefined)
      problems.push(`${at}.namespaces: ${POD_NAMESPACE_PLACEHOLDER} needs ${podNamespace.sources}`);
    return podNamespace.value ?? '';
  });
  const when = compileConditions(rule['when'], `${at}.when`, problems);
  if (problems.length > before || verbs === undefined) return undefined;

  return {
    label,
    verbs: new Set(verbs),
    apiGroups: apiGroups === undefined ? undefined : new Set(apiGroups),
    resources,
    resourceNames: resourceNames === undefined ? undefined : new Set(resourceNames),
    namespaces:
      resolvedNamespaces === undefined || resolvedNamespaces.includes(ALL) ? undefined : new Set(resolvedNamespaces),
    nonResourceURLs,
    when,
  };
}

function compileConditions(value: unknown, at: string, problems: string[]): Conditions | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    problems.push(`${at}: must be a mapping`);
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!CONDITION_KEYS.has(key)) problems.push(`${at}.${key}: unknown condition (${suggestKey(key, CONDITION_KEYS)})`);
  }
  for (const key of ['dryRun', 'follow', 'stdin', 'tty'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'boolean')
      problems.push(`${at}.${key}: must be true or false`);
  }
  const labelSelector = compileLabelSelectorCondition(value['labelSelector'], `${at}.labelSelector`, problems);
  const containers = stringList(value, 'containers', at, problems);
  const commands = value['commands'];
  if (
    commands !== undefined &&
    !(
      Array.isArray(commands) &&
      commands.every((c) => Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === 'string'))
    )
  ) {
    problems.push(`${at}.commands: must be a list of argument lists, such as [[ls, /tmp], [date]]`);
  }
  const ports = value['ports'];
  const isPortList =
    Array.isArray(ports) &&
    ports.length > 0 &&
    ports.every((port) => Number.isInteger(port) && port >= 1 && port <= 65_535);
  if (ports !== undefined && !isPortList)
    problems.push(`${at}.ports: must be a non-empty list of port numbers (1-65535)`);
  return {
    ...(isPortList ? { ports: ports as number[] } : {}),
    ...(typeof value['dryRun'] === 'boolean' ? { dryRun: value['dryRun'] } : {}),
    ...(labelSelector === undefined ? {} : { labelSelector }),
    ...(typeof value['follow'] === 'boolean' ? { follow: value['follow'] } : {}),
    ...(typeof value['stdin'] === 'boolean' ? { stdin: value['stdin'] } : {}),
    ...(typeof value['tty'] === 'boolean' ? { tty: value['tty'] } : {}),
    ...(containers === undefined ? {} : { containers }),
    ...(Array.isArray(commands) ? { commands: commands as string[][] } : {}),
  };
}

const LABEL_SELECTOR_FORMS = '"required", or a mapping such as { requireKeys: [app] }';

function compileLabelSelectorCondition(
  value: unknown,
  at: string,
  problems: string[],
): LabelSelectorCondition | undefined {
  if (value === undefined) return undefined;
  if (value === 'required') return { requireKeys: undefined };
  if (!isRecord(value)) {
    problems.push(`${at}: must be ${LABEL_SELECTOR_FORMS}`);
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (key !== 'requireKeys') problems.push(`${at}.${key}: unknown field (expected requireKeys)`);
  }
  const requireKeys = stringList(value, 'requireKeys', at, problems, { required: true });
  return requireKeys === undefined ? undefined : { requireKeys: new Set(requireKeys) };
}

function stringList(
  record: Record<string, unknown>,
  key: string,
  at: string,
  problems: string[],
  options: { required?: boolean; allowEmptyString?: boolean } = {},
): string[] | undefined {
  const value = record[key];
  if (value === undefined) {
    if (options.required === true) problems.push(`${at}.${key}: required`);
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string')) {
    problems.push(`${at}.${key}: must be a non-empty list of strings`);
    return undefined;
  }
  const strings = value;
  if (options.allowEmptyString !== true && strings.includes('')) problems.push(`${at}.${key}: has an empty string`);
  return strings;
}

/** Whether the rule covers the request's attributes, before conditions. */
function ruleCovers(rule: CompiledRule, attributes: RequestAttributes, verb: string): boolean {
  if (!rule.verbs.has(ALL) && !rule.verbs.has(verb)) return false;
  if (!attributes.isResourceRequest)
    return rule.nonResourceURLs !== undefined && urlMatches(rule.nonResourceURLs, attributes.path);
  if (rule.resources === undefined || rule.apiGroups === undefined) return false;
  if (!rule.apiGroups.has(ALL) && !rule.apiGroups.has(attributes.apiGroup)) return false;
  if (!resourceMatches(rule.resources, attributes.resource, attributes.subresource)) return false;
  if (rule.resourceNames !== undefined && !rule.resourceNames.has(attributes.name)) return false;
  return rule.namespaces === undefined || rule.namespaces.has(attributes.namespace);
}

const COLLECTION_VERBS = new Set(['list', 'watch', 'deletecollection']);

interface FailedCondition {
  readonly condition: string;
  readonly code: Decision['code'];
}

function failed(condition: string, code: Decision['code'] = 403): FailedCondition {
  return { condition, code };
}

/** The condition the request fails, in words, or undefined when it meets them all. */
function failedCondition(when: Conditions, request: ResolvedRequest, verb: string): FailedCondition | undefined {
  const { attributes, query } = request;
  if (when.dryRun === true && WRITE_VERBS.has(verb)) {
    const dryRun = dryRunOf(request, verb);
    switch (dryRun.kind) {
      case 'real':
        return failed(
          'only as a dry run (dryRun=All in the query; for a delete with a body, "dryRun": ["All"] in its DeleteOptions)',
        );
      case 'not-honoured':
        return failed(`only as a dry run, and the API server does not honour dryRun here: ${dryRun.why}`);
      case 'unreadable':
        return failed(
          `only as a dry run, and whether this delete is one cannot be read: ${dryRun.problem}`,
          dryRun.code,
        );
      case 'dry-run':
        break;
    }
  }
  if (when.labelSelector !== undefined && COLLECTION_VERBS.has(verb)) {
    const keys = when.labelSelector.requireKeys;
    if (request.labelSelector === undefined || !pinsLabelKey(request.labelSelector, keys)) {
      return failed(
        keys === undefined
          ? 'only with a labelSelector that requires a label value or presence (=, ==, in, or a bare key)'
          : `only with a labelSelector that requires a value or presence of the label ${[...keys].join(' or ')} (=, ==, in, or a bare key)`,
      );
    }
  }
  const sub = attributes.subresource;
  if (when.follow === false && sub === 'log' && isTrue(queryValue(query, 'follow')))
    return failed('only without follow');
  if (when.containers !== undefined && (sub === 'exec' || sub === 'attach' || sub === 'log')) {
    const container = queryValue(query, 'container');
    if (container === undefined || !when.containers.includes(container)) {
      return failed(`only for the containers ${when.containers.join(', ')} (named with container=)`);
    }
  }
  if (when.commands !== undefined && sub === 'exec') {
    const command = queryValues(query, 'command');
    if (
      !when.commands.some(
        (allowed) => allowed.length === command.length && allowed.every((arg, i) => arg === command[i]),
      )
    ) {
      return failed(`only the commands ${when.commands.map((c) => JSON.stringify(c)).join(', ')}`);
    }
  }
  if (when.stdin === false && (sub === 'exec' || sub === 'attach') && isTrue(queryValue(query, 'stdin')))
    return failed('only without stdin');
  if (when.tty === false && (sub === 'exec' || sub === 'attach') && isTrue(queryValue(query, 'tty')))
    return failed('only without a TTY');
  if (when.ports !== undefined && sub === 'portforward') {
    const ports = queryValues(query, 'ports');
    if (ports.length === 0 || ports.some((port) => !when.ports?.includes(portNumber(port)))) {
      return failed(
        `only to the ports ${when.ports.join(', ')}, named in the request (ports=); kubectl names its ports inside the stream, where they cannot be checked`,
      );
    }
  }
  return undefined;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && isTrueQueryValue(value);
}

const DECIMAL = /^[+-]?[0-9]+$/;

/** A port as Go's `strconv.ParseInt(value, 10, 32)` reads PortForwardOptions' `ports`; NaN when it would not. */
function portNumber(value: string): number {
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}

/**
 * Decides a request: the first rule that covers it and whose conditions it meets allows it.
 * `verb` is normally the request's own; an exec/attach/portforward WebSocket upgrade is decided
 * for both `get` and `create`, as kube-apiserver ≥1.35 authorizes it.
 */
export function decide(policy: Policy, request: ResolvedRequest, verb: string = request.attributes.verb): Decision {
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
      reason: `rule ${rule} of ${policy.source} allows ${describe(attributes, verb)} ${failure.condition}`,
      code: failure.code,
    };
  }
  return {
    allowed: false,
    rule: undefined,
    reason: `no rule of ${policy.source} allows ${describe(attributes, verb)}`,
    code: 403,
  };
}

/** apiserver-style phrasing: `list on resource "pods" in API group "" in the namespace "x"`. */
export function describe(attributes: RequestAttributes, verb: string = attributes.verb): string {
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
export function decideRequest(policy: Policy, request: ResolvedRequest, isUpgrade: boolean): Decision {
  const decision = decide(policy, request);
  if (!decision.allowed || !(isUpgrade || request.mayCreate) || request.attributes.verb === 'create') return decision;
  return decide(policy, request, 'create');
}
