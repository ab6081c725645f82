/** Reading YAML/JSON configuration documents: the pieces the policy and the audit policy share. */

/** Stands for the pod's own namespace (POD_NAMESPACE, else the service account's namespace file). */
export const POD_NAMESPACE_PLACEHOLDER = '$(POD_NAMESPACE)';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
