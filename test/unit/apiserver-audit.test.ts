import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/history/apiserver-event.ts';
import { RecordedLog, type RecordedLogSummary } from '../../src/history/recorded-log.ts';
import { decidedVerbs, methodOf, resolveRecorded } from '../../src/history/recorded-request.ts';
import { apiServerEvent, apiServerLine, SERVICE_ACCOUNT, type EventSpec } from '../support/apiserver-audit.ts';

/** Reads the lines as `policy learn --user SERVICE_ACCOUNT` does, or without --user when `everyUser`. */
function readLog(
  lines: readonly string[],
  everyUser = false,
): { events: RecordedEvent[]; summary: RecordedLogSummary } {
  const events: RecordedEvent[] = [];
  const log = new RecordedLog((event) => events.push(event), everyUser ? undefined : SERVICE_ACCOUNT);
  for (const line of lines) log.read(line);
  return { events, summary: log.finish() };
}

interface ReaderCase {
  readonly name: string;
  readonly event: EventSpec;
  readonly method: string;
  /** The resolved attributes: verb group/resource[/subresource] namespace name, or verb path. */
  readonly resolved: string;
  readonly decidedVerbs: readonly string[];
}

const POD = { resource: 'pods', namespace: 'team-a', apiVersion: 'v1' };

