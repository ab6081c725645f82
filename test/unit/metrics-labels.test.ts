import { describe, expect, it } from 'vitest';
import {
  metricsCode,
  metricsDryRun,
  metricsScope,
  metricsVerb,
  ResourceLabeler,
  type ResourceLabels,
} from '../../src/metrics/labels.ts';
import type { Decision } from '../../src/request/record.ts';
import { isDryRun } from '../../src/request/dry-run.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import { attributesOf } from '../support/requests.ts';

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
    ['HEAD', '/version', undefined, 'GET', ''],
    ['POST', '/apis', 'application/json', 'POST', ''],
    ['OPTIONS', '/version', undefined, 'other', ''],
    ['PROPFIND', '/version', undefined, 'other', ''],
    ['PROPFIND', '/api/v1/namespaces/x/pods', undefined, 'other', 'namespace'],
    ['MKCOL', '/api/v1/namespaces/x/pods/p', undefined, 'other', 'resource'],
  ])('%s %s (%s) → verb %s, scope %s', (method, url, contentType, verb, scope) => {
    const attributes = attributesOf(method, url);
    expect(metricsVerb(method, attributes, contentType)).toBe(verb);
    expect(metricsScope(attributes)).toBe(scope);
  });

  it('labels a request whose target did not parse by its method alone, other methods as "other"', () => {
    expect([metricsVerb('GET', undefined, undefined), metricsScope(undefined)]).toEqual(['GET', '']);
    expect(metricsVerb('PROPFIND', undefined, undefined)).toBe('other');
  });
});

describe('the code label', () => {
  it.each<[number, string]>([
    [200, '200'],
    [101, '101'],
    [404, '404'],
    [418, '418'],
    [429, '429'],
    [499, '499'],
    [503, '503'],
    [299, '2xx'],
    [387, '3xx'],
    [599, '5xx'],
    [600, 'other'],
    [999, 'other'],
    [0, 'other'],
  ])('%i → %s', (code, label) => {
    expect(metricsCode(code)).toBe(label);
  });
});

describe("the dry_run label: the API server's reading of dryRun (query, or a delete's DeleteOptions body)", () => {
  const json = (text: string) => ({
    bytes: Buffer.from(text),
    contentType: 'application/json',
    contentEncoding: undefined,
  });
  it.each<[string, string, ReturnType<typeof json> | undefined, string]>([
    ['POST', '/api/v1/namespaces/a/configmaps', undefined, ''],
    ['POST', '/api/v1/namespaces/a/configmaps?dryRun=All', undefined, 'All'],
    ['POST', '/api/v1/namespaces/a/configmaps?dryRun=All&dryRun=All', undefined, 'All'],
    ['POST', '/api/v1/namespaces/a/configmaps?dryRun=All&dryRun=Invented', undefined, ''],
    ['POST', '/api/v1/namespaces/a/configmaps?dryRun=', undefined, ''],
    ['POST', '/api/v1/namespaces/a/configmaps?notdryRun=All', undefined, ''],
    ['DELETE', '/api/v1/namespaces/a/configmaps/x?dryRun=All', undefined, 'All'],
    ['DELETE', '/api/v1/namespaces/a/configmaps/x?dryRun=All', json('{}'), ''],
    ['DELETE', '/api/v1/namespaces/a/configmaps/x', json('{"dryRun":["All"]}'), 'All'],
    ['POST', '/api/v1/namespaces/a/serviceaccounts/x/token?dryRun=All', undefined, ''],
  ])('%s %s %j → "%s"', (method, target, body, label) => {
    const resolved = resolveTarget(method, target, body);
    if (!resolved.ok) throw new Error(resolved.problem.message);
    expect(metricsDryRun(isDryRun(resolved.value))).toBe(label);
  });
});

const NONE = { group: '', version: '', resource: '', subresource: '' };
const UNKNOWN = { group: 'other', version: 'other', resource: 'other', subresource: '' };

