/** A request as the recorders read it when it ends, built from a method and target for unit tests. */
import { auditPolicyForLevel, auditVerdict } from '../../src/audit/policy.ts';
import type { UserInfo } from '../../src/cluster/credentials.ts';
import type { AuditLevel } from '../../src/config/kinds.ts';
import { resolveAttributes } from '../../src/request/attributes.ts';
import type { Arrival, CompletedRequest } from '../../src/request/record.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

export interface CompletedRequestOptions {
  readonly overrides?: Partial<CompletedRequest>;
  readonly arrival?: Partial<Arrival>;
  readonly auditLevel?: AuditLevel;
  readonly user?: UserInfo;
}

/** `uri` undefined stands for a target that did not parse. */
export function completedRequest(
  method: string,
  uri: string | undefined,
  options: CompletedRequestOptions = {},
): CompletedRequest {
  const parsed = uri === undefined ? undefined : parseRequestTarget(uri);
  const attributes = parsed?.ok === true ? resolveAttributes(method, parsed.value) : undefined;
  return {
    arrival: {
      method,
      startedAt: 0,
      receivedAt: 0,
      auditId: '3f6c2a0e-0000-4000-8000-000000000001',
      requestUri: uri ?? '',
      userAgent: undefined,
      sourceIp: undefined,
      clientAuditId: undefined,
      ...options.arrival,
    },
    attributes,
    query: parsed?.ok === true ? parsed.value.query : '',
    dryRun: false,
    contentType: undefined,
    statusCode: 200,
    decision: 'allow',
    reason: undefined,
    bytesFromClient: 0,
    bytesToClient: 0,
    audit: auditVerdict(auditPolicyForLevel(options.auditLevel ?? 'None'), attributes, options.user),
    ...options.overrides,
  };
}
