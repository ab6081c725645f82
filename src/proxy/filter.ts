/**
 * kubectl proxy's request filter with its flags and defaults: Host header patterns (against DNS
 * rebinding), then reject-paths, reject-methods and accept-paths on the decoded canonical path.
 * Two departures from kubectl, both safer: `[::1]` hosts work (kubernetes/kubernetes#77496), and a
 * browser `Origin` from another site is refused, since a page can open WebSockets cross-origin.
 */
import type { Config } from '../config/options.ts';

export interface RequestFilter {
  readonly enabled: boolean;
  readonly acceptHosts: readonly RegExp[];
  readonly acceptPaths: readonly RegExp[];
  readonly rejectPaths: readonly RegExp[];
  readonly rejectMethods: readonly RegExp[];
}

export function filterFromOptions(options: Config): RequestFilter {
  return {
    enabled: !options.disableFilter,
    acceptHosts: options.acceptHosts,
    acceptPaths: options.acceptPaths,
    rejectPaths: options.rejectPaths,
    rejectMethods: options.rejectMethods,
  };
}

function matchesAny(patterns: readonly RegExp[], text: string): boolean {
  for (const pattern of patterns) if (pattern.test(text)) return true;
  return false;
}

/** `host[:port]` → host, keeping the brackets of an IPv6 literal so `^\[::1\]$` can match. */
export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    // Only "[addr]" or "[addr]:port"; anything else is kept whole, so it matches nothing by default.
    const end = host.indexOf(']');
    const rest = host.slice(end + 1);
    return end !== -1 && (rest === '' || /^:\d*$/.test(rest)) ? host.slice(0, end + 1) : host;
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 || host.indexOf(':') !== colon ? host : host.slice(0, colon);
}

/** Why the Host or Origin of a request is refused, or undefined when both are acceptable. */
export function hostRefusal(
  filter: RequestFilter,
  host: string | undefined,
  origin: string | undefined,
): string | undefined {
  if (!filter.enabled) return undefined;
  if (host === undefined || !matchesAny(filter.acceptHosts, hostWithoutPort(host))) {
    return `the Host header ${JSON.stringify(host ?? '')} is not an accepted local name (see --accept-hosts)`;
  }
  if (origin !== undefined && !isAcceptedOrigin(filter, origin)) {
    return `the Origin ${JSON.stringify(origin)} is another site; browsers may not use the ambassador cross-site`;
  }
  return undefined;
}

function isAcceptedOrigin(filter: RequestFilter, origin: string): boolean {
  try {
    const { protocol, hostname } = new URL(origin);
    return (protocol === 'http:' || protocol === 'https:') && matchesAny(filter.acceptHosts, hostname);
  } catch {
    return false; // includes the opaque origin "null"
  }
}

/** Why the method and decoded path are refused (reject before accept, as kubectl), or undefined. */
export function pathRefusal(filter: RequestFilter, method: string, decodedPath: string): string | undefined {
  if (!filter.enabled) return undefined;
  if (matchesAny(filter.rejectPaths, decodedPath)) return `the path ${decodedPath} is refused by --reject-paths`;
  if (matchesAny(filter.rejectMethods, method)) return `the method ${method} is refused by --reject-methods`;
  if (!matchesAny(filter.acceptPaths, decodedPath)) return `the path ${decodedPath} is not allowed by --accept-paths`;
  return undefined;
}
