/** Small builders of what tests decide on: a request's attributes, and service-account-shaped tokens. */
import { resolveAttributes, type RequestAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

/** The attributes of `method raw`, as the request path resolves them; undefined for a target it refuses. */
export function attributesOf(method: string, raw: string): RequestAttributes | undefined {
  const parsed = parseRequestTarget(raw);
  return parsed.ok ? resolveAttributes(method, parsed.value) : undefined;
}

/** A JWT-shaped token with these claims and no real signature: enough for the claims the ambassador reads. */
export function unsignedJwt(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256' },
  signature = 'signature',
): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.${signature}`;
}
