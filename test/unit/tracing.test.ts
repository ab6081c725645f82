import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Context } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { CompletedRequest } from '../../src/request/record.ts';
import { isSpanError, samplerFor, spanAttributes, spanName } from '../../src/tracing/otel.ts';
import { completedRequest } from '../support/completed-request.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
/** Trace ids at either end of TraceIdRatioBased's range (the JS SDK reads the id's 32-bit words XORed together). */
const LOW_TRACE_ID = '00000000000000000000000000000001';
const HIGH_TRACE_ID = 'fffffff0000000000000000000000000';

function remoteParent(sampled: boolean): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: TRACE_ID,
    spanId: 'b7ad6b7169203331',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

function completed(
  method: string,
  uri: string | undefined,
  overrides: Partial<CompletedRequest> = {},
): CompletedRequest {
  return completedRequest(method, uri, { overrides, arrival: { auditId: 'audit-1' } });
}

describe("samplerFor: Kubernetes' TracingConfiguration sampling (ParentBased, a rate per million for new traces)", () => {
  it.each<[string, number, Context, string, SamplingDecision]>([
    ['a sampled client is followed at rate 0', 0, remoteParent(true), TRACE_ID, SamplingDecision.RECORD_AND_SAMPLED],
    [
      'an unsampled client is followed at any rate',
      1_000_000,
      remoteParent(false),
      TRACE_ID,
      SamplingDecision.NOT_RECORD,
    ],
    ['rate 0 never starts a recorded trace', 0, ROOT_CONTEXT, LOW_TRACE_ID, SamplingDecision.NOT_RECORD],
    [
      'a million per million records every new trace',
      1_000_000,
      ROOT_CONTEXT,
      HIGH_TRACE_ID,
      SamplingDecision.RECORD_AND_SAMPLED,
    ],
    [
      'a small rate records a trace id under its share',
      1000,
      ROOT_CONTEXT,
      LOW_TRACE_ID,
      SamplingDecision.RECORD_AND_SAMPLED,
    ],
    ['a small rate skips a trace id over its share', 1000, ROOT_CONTEXT, HIGH_TRACE_ID, SamplingDecision.NOT_RECORD],
  ])('%s', (_name, rate, parent, traceId, decision) => {
    expect(samplerFor(rate).shouldSample(parent, traceId, 'GET', SpanKind.SERVER, {}, []).decision).toBe(decision);
  });
});

describe('spanName: low cardinality, as the API server names the request', () => {
  it.each<[string, string | undefined, string]>([
    ['GET', '/api/v1/namespaces/team-a/pods', 'list pods'],
    ['GET', '/api/v1/namespaces/team-a/pods/web', 'get pods'],
    ['GET', '/api/v1/namespaces/team-a/pods/web/log', 'get pods/log'],
    ['GET', '/apis/apps/v1/deployments?watch=true', 'watch deployments'],
    ['POST', '/apis/batch/v1/namespaces/team-a/jobs', 'create jobs'],
    ['GET', '/version', 'get /version'],
    ['PUT', undefined, 'PUT'],
  ])('%s %s → %s', (method, uri, name) => {
    expect(spanName(completed(method, uri))).toBe(name);
  });
});

describe('spanAttributes', () => {
  it.each<[string, CompletedRequest, Record<string, string | number>]>([
    [
      'a resource request',
      completed('DELETE', '/apis/apps/v1/namespaces/team-a/deployments/web/scale', {
        statusCode: 403,
        decision: 'deny',
        reason: 'not in the policy',
      }),
      {
        'http.request.method': 'DELETE',
        'http.response.status_code': 403,
        'kube_api_ambassador.decision': 'deny',
        'kube_api_ambassador.audit_id': 'audit-1',
        'kube_api_ambassador.reason': 'not in the policy',
        'k8s.request.verb': 'delete',
        'k8s.request.resource': 'deployments',
        'k8s.request.subresource': 'scale',
        'k8s.request.namespace': 'team-a',
        'k8s.request.name': 'web',
        'k8s.request.api_group': 'apps',
      },
    ],
    [
      'a cluster-scoped list',
      completed('GET', '/api/v1/nodes'),
      {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'kube_api_ambassador.decision': 'allow',
        'kube_api_ambassador.audit_id': 'audit-1',
        'k8s.request.verb': 'list',
        'k8s.request.resource': 'nodes',
      },
    ],
    [
      'a non-resource request',
      completed('GET', '/healthz'),
      {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'kube_api_ambassador.decision': 'allow',
        'kube_api_ambassador.audit_id': 'audit-1',
        'k8s.request.verb': 'get',
        'url.path': '/healthz',
      },
    ],
    [
      'a target that was not understood',
      completed('GET', undefined, { statusCode: 400, decision: 'invalid', reason: 'ambiguous' }),
      {
        'http.request.method': 'GET',
        'http.response.status_code': 400,
        'kube_api_ambassador.decision': 'invalid',
        'kube_api_ambassador.audit_id': 'audit-1',
        'kube_api_ambassador.reason': 'ambiguous',
      },
    ],
  ])('%s', (_name, request, expected) => {
    expect(spanAttributes(request)).toEqual(expected);
  });
});

describe('isSpanError: 5xx and panics, not the client errors', () => {
  it.each<[number, boolean, boolean]>([
    [200, false, false],
    [101, false, false],
    [403, false, false],
    [429, false, false],
    [499, false, false],
    [500, true, true],
    [503, false, true],
    [504, false, true],
  ])('%i (panicked: %s) → %s', (statusCode, panicked, error) => {
    expect(isSpanError(completed('GET', '/version', { statusCode, panicked }))).toBe(error);
  });
});
