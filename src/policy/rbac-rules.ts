/**
 * What a SelfSubjectRulesReview reports (its `status`), and RBAC's Covers on a list of verbs or
 * groups (k8s.io/component-helpers/auth/rbac/validation): `*` covers everything.
 */
import { WILDCARD } from './policy.ts';

/** `status.resourceRules[]` of a SelfSubjectRulesReview; empty lists are omitted on the wire. */
export interface RbacResourceRule {
  readonly verbs: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
}

/** `status.nonResourceRules[]` of a SelfSubjectRulesReview. */
export interface RbacNonResourceRule {
  readonly verbs: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** The `status` of a SelfSubjectRulesReview for one namespace. */
export interface RulesReview {
  readonly resourceRules: readonly RbacResourceRule[];
  readonly nonResourceRules: readonly RbacNonResourceRule[];
  readonly incomplete?: boolean;
  readonly evaluationError?: string;
}

/**
 * The namespace whose review stands for the cluster scope, as `kubectl auth can-i --list` does: it
 * holds the cluster-wide rules, but also the namespace's own, so it can overstate cluster-scoped rights.
 */
export const CLUSTER_SCOPE_REVIEW_NAMESPACE = 'default';

export function covers(granted: readonly string[] | undefined, wanted: string): boolean {
  return granted !== undefined && (granted.includes(WILDCARD) || granted.includes(wanted));
}
