/**
 * Expectations are taken from kube-apiserver's RequestInfoFactory
 * (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go) and its table
 * (requestinfo_test.go: TestGetAPIRequestInfo, TestGetNonAPIRequestInfo, TestFieldSelectorParsing),
 * and from BasicLongRunningRequestCheck (k8s.io/apiserver/pkg/server/filters/longrunning.go) with
 * kube-apiserver's sets: verbs watch, proxy; subresources attach, exec, proxy, log, portforward.
 * Note: the Go table's expectedAPIPrefix column says "api" for /apis/... URLs but is never
 * asserted there; the real value is "apis", which is what is expected here.
 */
import { describe, expect, it } from 'vitest';
import {
  isLongRunning,
  isStreamingSubresource,
  nameFromFieldSelector,
  resolveAttributes,
} from '../../src/request/attributes.ts';
import type { RequestAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

function resolve(method: string, raw: string): RequestAttributes {
  const parsed = parseRequestTarget(raw);
  if (!parsed.ok) throw new Error(`test target ${raw} was refused: ${parsed.problem}`);
  return resolveAttributes(method, parsed.target);
}

/** [method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name] */
type ResourceRow = readonly [string, string, string, string, string, string, string, string, string, string];

function resourceExpectation(row: ResourceRow, path: string): RequestAttributes {
  const [, , verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name] = row;
  return { isResourceRequest: true, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, path };
}

const RESOURCE_CASES: readonly ResourceRow[] = [
  // requestinfo_test.go TestGetAPIRequestInfo: resource paths
  ['GET', '/api/v1/namespaces', 'list', 'api', '', 'v1', '', 'namespaces', '', ''],
  ['GET', '/api/v1/namespaces/other', 'get', 'api', '', 'v1', 'other', 'namespaces', '', 'other'],
  ['GET', '/api/v1/namespaces/other/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['HEAD', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  // current requestinfo.go sets the namespace of /namespaces/{name} for every verb, PATCH included
  ['PATCH', '/api/v1/namespaces/new-namespace', 'patch', 'api', '', 'v1', 'new-namespace', 'namespaces', '', 'new-namespace'],
  // special verbs
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/watch/pods', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=true', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=false', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/watch/namespaces/other/pods', 'watch', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', 'watch', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', 'list', 'api', '', 'v1', 'other', 'pods', '', ''],
  // subresource identification
  ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', 'api', '', 'v1', 'other', 'pods', 'status', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', 'api', '', 'v1', 'other', 'pods', 'proxy', 'foo'],
  ['PUT', '/api/v1/namespaces/other/finalize', 'update', 'api', '', 'v1', 'other', 'namespaces', 'finalize', 'other'],
  ['PUT', '/api/v1/namespaces/other/status', 'update', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other'],
  ['GET', '/api/v1/nodes/nodename/proxy/subpath', 'get', 'api', '', 'v1', '', 'nodes', 'proxy', 'nodename'],
  // verb identification
  ['PATCH', '/api/v1/namespaces/other/pods/foo', 'patch', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['POST', '/api/v1/namespaces/other/pods', 'create', 'api', '', 'v1', 'other', 'pods', '', ''],
  // deletecollection verb identification
  ['DELETE', '/api/v1/nodes', 'deletecollection', 'api', '', 'v1', '', 'nodes', '', ''],
  ['DELETE', '/api/v1/namespaces', 'deletecollection', 'api', '', 'v1', '', 'namespaces', '', ''],
  ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['DELETE', '/apis/extensions/v1/namespaces/other/pods', 'deletecollection', 'apis', 'extensions', 'v1', 'other', 'pods', '', ''],
  // api group and version identification
  ['POST', '/apis/extensions/v1/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1', 'other', 'pods', '', ''],
  ['POST', '/apis/extensions/v1beta3/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1beta3', 'other', 'pods', '', ''],
  // TestGetNonAPIRequestInfo: the resource ones
  ['GET', '/api/version/resource', 'list', 'api', '', 'version', '', 'resource', '', ''],
  ['GET', '/apis/group/version/resource/name/subresource', 'get', 'apis', 'group', 'version', '', 'resource', 'subresource', 'name'],
  ['GET', '/api/version/resource/name/subresource', 'get', 'api', '', 'version', '', 'resource', 'subresource', 'name'],
  ['GET', '/apis/batch/v1/job', 'list', 'apis', 'batch', 'v1', '', 'job', '', ''],
  ['GET', '/apis/batch/v1/job/foo', 'get', 'apis', 'batch', 'v1', '', 'job', '', 'foo'],
  ['GET', '/apis/batch/v1/job/foo/scale', 'get', 'apis', 'batch', 'v1', '', 'job', 'scale', 'foo'],

  // the namespaces resource itself
  ['POST', '/api/v1/namespaces', 'create', 'api', '', 'v1', '', 'namespaces', '', ''],
  ['PUT', '/api/v1/namespaces/other', 'update', 'api', '', 'v1', 'other', 'namespaces', '', 'other'],
  ['DELETE', '/api/v1/namespaces/other', 'delete', 'api', '', 'v1', 'other', 'namespaces', '', 'other'],
  ['GET', '/api/v1/namespaces/other/status', 'get', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other'],
  ['PATCH', '/api/v1/namespaces/other/status', 'patch', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other'],
  ['GET', '/api/v1/namespaces/other/finalize', 'get', 'api', '', 'v1', 'other', 'namespaces', 'finalize', 'other'],
  ['GET', '/api/v1/watch/namespaces', 'watch', 'api', '', 'v1', '', 'namespaces', '', ''],
  ['GET', '/api/v1/watch/namespaces/other', 'watch', 'api', '', 'v1', 'other', 'namespaces', '', 'other'],
  // a namespace called "status" or "finalize" is still a namespace when a resource follows
  ['GET', '/api/v1/namespaces/status/pods', 'list', 'api', '', 'v1', 'status', 'pods', '', ''],
  ['GET', '/api/v1/namespaces/finalize', 'get', 'api', '', 'v1', 'finalize', 'namespaces', '', 'finalize'],
  ['GET', '/api/v1/namespaces/other/configmaps/status', 'get', 'api', '', 'v1', 'other', 'configmaps', '', 'status'],

  // core group, cluster-scoped
  ['GET', '/api/v1/nodes', 'list', 'api', '', 'v1', '', 'nodes', '', ''],
  ['GET', '/api/v1/nodes/n1', 'get', 'api', '', 'v1', '', 'nodes', '', 'n1'],
  ['PATCH', '/api/v1/nodes/n1/status', 'patch', 'api', '', 'v1', '', 'nodes', 'status', 'n1'],
  ['GET', '/api/v1/persistentvolumes/pv1', 'get', 'api', '', 'v1', '', 'persistentvolumes', '', 'pv1'],
  // named groups, namespaced and cluster-scoped
  ['GET', '/apis/apps/v1/deployments', 'list', 'apis', 'apps', 'v1', '', 'deployments', '', ''],
  ['GET', '/apis/apps/v1/namespaces/default/deployments', 'list', 'apis', 'apps', 'v1', 'default', 'deployments', '', ''],
  ['GET', '/apis/apps/v1/namespaces/default/deployments/web', 'get', 'apis', 'apps', 'v1', 'default', 'deployments', '', 'web'],
  ['GET', '/apis/apps/v1/namespaces/default/deployments/web/scale', 'get', 'apis', 'apps', 'v1', 'default', 'deployments', 'scale', 'web'],
  ['PUT', '/apis/apps/v1/namespaces/default/deployments/web/scale', 'update', 'apis', 'apps', 'v1', 'default', 'deployments', 'scale', 'web'],
  ['PATCH', '/apis/apps/v1/namespaces/default/deployments/web/status', 'patch', 'apis', 'apps', 'v1', 'default', 'deployments', 'status', 'web'],
  ['DELETE', '/apis/apps/v1/namespaces/default/deployments', 'deletecollection', 'apis', 'apps', 'v1', 'default', 'deployments', '', ''],
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/admin', 'get', 'apis', 'rbac.authorization.k8s.io', 'v1', '', 'clusterroles', '', 'admin'],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'create', 'apis', 'authorization.k8s.io', 'v1', '', 'selfsubjectaccessreviews', '', ''],
  ['GET', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock', 'get', 'apis', 'coordination.k8s.io', 'v1', 'kube-system', 'leases', '', 'lock'],
  ['GET', '/apis/apps/v1/watch/namespaces/default/deployments', 'watch', 'apis', 'apps', 'v1', 'default', 'deployments', '', ''],
  // pod subresources
  ['GET', '/api/v1/namespaces/default/pods/p/log', 'get', 'api', '', 'v1', 'default', 'pods', 'log', 'p'],
  ['GET', '/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true', 'get', 'api', '', 'v1', 'default', 'pods', 'exec', 'p'],
  ['POST', '/api/v1/namespaces/default/pods/p/exec', 'create', 'api', '', 'v1', 'default', 'pods', 'exec', 'p'],
  ['POST', '/api/v1/namespaces/default/pods/p/attach', 'create', 'api', '', 'v1', 'default', 'pods', 'attach', 'p'],
  ['POST', '/api/v1/namespaces/default/pods/p/portforward', 'create', 'api', '', 'v1', 'default', 'pods', 'portforward', 'p'],
  ['POST', '/api/v1/namespaces/default/pods/p/eviction', 'create', 'api', '', 'v1', 'default', 'pods', 'eviction', 'p'],
  ['POST', '/api/v1/namespaces/default/pods/p/binding', 'create', 'api', '', 'v1', 'default', 'pods', 'binding', 'p'],
  ['PATCH', '/api/v1/namespaces/default/pods/p/ephemeralcontainers', 'patch', 'api', '', 'v1', 'default', 'pods', 'ephemeralcontainers', 'p'],
  ['POST', '/api/v1/namespaces/default/serviceaccounts/sa/token', 'create', 'api', '', 'v1', 'default', 'serviceaccounts', 'token', 'sa'],
  // proxy as a subresource keeps the name and ignores the rest of the path
  ['GET', '/api/v1/namespaces/default/services/svc:http/proxy/metrics', 'get', 'api', '', 'v1', 'default', 'services', 'proxy', 'svc:http'],
  ['POST', '/api/v1/namespaces/default/pods/p/proxy/a/b', 'create', 'api', '', 'v1', 'default', 'pods', 'proxy', 'p'],
  // legacy /proxy/ and /watch/ prefixes: the path verb wins over the method and the query
  ['GET', '/api/v1/proxy/nodes/n1/stats/summary', 'proxy', 'api', '', 'v1', '', 'nodes', '', 'n1'],
  ['POST', '/api/v1/proxy/namespaces/default/services/svc/x', 'proxy', 'api', '', 'v1', 'default', 'services', '', 'svc'],
  ['GET', '/api/v1/proxy/nodes', 'proxy', 'api', '', 'v1', '', 'nodes', '', ''],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo', 'watch', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/watch/pods?watch=false', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['POST', '/api/v1/watch/pods', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo/status', 'watch', 'api', '', 'v1', 'other', 'pods', 'status', 'foo'],
  // every spelling of the watch flag (only absent, 0 and false in any case are false; the first value wins)
  ['GET', '/api/v1/pods?watch', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=TRUE', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=yes', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=no', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=00', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=FALSE', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=False', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=%46alse', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?wat%63h=true', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=false&watch=true', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watch=true&watch=false', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?watchx=true', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['HEAD', '/api/v1/pods?watch=1', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/apis/apps/v1/namespaces/default/deployments?watch=1&resourceVersion=10', 'watch', 'apis', 'apps', 'v1', 'default', 'deployments', '', ''],
  // watch only turns a list into a watch: with a name it stays get, other verbs ignore it
  ['GET', '/api/v1/namespaces/other/pods/foo?watch=true', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['POST', '/api/v1/namespaces/other/pods?watch=true', 'create', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['DELETE', '/api/v1/namespaces/other/pods?watch=true', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', ''],
  // TestFieldSelectorParsing, and metadata.name selectors: a list stays a list, with that name
  ['GET', '/apis/group/version/resource', 'list', 'apis', 'group', 'version', '', 'resource', '', ''],
  ['GET', '/apis/group/version/resource?fieldSelector=metadata.name=name1', 'list', 'apis', 'group', 'version', '', 'resource', '', 'name1'],
  ['GET', '/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1', 'watch', 'apis', 'group', 'version', '', 'resource', '', 'name1'],
  ['GET', '/apis/group/version/resource?fieldSelector=foo=bar', 'list', 'apis', 'group', 'version', '', 'resource', '', ''],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name==foo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3D%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=spec.nodeName=n1,metadata.name=foo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo%2Cstatus.phase%3DRunning', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name=foo,', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['GET', '/api/v1/namespaces/other/pods?watch=1&fieldSelector=metadata.name%3Dfoo', 'watch', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['HEAD', '/api/v1/pods?fieldSelector=metadata.name%3Dfoo', 'list', 'api', '', 'v1', '', 'pods', '', 'foo'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Dfoo&fieldSelector=metadata.name%3Dbar', 'list', 'api', '', 'v1', '', 'pods', '', 'foo'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da+b', 'list', 'api', '', 'v1', '', 'pods', '', 'a b'],
  // escaped selector values: \, \= \\ are unescaped; anything else makes the selector invalid
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5C%2Cb', 'list', 'api', '', 'v1', '', 'pods', '', 'a,b'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5C%3Db', 'list', 'api', '', 'v1', '', 'pods', '', 'a=b'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5C%5Cb', 'list', 'api', '', 'v1', '', 'pods', '', 'a\\b'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5Cxb', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5C', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  // names that are not valid path segments (path.IsValidPathSegmentName) are not taken
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%2Fb', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%25b', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3D..', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3D.', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3D', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name!%3Dfoo', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldSelector=metadata.namespace%3Dfoo', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/pods?fieldselector=metadata.name%3Dfoo', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  // the field selector only names a list or watch: DELETE collection stays a collection
  ['DELETE', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', ''],
  ['GET', '/api/v1/watch/pods?fieldSelector=metadata.name%3Dfoo', 'watch', 'api', '', 'v1', '', 'pods', '', ''],
  // methods without a verb mapping (the switch is case-sensitive, like Go's)
  ['OPTIONS', '/api/v1/pods', '', 'api', '', 'v1', '', 'pods', '', ''],
  ['TRACE', '/api/v1/namespaces/other/pods/foo', '', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
  ['get', '/api/v1/pods', '', 'api', '', 'v1', '', 'pods', '', ''],
  ['PROPFIND', '/apis/apps/v1/deployments', '', 'apis', 'apps', 'v1', '', 'deployments', '', ''],
  // a trailing slash does not add a segment
  ['GET', '/api/v1/pods/', 'list', 'api', '', 'v1', '', 'pods', '', ''],
  ['GET', '/api/v1/namespaces/other/pods/foo/', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo'],
];

describe('resolveAttributes: resource requests', () => {
  it.each(RESOURCE_CASES)('%s %s', (...row) => {
    const [method, url] = row;
    const path = url.split('?')[0] ?? url;
    expect(resolve(method, url)).toEqual(resourceExpectation(row, path));
  });
});

describe('resolveAttributes: percent-encoded segments are decoded once', () => {
  it.each<[string, string, RequestAttributes]>([
    [
      'GET',
      '/api/v1/namespaces/default/configmaps/a%3Ab',
      {
        isResourceRequest: true,
        verb: 'get',
        apiPrefix: 'api',
        apiGroup: '',
        apiVersion: 'v1',
        namespace: 'default',
        resource: 'configmaps',
        subresource: '',
        name: 'a:b',
        path: '/api/v1/namespaces/default/configmaps/a:b',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/%64efault/pods',
      {
        isResourceRequest: true,
        verb: 'list',
        apiPrefix: 'api',
        apiGroup: '',
        apiVersion: 'v1',
        namespace: 'default',
        resource: 'pods',
        subresource: '',
        name: '',
        path: '/api/v1/namespaces/default/pods',
      },
    ],
    [
      'POST',
      '/api/v1/namespaces/default/pods/p/%65xec',
      {
        isResourceRequest: true,
        verb: 'create',
        apiPrefix: 'api',
        apiGroup: '',
        apiVersion: 'v1',
        namespace: 'default',
        resource: 'pods',
        subresource: 'exec',
        name: 'p',
        path: '/api/v1/namespaces/default/pods/p/exec',
      },
    ],
    [
      'GET',
      '/%61pis/apps/v1/deployments',
      {
        isResourceRequest: true,
        verb: 'list',
        apiPrefix: 'apis',
        apiGroup: 'apps',
        apiVersion: 'v1',
        namespace: '',
        resource: 'deployments',
        subresource: '',
        name: '',
        path: '/apis/apps/v1/deployments',
      },
    ],
  ])('%s %s', (method, url, expected) => {
    expect(resolve(method, url)).toEqual(expected);
  });
});

function nonResource(verb: string, path: string): RequestAttributes {
  return {
    isResourceRequest: false,
    verb,
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    path,
  };
}

describe('resolveAttributes: non-resource URLs', () => {
  it.each<[string, string, RequestAttributes]>([
    ['GET', '/', nonResource('get', '/')],
    ['GET', '/version', nonResource('get', '/version')],
    ['GET', '/version?timeout=32s', nonResource('get', '/version')],
    ['GET', '/healthz', nonResource('get', '/healthz')],
    ['GET', '/healthz/etcd', nonResource('get', '/healthz/etcd')],
    ['GET', '/livez?verbose', nonResource('get', '/livez')],
    ['GET', '/readyz', nonResource('get', '/readyz')],
    ['GET', '/metrics', nonResource('get', '/metrics')],
    ['GET', '/api', nonResource('get', '/api')],
    ['GET', '/api/', nonResource('get', '/api/')],
    ['GET', '/api/v1', nonResource('get', '/api/v1')],
    ['GET', '/api/v1/', nonResource('get', '/api/v1/')],
    ['GET', '/api/version', nonResource('get', '/api/version')],
    ['GET', '/api/version/', nonResource('get', '/api/version/')],
    ['GET', '/apis', nonResource('get', '/apis')],
    ['GET', '/apis/', nonResource('get', '/apis/')],
    ['GET', '/apis/apps', nonResource('get', '/apis/apps')],
    ['GET', '/apis/apps/v1', nonResource('get', '/apis/apps/v1')],
    ['GET', '/apis/apps/v1/', nonResource('get', '/apis/apps/v1/')],
    ['GET', '/apis/extensions/v1beta1', nonResource('get', '/apis/extensions/v1beta1')],
    ['GET', '/apis/group/version/', nonResource('get', '/apis/group/version/')],
    ['GET', '/apis/version/resource', nonResource('get', '/apis/version/resource')],
    ['GET', '/badprefix/version/resource', nonResource('get', '/badprefix/version/resource')],
    ['GET', '/not-api/version/resource', nonResource('get', '/not-api/version/resource')],
    ['GET', '/openapi/v2', nonResource('get', '/openapi/v2')],
    ['GET', '/openapi/v3', nonResource('get', '/openapi/v3')],
    ['GET', '/openapi/v3/apis/apps/v1?hash=abc', nonResource('get', '/openapi/v3/apis/apps/v1')],
    ['GET', '/.well-known/openid-configuration', nonResource('get', '/.well-known/openid-configuration')],
    ['GET', '/debug/pprof/heap', nonResource('get', '/debug/pprof/heap')],
    ['GET', '/API/v1/pods', nonResource('get', '/API/v1/pods')],
    ['HEAD', '/healthz', nonResource('head', '/healthz')],
    ['POST', '/version', nonResource('post', '/version')],
    ['PUT', '/apis/apps/v1', nonResource('put', '/apis/apps/v1')],
    ['DELETE', '/api/v1', nonResource('delete', '/api/v1')],
    ['OPTIONS', '/apis', nonResource('options', '/apis')],
    ['GET', '/logs/%41', nonResource('get', '/logs/A')],
  ])('%s %s', (method, url, expected) => {
    expect(resolve(method, url)).toEqual(expected);
  });
});

describe('nameFromFieldSelector (fields.ParseSelector + RequiresExactMatch("metadata.name"))', () => {
  it.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['metadata.name=foo', 'foo'],
    ['metadata.name==foo', 'foo'],
    ['metadata.name!=foo', undefined],
    ['metadata.namespace=foo', undefined],
    ['xmetadata.name=foo', undefined],
    ['foo=bar', undefined],
    ['spec.nodeName=n1,metadata.name=foo', 'foo'],
    ['metadata.name=foo,spec.nodeName=n1', 'foo'],
    ['metadata.name=foo,', 'foo'],
    ['metadata.name=a\\,b', 'a,b'],
    ['metadata.name=a\\=b', 'a=b'],
    ['metadata.name=a\\\\b', 'a\\b'],
    ['metadata.name=a\\xb', undefined],
    ['metadata.name=a\\', undefined],
    ['metadata.name=a/b', undefined],
    ['metadata.name=a%b', undefined],
    ['metadata.name=..', undefined],
    ['metadata.name=.', undefined],
    ['metadata.name=...', '...'],
    ['metadata.name=', ''],
    ['metadata.name=a b', 'a b'],
    ['metadata.name=é', 'é'],
    // A term that does not parse voids the whole selector (TestFieldSelectorParsing "invalid selector…").
    ['metadata.name=name1,foo', undefined],
    ['metadata.name=a=b', undefined],
    ['metadata.name===b', undefined],
    ['metadata.name=foo,spec.x=a\\q', undefined],
    // Terms are sorted before the first exact match is taken.
    ['metadata.name=b,metadata.name=a', 'a'],
    // Sorted as Go sorts strings, by UTF-8 bytes: U+FF46 comes before U+1F600 (UTF-16 order says the opposite).
    ['metadata.name=😀,metadata.name=\uff46', '\uff46'],
    // hasTerm.Transform turns a term with neither field nor value into Everything, which is dropped.
    ['=,metadata.name=foo', 'foo'],
  ])('%j', (selector, expected) => {
    expect(nameFromFieldSelector(selector)).toBe(expected);
  });
});

describe('resolveAttributes: a query that does not decode as ListOptions keeps the verb but names nothing', () => {
  it.each<[string, string, string]>([
    ['/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dfoo&limit=abc', 'list', ''],
    ['/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dfoo&timeoutSeconds=1.5&watch=1', 'watch', ''],
    ['/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dfoo&limit=500', 'list', 'foo'],
  ])('%s', (url, verb, name) => {
    expect(resolve('GET', url)).toMatchObject({ verb, name });
  });
});

describe('isLongRunning (BasicLongRunningRequestCheck with kube-apiserver sets)', () => {
  it.each<[string, string, boolean]>([
    ['GET', '/api/v1/pods?watch=1', true],
    ['GET', '/api/v1/pods?watch', true],
    ['GET', '/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dp', true],
    ['GET', '/api/v1/watch/pods', true],
    ['GET', '/apis/apps/v1/watch/namespaces/default/deployments/web', true],
    ['GET', '/api/v1/proxy/nodes/n1/stats', true],
    ['GET', '/api/v1/namespaces/default/pods/p/log', true],
    ['GET', '/api/v1/namespaces/default/pods/p/log?follow=true', true],
    ['POST', '/api/v1/namespaces/default/pods/p/exec', true],
    ['GET', '/api/v1/namespaces/default/pods/p/exec', true],
    ['POST', '/api/v1/namespaces/default/pods/p/attach', true],
    ['POST', '/api/v1/namespaces/default/pods/p/portforward', true],
    ['GET', '/api/v1/namespaces/default/services/s/proxy/metrics', true],
    ['GET', '/api/v1/nodes/n1/proxy/metrics', true],
    ['GET', '/apis/example.com/v1/namespaces/default/things/t/log', true],
    ['GET', '/api/v1/pods', false],
    ['GET', '/api/v1/pods?watch=false', false],
    ['GET', '/api/v1/pods?watch=0', false],
    ['GET', '/api/v1/namespaces/default/pods/p', false],
    ['GET', '/api/v1/namespaces/default/pods/p/status', false],
    ['POST', '/api/v1/namespaces/default/pods/p/eviction', false],
    ['GET', '/apis/apps/v1/namespaces/default/deployments/web/scale', false],
    ['DELETE', '/api/v1/namespaces/default/pods', false],
    ['GET', '/version', false],
    ['GET', '/healthz', false],
    ['GET', '/api/v1', false],
    ['GET', '/openapi/v2', false],
    ['GET', '/debug/pprof/profile?seconds=120', true],
    ['GET', '/debug/pprof', false],
  ])('%s %s', (method, url, expected) => {
    expect(isLongRunning(resolve(method, url))).toBe(expected);
  });
});

describe('isStreamingSubresource (exec, attach and portforward on a named core pod)', () => {
  it.each<[string, string, boolean]>([
    ['POST', '/api/v1/namespaces/default/pods/p/exec', true],
    ['GET', '/api/v1/namespaces/default/pods/p/exec?command=sh', true],
    ['POST', '/api/v1/namespaces/default/pods/p/attach', true],
    ['GET', '/api/v1/namespaces/default/pods/p/portforward', true],
    ['GET', '/api/v1/namespaces/default/pods/p/log', false],
    ['GET', '/api/v1/namespaces/default/pods/p/proxy', false],
    ['GET', '/api/v1/namespaces/default/pods/p', false],
    ['POST', '/api/v1/namespaces/default/nodes/n/exec', false],
    ['POST', '/apis/example.com/v1/namespaces/default/pods/p/exec', false],
    ['GET', '/api/v1/proxy/namespaces/default/pods/p/exec', false],
    ['GET', '/version', false],
  ])('%s %s', (method, url, expected) => {
    expect(isStreamingSubresource(resolve(method, url))).toBe(expected);
  });
});
