import { describe, expect, it } from 'vitest';
import { auditLine } from '../../src/audit/event.ts';
import { auditPolicyForLevel, auditVerdict } from '../../src/audit/policy.ts';
import type { AuditLevel, AuditStage } from '../../src/config/kinds.ts';
import { BodyCapture } from '../../src/request/body-capture.ts';
import type { Arrival, CompletedRequest } from '../../src/request/record.ts';
import { parseAuditEvent } from '../support/audit-schema.ts';
import { completedRequest } from '../support/completed-request.ts';

const RECEIVED = Date.UTC(2026, 10, 22, 3, 41, 12, 104);
const NOW = RECEIVED + 5;
const USER = { username: 'system:serviceaccount:team-a:app', groups: ['system:authenticated'] };

function completed(
  method: string,
  uri: string,
  overrides: Partial<CompletedRequest> = {},
  arrival: Partial<Arrival> = {},
): CompletedRequest {
  const defaults = { receivedAt: RECEIVED, userAgent: 'kubectl/v1.33.0', sourceIp: '127.0.0.1' };
  return completedRequest(method, uri, {
    overrides,
    arrival: { ...defaults, ...arrival },
    auditLevel: 'Metadata',
    user: USER,
  });
}

/** The fields of an Event these tests read. */
interface EventFields {
  readonly level: string;
  readonly user: unknown;
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
  readonly requestObject?: unknown;
  readonly responseObject?: unknown;
  readonly annotations?: Readonly<Record<string, string>>;
}

const BASE = {
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: '3f6c2a0e-0000-4000-8000-000000000001',
  user: USER,
  sourceIPs: ['127.0.0.1'],
  userAgent: 'kubectl/v1.33.0',
  requestReceivedTimestamp: '2026-11-22T03:41:12.104000Z',
  stageTimestamp: '2026-11-22T03:41:12.109000Z',
};

