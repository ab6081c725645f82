/**
 * The DeleteOptions kube-apiserver acts on for `delete` and `deletecollection`
 * (k8s.io/apiserver/pkg/endpoints/handlers/delete.go, DeleteResource and DeleteCollection): a
 * non-empty body is decoded as DeleteOptions and the query is then ignored entirely; only an empty
 * body lets the options come from the query. The body is decoded by the serializer its
 * Content-Type names (JSON when absent); the ambassador reads JSON only, and says so for the rest.
 */
import { queryValues } from './target.ts';

/** DeleteOptions bodies are a few hundred bytes; kube-apiserver's own limit is 3 MB for any body. */
export const DELETE_OPTIONS_BODY_LIMIT = 64 * 1024;

/** What the API server will read as DeleteOptions.dryRun, or why the ambassador cannot tell. */
export type DeleteOptionsRead =
  | { readonly ok: true; readonly dryRun: readonly string[]; readonly from: 'body' | 'query' }
  | { readonly ok: false; readonly code: 400 | 415; readonly problem: string };

const JSON_MEDIA_TYPE = 'application/json';
const UTF8 = new TextDecoder('utf-8');

/**
 * `body` is the whole request body as read (undefined or empty when there was none).
 * JSON is decoded as sigs.k8s.io/json does for the API server: field names are case-sensitive
 * (`DryRun` is not `dryRun`), and of duplicated fields the last one wins, as with JSON.parse.
 */
export function readDeleteOptions(
  query: string,
  body: Buffer | undefined,
  contentType: string | undefined,
  contentEncoding: string | undefined,
): DeleteOptionsRead {
  if (body === undefined || body.length === 0) return { ok: true, dryRun: queryValues(query, 'dryRun'), from: 'query' };
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity') {
    return unreadable(
      415,
      `the DeleteOptions body has Content-Encoding ${JSON.stringify(contentEncoding)}, which the API server does not decode`,
    );
  }
  const mediaType = (contentType ?? JSON_MEDIA_TYPE).split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== JSON_MEDIA_TYPE) {
    return unreadable(
      415,
      `the DeleteOptions body is ${JSON.stringify(mediaType)}; the ambassador reads DeleteOptions only as application/json`,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(UTF8.decode(body));
  } catch {
    return unreadable(400, 'the DeleteOptions body is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return unreadable(400, 'the DeleteOptions body must be a JSON object');
  }
  const record = document as Record<string, unknown>;
  const kind = record['kind'];
  if (kind !== undefined && kind !== 'DeleteOptions') {
    return unreadable(400, `the body of a delete must be DeleteOptions, not ${JSON.stringify(kind)}`);
  }
  const dryRun = record['dryRun'];
  if (dryRun === undefined || dryRun === null) return { ok: true, dryRun: [], from: 'body' };
  if (!Array.isArray(dryRun) || !dryRun.every((value) => typeof value === 'string')) {
    return unreadable(400, 'dryRun in the DeleteOptions body must be a list of strings, such as ["All"]');
  }
  return { ok: true, dryRun, from: 'body' };
}

function unreadable(code: 400 | 415, problem: string): DeleteOptionsRead {
  return { ok: false, code, problem };
}
