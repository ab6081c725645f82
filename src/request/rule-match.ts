/** How RBAC-shaped rules match request attributes, shared by the allow-list and the audit policy. */

const ALL = '*';

/** RBAC's ResourceMatches, plus the audit policy's `resource/*`. */
export function resourceMatches(patterns: readonly string[], resource: string, subresource: string): boolean {
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  for (const pattern of patterns) {
    if (pattern === ALL || pattern === combined) return true;
    if (subresource === '') continue;
    if (pattern === `*/${subresource}` || pattern === `${resource}/*`) return true;
  }
  return false;
}

/** RBAC's and the audit policy's non-resource URL match: exact, `*`, or a `prefix*`. */
export function urlMatches(patterns: readonly string[], path: string): boolean {
  for (const pattern of patterns) {
    if (pattern === ALL || pattern === path) return true;
    if (pattern.endsWith(ALL) && path.startsWith(pattern.slice(0, -1))) return true;
  }
  return false;
}