describe('auditLine: one audit.k8s.io/v1 Event per line', () => {
  it.each<[string, AuditStage, CompletedRequest, Record<string, unknown>]>([
    [
      'a get',
      'ResponseComplete',
      completed('GET', '/api/v1/namespaces/team-a/pods/web'),
      {
        ...BASE,
        stage: 'ResponseComplete',
        requestURI: '/api/v1/namespaces/team-a/pods/web',
        verb: 'get',
        objectRef: { resource: 'pods', namespace: 'team-a', name: 'web', apiVersion: 'v1' },
        responseStatus: { metadata: {}, code: 200 },
        annotations: { 'kube-api-ambassador/decision': 'allow' },
      },
    ],
    [
      'a watch as it starts (no responseStatus yet)',
      'ResponseStarted',
      completed('GET', '/apis/apps/v1/watch/namespaces/x/deployments'),
      {
        ...BASE,
        stage: 'ResponseStarted',
        requestURI: '/apis/apps/v1/watch/namespaces/x/deployments',
        verb: 'watch',
        objectRef: { resource: 'deployments', namespace: 'x', apiGroup: 'apps', apiVersion: 'v1' },
        annotations: { 'kube-api-ambassador/decision': 'allow' },
      },
    ],
    [
      "a denial, with the client's Audit-ID and characters JSON must escape",
      'ResponseComplete',
      completed(
        'DELETE',
        '/api/v1/nodes/n1/status',
        { statusCode: 403, decision: 'deny', reason: 'no rule allows "delete" on nodes\n' },
        { clientAuditId: 'client "id"', userAgent: 'agent\u0000with\\control' },
      ),
      {
        ...BASE,
        userAgent: 'agent\u0000with\\control',
        stage: 'ResponseComplete',
        requestURI: '/api/v1/nodes/n1/status',
        verb: 'delete',
        objectRef: { resource: 'nodes', name: 'n1', apiVersion: 'v1', subresource: 'status' },
        responseStatus: { metadata: {}, code: 403, status: 'Failure', message: 'no rule allows "delete" on nodes\n' },
        annotations: {
          'kube-api-ambassador/decision': 'deny',
          'kube-api-ambassador/reason': 'no rule allows "delete" on nodes\n',
          'kube-api-ambassador/client-audit-id': 'client "id"',
        },
      },
    ],
    [
      'a malformed target: no objectRef, the method as verb, no user agent or source',
      'ResponseComplete',
      completed(
        'GET',
        '/api/v1/%zz',
        { statusCode: 400, decision: 'invalid', reason: 'malformed' },
        { userAgent: undefined, sourceIp: undefined },
      ),
      {
        ...BASE,
        userAgent: undefined,
        sourceIPs: [],
        stage: 'ResponseComplete',
        requestURI: '/api/v1/%zz',
        verb: 'get',
        responseStatus: { metadata: {}, code: 400, status: 'Failure', message: 'malformed' },
        annotations: { 'kube-api-ambassador/decision': 'invalid', 'kube-api-ambassador/reason': 'malformed' },
      },
    ],
  ])('%s', (_, stage, request, expected) => {
    const line = auditLine(stage, request, USER, NOW);
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it.each<[number, number, string, string]>([
    [Date.UTC(2026, 10, 22, 3, 41, 12, 7), 33, '2026-11-22T03:41:12.007000Z', '2026-11-22T03:41:12.040000Z'],
    [Date.UTC(2026, 10, 22, 3, 41, 59, 990), 20, '2026-11-22T03:41:59.990000Z', '2026-11-22T03:42:00.010000Z'],
    [Date.UTC(2026, 11, 31, 23, 59, 59, 999), 1, '2026-12-31T23:59:59.999000Z', '2027-01-01T00:00:00.000000Z'],
  ])(
    'writes timestamps to the microsecond, across seconds (%i + %i ms)',
    (received, elapsed, receivedText, stageText) => {
      const event = parseAuditEvent<EventFields>(
        auditLine(
          'ResponseComplete',
          completed('GET', '/version', {}, { receivedAt: received }),
          USER,
          received + elapsed,
        ),
      );
      expect([event.requestReceivedTimestamp, event.stageTimestamp]).toEqual([receivedText, stageText]);
    },
  );

  it('names an unknown user when the credentials do not say who they are', () => {
    expect(
      parseAuditEvent<EventFields>(auditLine('ResponseComplete', completed('GET', '/version'), undefined, NOW)).user,
    ).toEqual({
      username: 'unknown',
    });
  });
});

describe('auditLine: bodies at the Request levels', () => {
  function body(text: string, limit = 1024): BodyCapture {
    const captured = new BodyCapture(limit, 'application/json', undefined);
    captured.add(Buffer.from(text));
    return captured;
  }
  const create = (level: AuditLevel, overrides: Partial<CompletedRequest>): CompletedRequest => {
    const request = completed('POST', '/api/v1/namespaces/team-a/configmaps', { statusCode: 201 });
    return { ...request, audit: auditVerdict(auditPolicyForLevel(level), request.attributes, USER), ...overrides };
  };

  it('puts the objects in requestObject and responseObject, and the level in level', () => {
    const event = parseAuditEvent<EventFields>(
      auditLine(
        'ResponseComplete',
        create('RequestResponse', {
          requestBody: body('{"kind":"ConfigMap","data":{"a":"1"}}'),
          responseBody: body('{"kind":"ConfigMap","metadata":{"uid":"u"}}'),
        }),
        USER,
        NOW,
      ),
    );
    expect(event.level).toBe('RequestResponse');
    expect(event.requestObject).toEqual({ kind: 'ConfigMap', data: { a: '1' } });
    expect(event.responseObject).toEqual({ kind: 'ConfigMap', metadata: { uid: 'u' } });
    expect(event.annotations).toEqual({ 'kube-api-ambassador/decision': 'allow' });
  });

  it('says why a body is left out, and marks the event truncated once', () => {
    const event = parseAuditEvent<EventFields>(
      auditLine(
        'ResponseComplete',
        create('RequestResponse', { requestBody: body('{"a":"12345"}', 4), responseBody: body('{"b":"12345"}', 4) }),
        USER,
        NOW,
      ),
    );
    expect(event.requestObject).toBeUndefined();
    expect(event.responseObject).toBeUndefined();
    expect(event.annotations).toEqual({
      'kube-api-ambassador/decision': 'allow',
      'kube-api-ambassador/request-object': 'omitted: 13 bytes, over --audit-max-body-bytes=4',
      'kube-api-ambassador/response-object': 'omitted: 13 bytes, over --audit-max-body-bytes=4',
      'audit.k8s.io/truncated': 'true',
    });
  });

  it('names the trace the request went upstream in, when tracing is on', () => {
    const span = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01',
      tracestate: undefined,
      end: () => undefined,
    };
    const event = parseAuditEvent<EventFields>(
      auditLine('ResponseComplete', completed('GET', '/version', {}, { span }), USER, NOW),
    );
    expect(event.annotations).toEqual({
      'kube-api-ambassador/decision': 'allow',
      'kube-api-ambassador/trace-id': '0af7651916cd43dd8448eb211c80319c',
    });
  });

  it('writes the Panic stage with its 500', () => {
    const event = parseAuditEvent<EventFields>(
      auditLine(
        'Panic',
        create('Metadata', { statusCode: 500, reason: 'the ambassador failed', panicked: true }),
        USER,
        NOW,
      ),
    );
    expect(event).toMatchObject({
      stage: 'Panic',
      level: 'Metadata',
      responseStatus: { code: 500, status: 'Failure', message: 'the ambassador failed' },
    });
  });
});
