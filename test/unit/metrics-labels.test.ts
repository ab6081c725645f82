import { describe, expect, it } from 'vitest';
import { metricsScope, metricsVerb } from '../../src/metrics/metrics.ts';
import { resolveAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

function attributesOf(method: string, raw: string): ReturnType<typeof resolveAttributes> {
  const parsed = parseRequestTarget(raw);
  if (!parsed.ok) throw new Error(parsed.problem);
  return resolveAttributes(method, parsed.target);
}

describe('metrics labels follow apiserver_request_total', () => {
  it.each<[string, string, string | undefined, string, string]>([
    ['GET', '/api/v1/namespaces/x/pods', undefined, 'LIST', 'namespace'],
    ['GET', '/api/v1/pods', undefined, 'LIST', 'cluster'],
    ['GET', '/api/v1/namespaces/x/pods?watch=1', undefined, 'WATCH', 'namespace'],
    ['GET', '/api/v1/watch/pods', undefined, 'WATCH', 'cluster'],
    ['GET', '/api/v1/namespaces/x/pods/p', undefined, 'GET', 'resource'],
    ['HEAD', '/api/v1/namespaces/x/pods/p', undefined, 'GET', 'resource'],
    ['POST', '/api/v1/namespaces/x/pods', 'application/json', 'POST', 'resource'],
    ['PUT', '/api/v1/namespaces/x/pods/p', 'application/json', 'PUT', 'resource'],
    ['PATCH', '/api/v1/namespaces/x/pods/p', 'application/merge-patch+json', 'PATCH', 'resource'],
    ['PATCH', '/api/v1/namespaces/x/pods/p', 'application/apply-patch+yaml', 'APPLY', 'resource'],
    ['DELETE', '/api/v1/namespaces/x/pods/p', undefined, 'DELETE', 'resource'],
    ['DELETE', '/api/v1/namespaces/x/pods', undefined, 'DELETECOLLECTION', 'namespace'],
    ['GET', '/api/v1/namespaces/x/pods/p/log', undefined, 'CONNECT', 'resource'],
    ['POST', '/api/v1/namespaces/x/pods/p/exec', undefined, 'CONNECT', 'resource'],
    ['GET', '/api/v1/namespaces/x/pods/p/portforward', undefined, 'CONNECT', 'resource'],
    ['GET', '/api/v1/nodes/n/proxy/metrics', undefined, 'CONNECT', 'resource'],
    ['GET', '/apis/apps/v1/namespaces/x/deployments/d/scale', undefined, 'GET', 'resource'],
    ['GET', '/version', undefined, 'GET', ''],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', 'application/json', 'POST', 'resource'],
  ])('%s %s (%s) → verb %s, scope %s', (method, url, contentType, verb, scope) => {
    const attributes = attributesOf(method, url);
    expect(metricsVerb(method, attributes, contentType)).toBe(verb);
    expect(metricsScope(attributes)).toBe(scope);
  });

  it('labels a request whose target did not parse by its method alone', () => {
    expect([metricsVerb('GET', undefined, undefined), metricsScope(undefined)]).toEqual(['GET', '']);
  });
});
