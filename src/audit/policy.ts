/**
 * Which requests are audited, and how much of each: a Kubernetes audit policy (audit.k8s.io/v1
 * `Policy`), the same document a cluster's `--audit-policy-file` takes, matched as kube-apiserver
 * matches it: the first rule that covers the request sets its level; no rule, no event. Pure.
 *
 *   apiVersion: audit.k8s.io/v1
 *   kind: Policy
 *   omitStages: [ResponseStarted]
 *   rules:
 *     - level: None
 *       nonResourceURLs: [/healthz*, /version]
 *     - level: RequestResponse
 *       resources: [{ group: "", resources: [configmaps] }]
 *       namespaces: ["$(POD_NAMESPACE)"]
 *       verbs: [create, update, patch]
 *     - level: Metadata
 */
import type { UserInfo } from '../cluster/credentials.ts';
import {
  booleanField,
  isRecord,
  POD_NAMESPACE_SOURCES,
  stringList,
  substitutePodNamespace,
  unknownFields,
  type PodNamespace,
  type StringListRules,
} from '../config/document.ts';
import { failure, success, type Result } from '../config/result.ts';
import { AUDIT_LEVELS, AUDIT_STAGES, type AuditLevel, type AuditStage } from '../config/kinds.ts';
import type { RequestAttributes } from '../request/attributes.ts';
import type { AuditVerdict } from '../request/record.ts';
import { resourceMatches, urlMatches } from '../request/rule-match.ts';

interface GroupResources {
  readonly group: string;
  readonly resources: readonly string[] | undefined;
  readonly resourceNames: ReadonlySet<string> | undefined;
}

interface AuditRule extends AuditVerdict {
  readonly users: ReadonlySet<string> | undefined;
  readonly userGroups: ReadonlySet<string> | undefined;
  readonly verbs: ReadonlySet<string> | undefined;
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly resources: readonly GroupResources[] | undefined;
  readonly nonResourceURLs: readonly string[] | undefined;
}

export interface AuditPolicy {
  readonly rules: readonly AuditRule[];
}

/** The compiled audit policy, or every problem of the document. */
export type AuditPolicyCompile = Result<AuditPolicy, readonly string[]>;

export const NOT_AUDITED: AuditVerdict = { level: 'None', omitStages: new Set(), omitManagedFields: false };

/** Probes and metrics: left out by default, as clusters' own audit policies leave them out. */
const UNAUDITED_PATHS = ['/healthz*', '/livez*', '/readyz*', '/metrics'];

/** `--audit-level` without `--audit-policy`: everything at `level` but probes and metrics. */
export function auditPolicyForLevel(level: AuditLevel): AuditPolicy {
  const none = rule({ level: 'None', nonResourceURLs: UNAUDITED_PATHS });
  return { rules: level === 'None' ? [] : [none, rule({ level })] };
}

function rule(fields: Partial<AuditRule> & { level: AuditLevel }): AuditRule {
  return {
    omitStages: new Set(),
    omitManagedFields: false,
    users: undefined,
    userGroups: undefined,
    verbs: undefined,
    namespaces: undefined,
    resources: undefined,
    nonResourceURLs: undefined,
    ...fields,
  };
}

/**
 * kube-apiserver's audit policy checker (apiserver/pkg/audit/policy/checker.go). A request whose
 * target could not be parsed has no attributes: only rules that name no verbs, resources,
 * namespaces or URLs can match it.
 */
export function auditVerdict(
  policy: AuditPolicy,
  attributes: RequestAttributes | undefined,
  user: UserInfo | undefined,
): AuditVerdict {
  for (const candidate of policy.rules) {
    if (ruleMatches(candidate, attributes, user)) return candidate;
  }
  return NOT_AUDITED;
}

function ruleMatches(
  candidate: AuditRule,
  attributes: RequestAttributes | undefined,
  user: UserInfo | undefined,
): boolean {
  if (candidate.users !== undefined && (user === undefined || !candidate.users.has(user.username))) return false;
  if (candidate.userGroups !== undefined && !(user?.groups ?? []).some((group) => candidate.userGroups?.has(group)))
    return false;
  if (attributes === undefined) {
    return (
      candidate.verbs === undefined &&
      candidate.namespaces === undefined &&
      candidate.resources === undefined &&
      candidate.nonResourceURLs === undefined
    );
  }
  if (candidate.verbs !== undefined && !candidate.verbs.has(attributes.verb)) return false;
  if (candidate.namespaces !== undefined || candidate.resources !== undefined)
    return resourceRuleMatches(candidate, attributes);
  if (candidate.nonResourceURLs !== undefined)
    return !attributes.isResourceRequest && urlMatches(candidate.nonResourceURLs, attributes.path);
  return true;
}

function resourceRuleMatches(candidate: AuditRule, attributes: RequestAttributes): boolean {
  if (!attributes.isResourceRequest) return false;
  if (candidate.namespaces !== undefined && !candidate.namespaces.has(attributes.namespace)) return false;
  if (candidate.resources === undefined) return true;
  return candidate.resources.some(
    (groupResources) =>
      groupResources.group === attributes.apiGroup &&
      (groupResources.resources === undefined ||
        ((groupResources.resourceNames === undefined || groupResources.resourceNames.has(attributes.name)) &&
          resourceMatches(groupResources.resources, attributes.resource, attributes.subresource))),
  );
}

const TOP_LEVEL_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
const RULE_KEYS = new Set([
  'level',
  'users',
  'userGroups',
  'verbs',
  'resources',
  'namespaces',
  'nonResourceURLs',
  'omitStages',
  'omitManagedFields',
]);
const GROUP_RESOURCE_KEYS = new Set(['group', 'resources', 'resourceNames']);
/** The audit policy's lists: an empty one matches everything, as in the API. */
const AUDIT_LIST: StringListRules = { emptyMeansAbsent: true, allowEmptyString: true };