function labelsOf(
  labeler: ResourceLabeler,
  method: string,
  url: string,
  status: number,
  decision: Decision = 'allow',
): ResourceLabels {
  return labeler.labels(attributesOf(method, url), status, decision);
}

describe('the group, version, resource and subresource labels', () => {
  it.each<[string, string, number, Decision, ResourceLabels]>([
    ['GET', '/version', 200, 'allow', NONE],
    ['GET', '/apis/apps/v1', 200, 'allow', NONE],
    [
      'GET',
      '/api/v1/namespaces/x/secrets',
      403,
      'deny',
      { group: '', version: 'v1', resource: 'secrets', subresource: '' },
    ],
    [
      'GET',
      '/api/v1/namespaces/x/pods/p',
      404,
      'allow',
      { group: '', version: 'v1', resource: 'pods', subresource: '' },
    ],
    [
      'POST',
      '/api/v1/namespaces/x/pods/p/exec',
      403,
      'deny',
      { group: '', version: 'v1', resource: 'pods', subresource: 'exec' },
    ],
    [
      'PATCH',
      '/api/v1/namespaces/x/pods/p/resize',
      200,
      'allow',
      { group: '', version: 'v1', resource: 'pods', subresource: 'resize' },
    ],
    [
      'PUT',
      '/api/v1/namespaces/x/finalize',
      200,
      'allow',
      { group: '', version: 'v1', resource: 'namespaces', subresource: 'finalize' },
    ],
    [
      'PUT',
      '/api/v1/namespaces/x/status',
      200,
      'allow',
      { group: '', version: 'v1', resource: 'namespaces', subresource: 'status' },
    ],
    [
      'POST',
      '/api/v1/namespaces/x/serviceaccounts/s/token',
      201,
      'allow',
      { group: '', version: 'v1', resource: 'serviceaccounts', subresource: 'token' },
    ],
    [
      'GET',
      '/api/v1/nodes/n/proxy/metrics',
      200,
      'allow',
      { group: '', version: 'v1', resource: 'nodes', subresource: 'proxy' },
    ],
    [
      'GET',
      '/apis/apps/v1/namespaces/x/deployments/d/scale',
      200,
      'allow',
      { group: 'apps', version: 'v1', resource: 'deployments', subresource: 'scale' },
    ],
    [
      'PUT',
      '/apis/certificates.k8s.io/v1/certificatesigningrequests/c/approval',
      200,
      'allow',
      { group: 'certificates.k8s.io', version: 'v1', resource: 'certificatesigningrequests', subresource: 'approval' },
    ],
    [
      'GET',
      '/apis/resource.k8s.io/v1beta2/resourceslices',
      200,
      'allow',
      { group: 'resource.k8s.io', version: 'v1beta2', resource: 'resourceslices', subresource: '' },
    ],
    [
      'GET',
      '/apis/autoscaling/v2/namespaces/x/horizontalpodautoscalers',
      200,
      'allow',
      { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', subresource: '' },
    ],
    // a built-in resource keeps its name; a version or subresource it does not serve is "other"
    [
      'GET',
      '/api/v7/namespaces/x/secrets',
      404,
      'allow',
      { group: '', version: 'other', resource: 'secrets', subresource: '' },
    ],
    [
      'GET',
      '/api/v1beta1/namespaces/x/pods',
      403,
      'deny',
      { group: '', version: 'other', resource: 'pods', subresource: '' },
    ],
    [
      'GET',
      '/apis/apps/v1beta9/namespaces/x/deployments',
      404,
      'allow',
      { group: 'apps', version: 'other', resource: 'deployments', subresource: '' },
    ],
    [
      'GET',
      '/api/v1/namespaces/x/pods/p/invented',
      404,
      'allow',
      { group: '', version: 'v1', resource: 'pods', subresource: 'other' },
    ],
    [
      'GET',
      '/api/v1/namespaces/x/secrets/s/log',
      404,
      'allow',
      { group: '', version: 'v1', resource: 'secrets', subresource: 'other' },
    ],
    [
      'GET',
      '/apis/apps/v1/namespaces/x/daemonsets/d/scale',
      404,
      'allow',
      { group: 'apps', version: 'v1', resource: 'daemonsets', subresource: 'other' },
    ],
    // anything else is "other" until the API server has served it
    ['GET', '/api/v1/namespaces/x/invented', 404, 'allow', UNKNOWN],
    ['GET', '/apis/apps/v1/namespaces/x/pods', 404, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 404, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 403, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 401, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 429, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 503, 'allow', UNKNOWN],
    ['GET', '/apis/invented.example.com/v1/namespaces/x/things', 403, 'deny', UNKNOWN],
    [
      'GET',
      '/apis/invented.example.com/v1/namespaces/x/things/t/status',
      404,
      'allow',
      { ...UNKNOWN, subresource: 'other' },
    ],
    [
      'GET',
      '/apis/stable.example.com/v1/namespaces/x/crontabs',
      200,
      'allow',
      { group: 'stable.example.com', version: 'v1', resource: 'crontabs', subresource: '' },
    ],
    [
      'GET',
      '/apis/stable.example.com/v1/namespaces/x/crontabs',
      200,
      'would_deny',
      { group: 'stable.example.com', version: 'v1', resource: 'crontabs', subresource: '' },
    ],
    ['GET', '/api/v2/namespaces/x/pods', 200, 'allow', { group: '', version: 'v2', resource: 'pods', subresource: '' }],
  ])('%s %s answered %i (%s)', (method, url, status, decision, labels) => {
    expect(labelsOf(new ResourceLabeler(), method, url, status, decision)).toEqual(labels);
  });

  it('labels a resource the API server has served by name from then on, whatever the answer', () => {
    const labeler = new ResourceLabeler();
    const crontabs = { group: 'stable.example.com', version: 'v1', resource: 'crontabs', subresource: '' };
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs/c', 404)).toEqual(UNKNOWN);
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs', 200)).toEqual(crontabs);
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs/c', 404)).toEqual(crontabs);
    expect(labelsOf(labeler, 'DELETE', '/apis/stable.example.com/v1/namespaces/x/crontabs/c', 403, 'deny')).toEqual(
      crontabs,
    );
    // version and subresource are part of what was served
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v2/namespaces/x/crontabs', 404)).toEqual(UNKNOWN);
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs/c/status', 404)).toEqual({
      ...UNKNOWN,
      subresource: 'other',
    });
  });

  it('never learns from a request the ambassador refused itself', () => {
    const labeler = new ResourceLabeler();
    for (const decision of ['deny', 'invalid', 'throttled'] as const) {
      expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs', 200, decision)).toEqual(
        UNKNOWN,
      );
    }
    expect(labelsOf(labeler, 'GET', '/apis/stable.example.com/v1/namespaces/x/crontabs', 404)).toEqual(UNKNOWN);
  });

  it('learns at most its capacity, and invented names never take a place nor push a built-in resource out', () => {
    const labeler = new ResourceLabeler(2);
    for (let i = 0; i < 1000; i++) {
      expect(
        labelsOf(labeler, 'GET', `/apis/g${i}.example.com/v1/namespaces/x/r${i}`, i % 2 === 0 ? 404 : 403),
      ).toEqual(UNKNOWN);
    }
    expect(labelsOf(labeler, 'GET', '/apis/a.example.com/v1/as', 200).resource).toBe('as');
    expect(labelsOf(labeler, 'GET', '/apis/b.example.com/v1/bs', 200).resource).toBe('bs');
    expect(labelsOf(labeler, 'GET', '/apis/c.example.com/v1/cs', 200)).toEqual(UNKNOWN);
    expect(labelsOf(labeler, 'GET', '/apis/a.example.com/v1/as', 404).resource).toBe('as');
    expect(labelsOf(labeler, 'GET', '/api/v1/namespaces/x/secrets', 403, 'deny').resource).toBe('secrets');
    expect(labelsOf(labeler, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles', 200).resource).toBe(
      'clusterroles',
    );
  });
});
