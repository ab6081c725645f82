/**
 * Reading a policy document: validated field by field, every problem reported with its rule and
 * field, then compiled into the `CompiledRule`s that `decide` matches (see policy.ts for the format).
 */
import {
  booleanField,
  isNamespaceName,
  isRecord,
  POD_NAMESPACE_PLACEHOLDER,
  POD_NAMESPACE_SOURCES,
  stringList,
  substitutePodNamespace,
  unknownFields,
  type PodNamespace,
} from '../config/document.ts';
import { nearest } from '../config/nearest.ts';
import { failure, success, type Result } from '../config/result.ts';
import type { Conditions, LabelSelectorCondition } from './conditions.ts';
import { WILDCARD, type CompiledRule, type Policy } from './policy.ts';

/**
 * `warnings` are about rules that are valid but cannot do what they seem to: a verb no request has
 * (RBAC keeps custom verbs, so the policy does too).
 */
export interface CompiledPolicy {
  readonly policy: Policy;
  readonly warnings: readonly string[];
}

/** The compiled policy, or every problem of the document. */
export type PolicyCompile = Result<CompiledPolicy, readonly string[]>;

const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'rules']);
const RULE_KEYS: ReadonlySet<string> = new Set([
  'name',
  'verbs',
  'apiGroups',
  'resources',
  'resourceNames',
  'namespaces',
  'nonResourceURLs',
  'when',
]);
const CONDITION_KEYS: ReadonlySet<string> = new Set([
  'dryRun',
  'labelSelector',
  'follow',
  'containers',
  'commands',
  'stdin',
  'tty',
  'ports',
]);
const LABEL_SELECTOR_FORMS = '"required", or a mapping such as { requireKeys: [app] }';

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
  if (!isRecord(document)) return failure(['the policy must be a mapping with a "rules" list']);
  const problems: string[] = [];
  unknownFields(document, TOP_LEVEL_KEYS, '', problems);
  const rules = document['rules'];
  // An empty list allows nothing, as an RBAC Role without rules: the start of `--policy-mode log`.
  if (!Array.isArray(rules)) {
    problems.push('rules: must be a list (empty allows nothing)');
    return failure(problems);
  }
  const compiled: CompiledRule[] = [];
  const warnings: string[] = [];
  const namespace: PodNamespace = { value: podNamespace, sources: podNamespaceSources };
  rules.forEach((rule: unknown, index) => {
    const compiledRule = compileRule(rule, `rules[${index}]`, namespace, problems);
    if (compiledRule === undefined) return;
    compiled.push(compiledRule);
    warnings.push(...verbWarnings(compiledRule, `rules[${index}]`));
  });
  return problems.length > 0 ? failure(problems) : success({ policy: { source, rules: compiled }, warnings });
}

