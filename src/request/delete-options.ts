/**
 * The DeleteOptions kube-apiserver acts on for `delete` and `deletecollection`
 * (k8s.io/apiserver/pkg/endpoints/handlers/delete.go, DeleteResource and DeleteCollection): a
 * non-empty body is decoded as DeleteOptions and the query is then ignored entirely; only an empty
 * body lets the options come from the query. The body is decoded by the serializer its
 * Content-Type names (JSON when absent); the ambassador reads JSON only, and says so for the rest.
 */
import { isRecord } from '../config/document.ts';
import { failure, success, type Result } from '../config/result.ts';
import { queryValues } from './target.ts';

/** DeleteOptions bodies are a few hundred bytes; kube-apiserver's own limit is 3 MB for any body. */
export const DELETE_OPTIONS_BODY_LIMIT = 64 * 1024;

/** Why the ambassador cannot read a DeleteOptions body, and the status the API server would answer. */
export interface UnreadableBody {
  readonly code: 400 | 415;
  readonly message: string;
}

/** What the API server will read as DeleteOptions.dryRun, or why the ambassador cannot tell. */
export type DeleteOptionsRead = Result<readonly string[], UnreadableBody>;

const NO_DRY_RUN: DeleteOptionsRead = success([]);

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
  if (body === undefined || body.length === 0) return success(queryValues(query, 'dryRun'));
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
  if (!isRecord(document)) return unreadable(400, 'the DeleteOptions body must be a JSON object');
  const kind = document['kind'];
  if (kind !== undefined && kind !== 'DeleteOptions') {
    return unreadable(400, `the body of a delete must be DeleteOptions, not ${JSON.stringify(kind)}`);
  }
  const dryRun = document['dryRun'];
  if (dryRun === undefined || dryRun === null) return NO_DRY_RUN;
  if (!Array.isArray(dryRun) || !dryRun.every((value) => typeof value === 'string')) {
    return unreadable(400, 'dryRun in the DeleteOptions body must be a list of strings, such as ["All"]');
  }
  return success(dryRun);
}

function unreadable(code: 400 | 415, message: string): DeleteOptionsRead {
  return failure({ code, message });
}