/** Events as kube-apiserver records them (verb from requestinfo.go, objectRef from the same RequestInfo). */
const READER_CASES: readonly ReaderCase[] = [
  {
    name: 'list',
    event: { verb: 'list', uri: '/api/v1/namespaces/team-a/pods?limit=500', objectRef: POD },
    method: 'GET',
    resolved: 'list /pods team-a',
    decidedVerbs: ['list'],
  },
  {
    name: 'list of one name by fieldSelector',
    event: {
      verb: 'list',
      uri: '/api/v1/namespaces/team-a/configmaps?fieldSelector=metadata.name%3Dsettings',
      objectRef: { resource: 'configmaps', namespace: 'team-a', name: 'settings', apiVersion: 'v1' },
    },
    method: 'GET',
    resolved: 'list /configmaps team-a settings',
    decidedVerbs: ['list'],
  },
  {
    name: 'watch, ResponseStarted only (still open when the log ends)',
    event: {
      verb: 'watch',
      uri: '/api/v1/namespaces/team-a/pods?allowWatchBookmarks=true&resourceVersion=4711&watch=true',
      objectRef: POD,
      stage: 'ResponseStarted',
    },
    method: 'GET',
    resolved: 'watch /pods team-a',
    decidedVerbs: ['watch'],
  },
  {
    name: 'legacy watch path',
    event: { verb: 'watch', uri: '/api/v1/watch/namespaces/team-a/pods/web-0', objectRef: { ...POD, name: 'web-0' } },
    method: 'GET',
    resolved: 'watch /pods team-a web-0',
    decidedVerbs: ['watch'],
  },
  {
    name: 'create of a subresource (serviceaccounts/token)',
    event: {
      verb: 'create',
      uri: '/api/v1/namespaces/team-a/serviceaccounts/analytics/token',
      objectRef: {
        resource: 'serviceaccounts',
        namespace: 'team-a',
        name: 'analytics',
        apiVersion: 'v1',
        subresource: 'token',
      },
      code: 201,
    },
    method: 'POST',
    resolved: 'create /serviceaccounts/token team-a analytics',
    decidedVerbs: ['create'],
  },
  {
    name: 'create of a subresource in a group (pods/eviction is core; deployments/scale is apps)',
    event: {
      verb: 'update',
      uri: '/apis/apps/v1/namespaces/team-a/deployments/web/scale',
      objectRef: {
        resource: 'deployments',
        namespace: 'team-a',
        name: 'web',
        apiGroup: 'apps',
        apiVersion: 'v1',
        subresource: 'scale',
      },
    },
    method: 'PUT',
    resolved: 'update apps/deployments/scale team-a web',
    decidedVerbs: ['update'],
  },
  {
    name: 'exec over SPDY (POST, the command in requestURI)',
    event: {
      verb: 'create',
      uri: '/api/v1/namespaces/team-a/pods/web-0/exec?command=sh&command=-c&command=date&container=main&stderr=true&stdout=true',
      objectRef: { ...POD, name: 'web-0', subresource: 'exec' },
      code: 101,
    },
    method: 'POST',
    resolved: 'create /pods/exec team-a web-0',
    decidedVerbs: ['create'],
  },
  {
    name: 'exec over WebSocket (GET, authorized for create too)',
    event: {
      verb: 'get',
      uri: '/api/v1/namespaces/team-a/pods/web-0/exec?command=date&container=main&stdout=true',
      objectRef: { ...POD, name: 'web-0', subresource: 'exec' },
      code: 101,
    },
    method: 'GET',
    resolved: 'get /pods/exec team-a web-0',
    decidedVerbs: ['get', 'create'],
  },
  {
    name: 'cluster-scoped list',
    event: { verb: 'list', uri: '/api/v1/nodes?limit=500', objectRef: { resource: 'nodes', apiVersion: 'v1' } },
    method: 'GET',
    resolved: 'list /nodes  ',
    decidedVerbs: ['list'],
  },
  {
    name: 'cluster-scoped get in a group',
    event: {
      verb: 'get',
      uri: '/apis/rbac.authorization.k8s.io/v1/clusterroles/view',
      objectRef: { resource: 'clusterroles', name: 'view', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' },
    },
    method: 'GET',
    resolved: 'get rbac.authorization.k8s.io/clusterroles  view',
    decidedVerbs: ['get'],
  },
  {
    name: 'non-resource URL',
    event: { verb: 'get', uri: '/version?timeout=32s' },
    method: 'GET',
    resolved: 'get /version',
    decidedVerbs: ['get'],
  },
  {
    name: 'discovery',
    event: { verb: 'get', uri: '/apis/batch/v1' },
    method: 'GET',
    resolved: 'get /apis/batch/v1',
    decidedVerbs: ['get'],
  },
  {
    name: 'patch',
    event: {
      verb: 'patch',
      uri: '/apis/apps/v1/namespaces/team-a/deployments/web?fieldManager=kubectl-edit',
      objectRef: { resource: 'deployments', namespace: 'team-a', name: 'web', apiGroup: 'apps', apiVersion: 'v1' },
    },
    method: 'PATCH',
    resolved: 'patch apps/deployments team-a web',
    decidedVerbs: ['patch'],
  },
  {
    name: 'update of a resource created on update (services: create too)',
    event: {
      verb: 'update',
      uri: '/api/v1/namespaces/team-a/services/web',
      objectRef: { resource: 'services', namespace: 'team-a', name: 'web', apiVersion: 'v1' },
    },
    method: 'PUT',
    resolved: 'update /services team-a web',
    decidedVerbs: ['update', 'create'],
  },
  {
    name: 'deletecollection',
    event: {
      verb: 'deletecollection',
      uri: '/api/v1/namespaces/team-a/pods?labelSelector=job%3Dreport',
      objectRef: POD,
    },
    method: 'DELETE',
    resolved: 'deletecollection /pods team-a',
    decidedVerbs: ['deletecollection'],
  },
  {
    name: 'made as another user (impersonation)',
    event: {
      verb: 'get',
      uri: '/api/v1/namespaces/team-a/secrets/db',
      objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' },
      impersonatedUser: 'jane@example.com',
    },
    method: 'GET',
    resolved: 'get /secrets team-a db',
    decidedVerbs: ['get'],
  },
];

describe("kube-apiserver's audit events, read and resolved", () => {
  it.each(READER_CASES)('$name', ({ event, method, resolved, decidedVerbs: verbs }) => {
    const { events, summary } = readLog([apiServerLine(event)]);
    expect(summary).toMatchObject({ format: 'kube-apiserver', events: 1, requests: 1, malformedLines: 0 });
    expect(events).toHaveLength(1);
    const [read] = events;
    if (read === undefined) throw new Error('no event');
    expect(read).toMatchObject({
      verb: event.verb,
      requestUri: event.uri,
      user: SERVICE_ACCOUNT,
      decision: 'allow',
      impersonatedUser: event.impersonatedUser,
    });
    expect(methodOf(read)).toBe(method);
    const recorded = resolveRecorded(read);
    if (!recorded.ok) throw new Error(recorded.problem);
    const a = recorded.value.request.attributes;
    expect(
      a.isResourceRequest
        ? `${a.verb} ${a.apiGroup}/${a.resource}${a.subresource === '' ? '' : `/${a.subresource}`} ${a.namespace} ${a.name}`.trimEnd()
        : `${a.verb} ${a.path}`,
    ).toBe(resolved.trimEnd());
    expect(recorded.value.mismatch).toBeUndefined();
    expect(decidedVerbs(recorded.value)).toEqual(verbs);
  });

  it("hands on only --user's requests, and counts every user's", () => {
    const lines = [
      apiServerLine({ verb: 'get', uri: '/version' }),
      apiServerLine({
        verb: 'list',
        uri: '/api/v1/services?limit=500',
        objectRef: { resource: 'services', apiVersion: 'v1' },
        user: 'system:serviceaccount:kube-system:coredns',
      }),
      apiServerLine({
        verb: 'list',
        uri: '/api/v1/services?limit=500',
        objectRef: { resource: 'services', apiVersion: 'v1' },
        user: 'system:serviceaccount:kube-system:coredns',
      }),
    ];
    const { events, summary } = readLog(lines);
    expect(events.map((event) => event.requestUri)).toEqual(['/version']);
    expect(summary.users).toEqual(
      new Map([
        [SERVICE_ACCOUNT, 1],
        ['system:serviceaccount:kube-system:coredns', 2],
      ]),
    );
    expect(readLog(lines, true).events).toHaveLength(3);
  });

  it('reads each request once, at its last stage', () => {
    const lines = [
      apiServerLine({
        verb: 'list',
        uri: '/api/v1/namespaces/team-a/pods',
        objectRef: POD,
        id: 'a',
        stage: 'RequestReceived',
        decision: null,
      }),
      apiServerLine({ verb: 'list', uri: '/api/v1/namespaces/team-a/pods', objectRef: POD, id: 'a' }),
      apiServerLine({
        verb: 'watch',
        uri: '/api/v1/namespaces/team-a/pods?watch=1',
        objectRef: POD,
        id: 'b',
        stage: 'ResponseStarted',
      }),
      apiServerLine({ verb: 'watch', uri: '/api/v1/namespaces/team-a/pods?watch=1', objectRef: POD, id: 'b' }),
      apiServerLine({
        verb: 'get',
        uri: '/api/v1/namespaces/team-a/pods/web-0',
        objectRef: { ...POD, name: 'web-0' },
        id: 'c',
        stage: 'Panic',
        code: 500,
      }),
      apiServerLine({
        verb: 'get',
        uri: '/api/v1/namespaces/team-a/pods/web-1',
        objectRef: { ...POD, name: 'web-1' },
        id: 'd',
        decision: null,
        code: 401,
      }),
    ];
    const { events, summary } = readLog(lines);
    expect(events.map((event) => [event.auditId, event.stage, event.decision])).toEqual([
      ['a', 'ResponseComplete', 'allow'],
      ['b', 'ResponseComplete', 'allow'],
      ['c', 'Panic', 'allow'],
      ['d', 'ResponseComplete', undefined],
    ]);
    expect(summary).toMatchObject({ events: 6, requests: 4, startedEvents: 1, otherStages: 1, stillOpen: 0 });
  });

  it("reads a webhook backend's EventList batches, one a line, and says which items it could not read", () => {
    const batch = {
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      metadata: {},
      items: [
        apiServerEvent({ verb: 'get', uri: '/version' }),
        { kind: 'Event', apiVersion: 'audit.k8s.io/v1', stage: 'ResponseComplete' },
        apiServerEvent({ verb: 'get', uri: '/apis' }),
      ],
    };
    const { events, summary } = readLog([JSON.stringify(batch)]);
    expect(events.map((event) => event.requestUri)).toEqual(['/version', '/apis']);
    expect(summary).toMatchObject({
      format: 'kube-apiserver',
      events: 2,
      malformedLines: 1,
      firstMalformed: [{ line: 1, problem: 'items[1]: an event without auditID, verb, requestURI' }],
    });
  });

  it("keeps a delete's DeleteOptions from level Request, and decides on them", () => {
    const deleteOptions = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', dryRun: ['All'] };
    const { events } = readLog([
      apiServerLine({
        verb: 'delete',
        uri: '/api/v1/namespaces/team-a/pods/web-0',
        objectRef: { ...POD, name: 'web-0' },
        level: 'Request',
        requestObject: deleteOptions,
      }),
    ]);
    expect(events[0]?.deleteOptions).toEqual(deleteOptions);
    const recorded = events[0] === undefined ? undefined : resolveRecorded(events[0]);
    expect(recorded?.ok === true ? recorded.value.request.deleteOptions : undefined).toEqual({
      ok: true,
      value: ['All'],
    });
  });

  it('counts lines that are not audit events, and malformed lines by number', () => {
    const { summary } = readLog([
      '',
      '{"msg":"starting"}',
      'not json',
      '[1]',
      apiServerLine({ verb: 'get', uri: '/version' }),
    ]);
    expect(summary).toMatchObject({
      events: 1,
      otherLines: 1,
      malformedLines: 2,
      firstMalformed: [
        { line: 3, problem: 'not JSON' },
        { line: 4, problem: 'not a JSON object' },
      ],
    });
  });

  it("tells the ambassador's events from kube-apiserver's, and refuses to mix them", () => {
    const ambassador = JSON.stringify({
      ...apiServerEvent({ verb: 'get', uri: '/version' }),
      annotations: { 'kube-api-ambassador/decision': 'would_deny' },
    });
    const { events, summary } = readLog([ambassador, apiServerLine({ verb: 'get', uri: '/apis' })], true);
    expect(summary).toMatchObject({ format: 'ambassador', requests: 1, malformedLines: 1 });
    expect(events[0]).toMatchObject({ decision: 'allow', requestUri: '/version', user: undefined });
  });
});

describe('a recorded request the ambassador resolves otherwise', () => {
  it('is decided as the ambassador resolves it, and says what the API server recorded', () => {
    const [event] = readLog([
      apiServerLine({
        verb: 'get',
        uri: '/api/v1/namespaces/team-a/pods/web-0',
        objectRef: { resource: 'pods', namespace: 'team-b', name: 'web-0', apiVersion: 'v1' },
      }),
    ]).events;
    const recorded = event === undefined ? undefined : resolveRecorded(event);
    expect(recorded).toMatchObject({
      ok: true,
      value: {
        mismatch:
          'the API server recorded get on resource "pods" named "web-0" in API group "" in the namespace "team-b"; the ambassador resolves get on resource "pods" named "web-0" in API group "" in the namespace "team-a"',
      },
    });
  });

  it.each([
    [
      'a target the ambassador refuses',
      { verb: 'get', uri: '/api/v1/namespaces/team-a//pods', objectRef: POD },
      'the path has an empty segment ("//")',
    ],
    [
      'a verb no method gives',
      { verb: 'impersonate', uri: '/api/v1/namespaces/team-a/pods', objectRef: POD },
      'no HTTP method gives the verb "impersonate"',
    ],
  ])('is refused: %s', (_, spec, problem) => {
    const [event] = readLog([apiServerLine(spec)]).events;
    expect(event === undefined ? undefined : resolveRecorded(event)).toEqual({ ok: false, problem });
  });
});