/** A warning for each verb of the rule that no request it could match has. */
function verbWarnings(rule: CompiledRule, at: string): string[] {
  const requestVerbs = rule.nonResourceURLs === undefined ? RESOURCE_REQUEST_VERBS : NON_RESOURCE_REQUEST_VERBS;
  const kind = rule.nonResourceURLs === undefined ? 'resource request' : 'request for a non-resource URL';
  const warnings: string[] = [];
  for (const verb of rule.verbs) {
    if (verb === WILDCARD || requestVerbs.includes(verb)) continue;
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

/** One rule, or undefined when it has a problem (pushed to `problems`). */
function compileRule(
  rule: unknown,
  at: string,
  podNamespace: PodNamespace,
  problems: string[],
): CompiledRule | undefined {
  if (!isRecord(rule)) {
    problems.push(`${at}: must be a mapping`);
    return undefined;
  }
  const before = problems.length;
  unknownFields(rule, RULE_KEYS, `${at}.`, problems);
  const name = rule['name'];
  const isNamed = typeof name === 'string' && name !== '';
  if (name !== undefined && !isNamed) problems.push(`${at}.name: must be a non-empty string`);

  const verbs = stringList(rule, 'verbs', at, problems, { required: true });
  const apiGroups = stringList(rule, 'apiGroups', at, problems, { allowEmptyString: true });
  const resources = stringList(rule, 'resources', at, problems);
  const resourceNames = stringList(rule, 'resourceNames', at, problems);
  const namespaces = stringList(rule, 'namespaces', at, problems, { allowEmptyString: true });
  const nonResourceURLs = stringList(rule, 'nonResourceURLs', at, problems);
  checkRuleShape({ apiGroups, resources, resourceNames, namespaces, nonResourceURLs }, at, problems);
  for (const url of nonResourceURLs ?? []) checkNonResourceURL(url, `${at}.nonResourceURLs`, problems);
  const resolvedNamespaces = namespaces?.map((namespace) =>
    compileNamespace(namespace, podNamespace, `${at}.namespaces`, problems),
  );
  const when = compileConditions(rule['when'], `${at}.when`, problems);
  if (problems.length > before || verbs === undefined) return undefined;

  return {
    label: isNamed ? `"${name}" (${at})` : at,
    verbs: new Set(verbs),
    apiGroups: apiGroups === undefined ? undefined : new Set(apiGroups),
    resources,
    resourceNames: resourceNames === undefined ? undefined : new Set(resourceNames),
    namespaces:
      resolvedNamespaces === undefined || resolvedNamespaces.includes(WILDCARD)
        ? undefined
        : new Set(resolvedNamespaces),
    nonResourceURLs,
    when,
  };
}

interface RuleLists {
  readonly apiGroups: readonly string[] | undefined;
  readonly resources: readonly string[] | undefined;
  readonly resourceNames: readonly string[] | undefined;
  readonly namespaces: readonly string[] | undefined;
  readonly nonResourceURLs: readonly string[] | undefined;
}

/** A rule is about resources (with apiGroups) or about non-resource URLs, never both, as in RBAC. */
function checkRuleShape(rule: RuleLists, at: string, problems: string[]): void {
  const { apiGroups, resources, resourceNames, namespaces, nonResourceURLs } = rule;
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
}

function checkNonResourceURL(url: string, at: string, problems: string[]): void {
  if (!url.startsWith('/') && url !== WILDCARD) problems.push(`${at}: ${JSON.stringify(url)} must start with "/"`);
  if (url.includes(WILDCARD) && url.indexOf(WILDCARD) !== url.length - 1) {
    problems.push(`${at}: ${JSON.stringify(url)} may only have "*" at the end`);
  }
}

/** A namespace name, `""` (the cluster scope), `*`, or `$(POD_NAMESPACE)` replaced by its value. */
function compileNamespace(namespace: string, podNamespace: PodNamespace, at: string, problems: string[]): string {
  const isName =
    namespace === '' || namespace === WILDCARD || namespace === POD_NAMESPACE_PLACEHOLDER || isNamespaceName(namespace);
  if (!isName) problems.push(`${at}: ${JSON.stringify(namespace)} is not a namespace name`);
  return substitutePodNamespace(namespace, podNamespace, at, problems);
}

function compileConditions(value: unknown, at: string, problems: string[]): Conditions | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    problems.push(`${at}: must be a mapping`);
    return undefined;
  }
  unknownFields(value, CONDITION_KEYS, `${at}.`, problems, 'condition');
  const dryRun = booleanField(value, 'dryRun', `${at}.dryRun`, problems);
  const follow = booleanField(value, 'follow', `${at}.follow`, problems);
  const stdin = booleanField(value, 'stdin', `${at}.stdin`, problems);
  const tty = booleanField(value, 'tty', `${at}.tty`, problems);
  const labelSelector = compileLabelSelectorCondition(value['labelSelector'], `${at}.labelSelector`, problems);
  const containers = stringList(value, 'containers', at, problems);
  const commands = value['commands'];
  const isCommandList =
    Array.isArray(commands) &&
    commands.every((c) => Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === 'string'));
  if (commands !== undefined && !isCommandList) {
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
    ...(dryRun === undefined ? {} : { dryRun }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
    ...(follow === undefined ? {} : { follow }),
    ...(stdin === undefined ? {} : { stdin }),
    ...(tty === undefined ? {} : { tty }),
    ...(containers === undefined ? {} : { containers }),
    ...(isCommandList ? { commands: commands as string[][] } : {}),
  };
}

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