/**
 * Validates a parsed audit policy and compiles it, reporting every problem with its rule and field.
 * `$(POD_NAMESPACE)` in `namespaces` is `podNamespace`.
 */
export function compileAuditPolicy(document: unknown, podNamespace: string | undefined): AuditPolicyCompile {
  if (!isRecord(document)) return failure(['the audit policy must be a mapping with a "rules" list']);
  const problems: string[] = [];
  unknownFields(document, TOP_LEVEL_KEYS, '', problems);
  if (document['apiVersion'] !== undefined && document['apiVersion'] !== 'audit.k8s.io/v1')
    problems.push('apiVersion: must be audit.k8s.io/v1');
  if (document['kind'] !== undefined && document['kind'] !== 'Policy') problems.push('kind: must be Policy');
  const policyOmitStages = stageList(document, 'omitStages', 'omitStages', problems);
  const policyOmitManagedFields = booleanField(document, 'omitManagedFields', 'omitManagedFields', problems) ?? false;
  const rules = document['rules'];
  if (!Array.isArray(rules) || rules.length === 0) {
    problems.push('rules: must be a non-empty list');
    return failure(problems);
  }
  const namespace: PodNamespace = { value: podNamespace, sources: POD_NAMESPACE_SOURCES };
  const compiled = rules.map((entry: unknown, index) =>
    compileAuditRule(entry, `rules[${index}]`, policyOmitStages, policyOmitManagedFields, namespace, problems),
  );
  return problems.length > 0 ? failure(problems) : success({ rules: compiled });
}

function compileAuditRule(
  entry: unknown,
  at: string,
  policyOmitStages: readonly AuditStage[],
  policyOmitManagedFields: boolean,
  podNamespace: PodNamespace,
  problems: string[],
): AuditRule {
  if (!isRecord(entry)) {
    problems.push(`${at}: must be a mapping`);
    return rule({ level: 'None' });
  }
  unknownFields(entry, RULE_KEYS, `${at}.`, problems);
  const level = AUDIT_LEVELS.find((candidate) => candidate === entry['level']);
  if (level === undefined) problems.push(`${at}.level: required, one of ${AUDIT_LEVELS.join(', ')}`);
  const nonResourceURLs = stringList(entry, 'nonResourceURLs', at, problems, AUDIT_LIST);
  const namespaces = stringList(entry, 'namespaces', at, problems, AUDIT_LIST)?.map((namespace) =>
    substitutePodNamespace(namespace, podNamespace, `${at}.namespaces`, problems),
  );
  const resources = groupResourcesList(entry['resources'], `${at}.resources`, problems);
  if (nonResourceURLs !== undefined && (resources !== undefined || namespaces !== undefined)) {
    problems.push(`${at}: nonResourceURLs cannot be combined with resources or namespaces`);
  }
  for (const url of nonResourceURLs ?? []) {
    if (!url.startsWith('/') && url !== '*')
      problems.push(`${at}.nonResourceURLs: ${JSON.stringify(url)} must start with "/"`);
  }
  const ruleOmitStages = stageList(entry, 'omitStages', `${at}.omitStages`, problems);
  const users = stringList(entry, 'users', at, problems, AUDIT_LIST);
  const userGroups = stringList(entry, 'userGroups', at, problems, AUDIT_LIST);
  const verbs = stringList(entry, 'verbs', at, problems, AUDIT_LIST);
  return rule({
    level: level ?? 'None',
    omitStages: new Set([...policyOmitStages, ...ruleOmitStages]),
    omitManagedFields:
      booleanField(entry, 'omitManagedFields', `${at}.omitManagedFields`, problems) ?? policyOmitManagedFields,
    users: users === undefined ? undefined : new Set(users),
    userGroups: userGroups === undefined ? undefined : new Set(userGroups),
    verbs: verbs === undefined ? undefined : new Set(verbs),
    namespaces: namespaces === undefined ? undefined : new Set(namespaces),
    resources,
    nonResourceURLs,
  });
}

function groupResourcesList(value: unknown, at: string, problems: string[]): GroupResources[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${at}: must be a non-empty list of {group, resources, resourceNames}`);
    return undefined;
  }
  return value.map((entry: unknown, index) => {
    const here = `${at}[${index}]`;
    if (!isRecord(entry)) {
      problems.push(`${here}: must be a mapping with group and resources`);
      return { group: '', resources: undefined, resourceNames: undefined };
    }
    unknownFields(entry, GROUP_RESOURCE_KEYS, `${here}.`, problems);
    const group = entry['group'] ?? '';
    if (typeof group !== 'string') problems.push(`${here}.group: must be a string ("" is the core group)`);
    const resources = stringList(entry, 'resources', here, problems, AUDIT_LIST);
    const resourceNames = stringList(entry, 'resourceNames', here, problems, AUDIT_LIST);
    return {
      group: typeof group === 'string' ? group : '',
      resources,
      resourceNames: resourceNames === undefined ? undefined : new Set(resourceNames),
    };
  });
}

function stageList(record: Record<string, unknown>, key: string, at: string, problems: string[]): AuditStage[] {
  const value = record[key];
  if (value === undefined) return [];
  const stages = Array.isArray(value)
    ? value.map((stage) => AUDIT_STAGES.find((candidate) => candidate === stage))
    : [undefined];
  if (stages.includes(undefined)) problems.push(`${at}: must be a list of ${AUDIT_STAGES.join(', ')}`);
  return stages.filter((stage) => stage !== undefined);
}
