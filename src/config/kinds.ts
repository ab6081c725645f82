/**
 * The closed sets that configuration chooses from, owned here so that every layer can name them
 * without importing the one that acts on them.
 */

export const AUDIT_LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type AuditLevel = (typeof AUDIT_LEVELS)[number];
/** RequestReceived is accepted in `omitStages` for compatibility; the ambassador never writes it. */
export const AUDIT_STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type AuditStage = (typeof AUDIT_STAGES)[number];

export const UPSTREAM_PROTOCOLS = ['auto', 'http2', 'http1.1'] as const;
/** auto: HTTP/2 when the API server selects it by ALPN, else HTTP/1.1. */
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];
