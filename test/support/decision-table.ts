/**
 * The decision model written down: requests, how kube-apiserver reads each on the points a
 * decision depends on (the verb it authorizes, whether a write is a dry run, the query it parses),
 * and what the allow-list below must do with it. Each row names the Go behaviour it pins. The
 * table runs through the pure decision code (test/unit/decision-model.test.ts) and end to end
 * through the running ambassador and the fake API server (test/integration/decision-model.test.ts).
 */

/** The allow-list every row is decided against; the pod's namespace is team-a. */
export const TABLE_POLICY = `
apiVersion: kube-api-ambassador/v1
kind: Policy
rules:
  - name: dry-run-writes
    verbs: [create, update, patch, delete, deletecollection]
    apiGroups: ["*"]
    resources: ["*"]
    namespaces: [team-a]
    when: { dryRun: true }
  - name: jobs-pods
    verbs: [list, watch, deletecollection]
    apiGroups: [""]
    resources: [pods]
    namespaces: [team-a]
    when: { labelSelector: { requireKeys: [job-name] } }
  - name: selected-configmaps
    verbs: [list, watch]
    apiGroups: [""]
    resources: [configmaps]
    namespaces: [team-a]
    when: { labelSelector: required }
  - name: list-secrets-never-watch
    verbs: [list]
    apiGroups: [""]
    resources: [secrets]
    namespaces: [team-a]
  - name: the-web-service
    verbs: [list, get]
    apiGroups: [""]
    resources: [services]
    resourceNames: [web]
    namespaces: [team-a]
  - name: logs-without-follow
    verbs: [get]
    apiGroups: [""]
    resources: [pods, pods/log]
    namespaces: [team-a]
    when: { follow: false }
  - name: patch-leases
    verbs: [patch, update]
    apiGroups: [coordination.k8s.io, ""]
    resources: [leases, endpoints, configmaps]
    namespaces: [team-b]
  - verbs: [get]
    nonResourceURLs: [/version]
`;

export type Expected = 'allow' | 400 | 403 | 413 | 415;

export interface DecisionRow {
  readonly method: string;
  readonly target: string;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly body?: string;
  readonly expected: Expected;
  /** The verb kube-apiserver authorizes (requestinfo.go); checked when given. */
  readonly verb?: string;
  /** Whether kube-apiserver carries the write out as a dry run; checked when given. */
  readonly dryRun?: boolean;
  /** The query the API server receives; checked when given. */
  readonly forwardedQuery?: string;
  /** The Go behaviour the row pins. */
  readonly cite: string;
}

const CM = '/api/v1/namespaces/team-a/configmaps';
const PODS = '/api/v1/namespaces/team-a/pods';
const SECRETS = '/api/v1/namespaces/team-a/secrets';
const SERVICES = '/api/v1/namespaces/team-a/services';
const DELETE_GO =
  'handlers/delete.go DeleteResource: a non-empty body is decoded as DeleteOptions and the query ignored';
const DELETE_COLLECTION_GO = 'handlers/delete.go DeleteCollection: DeleteOptions from a non-empty body, else the query';
const VALIDATE_DRY_RUN = 'validation.ValidateDryRun: only "All"; anything else is a 422, never a dry run';
const CASE_SENSITIVE =
  'serializer/json: sigs.k8s.io/json UnmarshalCaseSensitivePreserveInts, field names case-sensitive';
const QUERY_ONLY =
  'handlers/create.go, update.go, patch.go: CreateOptions/UpdateOptions/PatchOptions from the query only';
const LABELS_PARSE = 'labels.Parse (apimachinery pkg/labels/selector.go)';
const FIELDS_PARSE = 'fields.ParseSelector, then RequiresExactMatch("metadata.name") in requestinfo.go';
const BOOL = 'runtime.Convert_Slice_string_To_bool: first value, only "0" or EqualFold "false" is false';
const PARSE_QUERY = 'net/url parseQuery: split on "&", empty pairs skipped, split at the first "=", QueryUnescape';

const deleteOptions = (json: string) => ({ contentType: 'application/json', body: json });

export const DECISION_ROWS: readonly DecisionRow[] = [
  // --- DeleteOptions: body first, then query -------------------------------------------------
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    expected: 'allow',
    verb: 'delete',
    dryRun: true,
    cite: `${DELETE_GO}; no body: the query's dryRun`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"kind":"DeleteOptions","apiVersion":"v1"}'),
    expected: 403,
    dryRun: false,
    cite: DELETE_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{}'),
    expected: 403,
    dryRun: false,
    cite: DELETE_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"dryRun":[]}'),
    expected: 403,
    dryRun: false,
    cite: `${DELETE_GO}; dryrun.IsDryRun: a non-empty list`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"dryRun":null}'),
    expected: 403,
    dryRun: false,
    cite: DELETE_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}'),
    expected: 'allow',
    dryRun: true,
    cite: `${DELETE_GO}: kubectl delete --dry-run=server`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":["All"],"propagationPolicy":"Background"}'),
    expected: 'allow',
    dryRun: true,
    cite: DELETE_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"apiVersion":"meta.k8s.io/v1","kind":"DeleteOptions","dryRun":["All"]}'),
    expected: 'allow',
    dryRun: true,
    cite: `${DELETE_GO}: meta.k8s.io/v1 DeleteOptions`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":["All","All"]}'),
    expected: 'allow',
    dryRun: true,
    cite: VALIDATE_DRY_RUN,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":["All","None"]}'),
    expected: 403,
    dryRun: false,
    cite: VALIDATE_DRY_RUN,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"DryRun":["All"]}'),
    expected: 403,
    dryRun: false,
    cite: CASE_SENSITIVE,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":["All"],"dryRun":[]}'),
    expected: 403,
    dryRun: false,
    cite: `${CASE_SENSITIVE}; of duplicated fields the last wins`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":[],"dryRun":["All"]}'),
    expected: 'allow',
    dryRun: true,
    cite: `${CASE_SENSITIVE}; of duplicated fields the last wins`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions('{"dryRun":"All"}'),
    expected: 400,
    cite: 'json: cannot unmarshal string into []string: 400',
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('dryRun=All'),
    expected: 400,
    cite: `${DELETE_GO}: a body that is not JSON is a 400`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('[]'),
    expected: 400,
    cite: `${DELETE_GO}: not an object`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('null'),
    expected: 400,
    cite: `${DELETE_GO}: not an object`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions(' '),
    expected: 400,
    cite: `${DELETE_GO}: len(body) > 0, so whitespace is decoded, and fails`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"kind":"Pod","dryRun":["All"]}'),
    expected: 400,
    cite: `${DELETE_GO}: decoded object cannot be converted to DeleteOptions`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    contentType: 'application/yaml',
    body: 'dryRun: [All]\n',
    expected: 415,
    cite: 'negotiation.NegotiateInputSerializer: YAML is decoded by the API server, but not read by the ambassador',
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    contentType: 'application/vnd.kubernetes.protobuf',
    body: 'k8s\u0000',
    expected: 415,
    cite: 'protobuf DeleteOptions: not read by the ambassador',
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    contentType: 'application/cbor',
    body: '\u00a0',
    expected: 415,
    cite: 'CBOR DeleteOptions: not read by the ambassador',
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    contentType: 'application/json',
    contentEncoding: 'gzip',
    body: '{"dryRun":["All"]}',
    expected: 415,
    cite: 'kube-apiserver does not decode Content-Encoding on requests',
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    contentType: 'application/json; charset=utf-8',
    body: '{"dryRun":["All"]}',
    expected: 'allow',
    dryRun: true,
    cite: 'media type parameters do not change the serializer',
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All`,
    body: '',
    expected: 'allow',
    dryRun: true,
    cite: `${DELETE_GO}: an empty body is no body`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x`,
    ...deleteOptions(`{"dryRun":["All"],"pad":"${'x'.repeat(70_000)}"}`),
    expected: 413,
    cite: 'DeleteOptions past the 64 KiB the ambassador reads before deciding',
  },
  {
    method: 'DELETE',
    target: `${CM}?dryRun=All&labelSelector=app%3Dx`,
    expected: 'allow',
    verb: 'deletecollection',
    dryRun: true,
    cite: DELETE_COLLECTION_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}?labelSelector=app%3Dx`,
    ...deleteOptions('{"dryRun":["All"]}'),
    expected: 'allow',
    verb: 'deletecollection',
    dryRun: true,
    cite: DELETE_COLLECTION_GO,
  },
  {
    method: 'DELETE',
    target: `${CM}?dryRun=All`,
    ...deleteOptions('{}'),
    expected: 403,
    verb: 'deletecollection',
    dryRun: false,
    cite: DELETE_COLLECTION_GO,
  },
  { method: 'DELETE', target: `${CM}/x?dryRun=all`, expected: 403, dryRun: false, cite: VALIDATE_DRY_RUN },
  { method: 'DELETE', target: `${CM}/x?dryRun=`, expected: 403, dryRun: false, cite: VALIDATE_DRY_RUN },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun`,
    expected: 403,
    dryRun: false,
    forwardedQuery: 'dryRun=',
    cite: `${PARSE_QUERY}; ${VALIDATE_DRY_RUN}`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All&dryRun=All`,
    expected: 'allow',
    dryRun: true,
    cite: VALIDATE_DRY_RUN,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?DryRun=All`,
    expected: 403,
    dryRun: false,
    cite: 'query parameter names are case-sensitive (url.Values)',
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dry%52un=%41ll`,
    expected: 'allow',
    dryRun: true,
    forwardedQuery: 'dryRun=All',
    cite: PARSE_QUERY,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?dryRun=All+`,
    expected: 403,
    dryRun: false,
    cite: `${PARSE_QUERY}: "+" is a space, "All " is not "All"`,
  },
  {
    method: 'DELETE',
    target: `${CM}/x?&&dryRun=All&`,
    expected: 'allow',
    dryRun: true,
    forwardedQuery: 'dryRun=All',
    cite: PARSE_QUERY,
  },

  // --- create, update, patch: options from the query only --------------------------------------
  {
    method: 'POST',
    target: `${CM}?dryRun=All`,
    ...deleteOptions('{"metadata":{"name":"x"}}'),
    expected: 'allow',
    verb: 'create',
    dryRun: true,
    cite: QUERY_ONLY,
  },
  {
    method: 'POST',
    target: CM,
    ...deleteOptions('{"metadata":{"name":"x"},"dryRun":["All"]}'),
    expected: 403,
    verb: 'create',
    dryRun: false,
    cite: QUERY_ONLY,
  },
  {
    method: 'PUT',
    target: `${CM}/x?dryRun=All`,
    ...deleteOptions('{"metadata":{"name":"x"}}'),
    expected: 'allow',
    verb: 'update',
    dryRun: true,
    cite: QUERY_ONLY,
  },
  {
    method: 'PATCH',
    target: `${CM}/x?dryRun=All`,
    contentType: 'application/merge-patch+json',
    body: '{"data":{"a":"b"}}',
    expected: 'allow',
    verb: 'patch',
    dryRun: true,
    cite: QUERY_ONLY,
  },
  {
    method: 'PATCH',
    target: `${CM}/x`,
    contentType: 'application/merge-patch+json',
    body: '{"data":{"a":"b"}}',
    expected: 403,
    verb: 'patch',
    dryRun: false,
    cite: QUERY_ONLY,
  },
  {
    method: 'PATCH',
    target: `${CM}/x?dryRun=All&fieldManager=k`,
    contentType: 'application/apply-patch+yaml',
    body: 'metadata: {name: x}\n',
    expected: 'allow',
    verb: 'patch',
    dryRun: true,
    cite: `${QUERY_ONLY}: server-side apply --dry-run=server`,
  },
  {
    method: 'POST',
    target: '/api/v1/namespaces/team-a/serviceaccounts/app/token?dryRun=All',
    ...deleteOptions('{"spec":{}}'),
    expected: 403,
    verb: 'create',
    cite: 'TokenREST.Create (registry/core/serviceaccount/storage/token.go) ignores dryRun: a real token',
  },
  {
    method: 'POST',
    target: '/apis/authentication.k8s.io/v1/tokenreviews?dryRun=All',
    ...deleteOptions('{"spec":{"token":"t"}}'),
    expected: 403,
    verb: 'create',
    cite: 'TokenReview storage answers from the request, ignoring dryRun',
  },
  {
    method: 'POST',
    target: '/apis/authorization.k8s.io/v1/namespaces/team-a/localsubjectaccessreviews?dryRun=All',
    ...deleteOptions('{"spec":{}}'),
    expected: 403,
    cite: 'SubjectAccessReview storage ignores dryRun',
  },
  {
    method: 'POST',
    target: '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews?dryRun=All',
    ...deleteOptions('{"spec":{}}'),
    expected: 403,
    cite: 'SelfSubjectRulesReview storage ignores dryRun',
  },
  {
    method: 'POST',
    target: `${PODS}/web/exec?command=ls&dryRun=All`,
    expected: 403,
    verb: 'create',
    cite: 'ConnectResource (handlers/rest.go) refuses dryRun: never a dry run',
  },
  {
    method: 'POST',
    target: `${PODS}/web/eviction?dryRun=All`,
    ...deleteOptions('{"metadata":{"name":"web"}}'),
    expected: 'allow',
    verb: 'create',
    dryRun: true,
    cite: "EvictionREST propagates the query's dryRun to its delete",
  },
  {
    method: 'POST',
    target: `${PODS}/web/binding?dryRun=All`,
    ...deleteOptions('{"target":{"name":"n"}}'),
    expected: 'allow',
    verb: 'create',
    dryRun: true,
    cite: 'BindingREST.Create honours dryRun',
  },
  {
    method: 'PUT',
    target: '/apis/apps/v1/namespaces/team-a/deployments/web/scale?dryRun=All',
    ...deleteOptions('{"spec":{"replicas":1}}'),
    expected: 'allow',
    verb: 'update',
    dryRun: true,
    cite: 'ScaleREST.Update passes the options to the store',
  },

  // --- writes that may create: create is authorized too ----------------------------------------
  {
    method: 'PATCH',
    target: '/apis/coordination.k8s.io/v1/namespaces/team-b/leases/l',
    contentType: 'application/merge-patch+json',
    body: '{}',
    expected: 'allow',
    verb: 'patch',
    cite: 'a merge patch never creates',
  },
  {
    method: 'PATCH',
    target: '/api/v1/namespaces/team-b/configmaps/c',
    contentType: 'application/apply-patch+yaml',
    body: 'metadata: {name: c}\n',
    expected: 403,
    verb: 'patch',
    cite: 'handlers/patch.go: apply sets forceAllowCreate and authorizes create',
  },
  {
    method: 'PATCH',
    target: '/api/v1/namespaces/team-b/configmaps/c',
    contentType: 'application/apply-patch+yaml; charset=utf-8',
    body: 'metadata: {name: c}\n',
    expected: 403,
    cite: 'handlers/patch.go: the Content-Type up to ";" names the patch type',
  },
  {
    method: 'PUT',
    target: '/apis/coordination.k8s.io/v1/namespaces/team-b/leases/l',
    ...deleteOptions('{"metadata":{"name":"l"}}'),
    expected: 403,
    verb: 'update',
    cite: 'lease strategy AllowCreateOnUpdate: a PUT may create, create is authorized',
  },
  {
    method: 'PUT',
    target: '/api/v1/namespaces/team-b/endpoints/e',
    ...deleteOptions('{"metadata":{"name":"e"}}'),
    expected: 403,
    verb: 'update',
    cite: 'endpoints strategy AllowCreateOnUpdate',
  },
  {
    method: 'PUT',
    target: '/api/v1/namespaces/team-b/configmaps/c',
    ...deleteOptions('{"metadata":{"name":"c"}}'),
    expected: 'allow',
    verb: 'update',
    cite: 'configmap strategy: no create on update',
  },

  // --- label selectors: what "select by label" means -------------------------------------------
  { method: 'GET', target: `${PODS}?labelSelector=job-name%3Dx`, expected: 'allow', verb: 'list', cite: LABELS_PARSE },
  { method: 'GET', target: `${PODS}?labelSelector=job-name%3D%3Dx`, expected: 'allow', cite: LABELS_PARSE },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name+in+(a,b)`,
    expected: 'allow',
    forwardedQuery: 'labelSelector=job-name+in+%28a%2Cb%29',
    cite: LABELS_PARSE,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name`,
    expected: 'allow',
    cite: `${LABELS_PARSE}: a bare key is an existence requirement`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=!job-name`,
    expected: 403,
    cite: `${LABELS_PARSE}: DoesNotExist selects what lacks the key`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name!%3Dx`,
    expected: 403,
    cite: `${LABELS_PARSE}: NotEquals also selects what lacks the key`,
  },
  { method: 'GET', target: `${PODS}?labelSelector=job-name+notin+(a)`, expected: 403, cite: LABELS_PARSE },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=%20`,
    expected: 403,
    cite: `${LABELS_PARSE}: whitespace is the empty selector, which selects everything`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=+`,
    expected: 403,
    cite: `${PARSE_QUERY}: "+" is a space; ${LABELS_PARSE}`,
  },
  { method: 'GET', target: `${PODS}?labelSelector=`, expected: 403, cite: LABELS_PARSE },
  { method: 'GET', target: PODS, expected: 403, verb: 'list', cite: 'no selector selects everything' },
  { method: 'GET', target: `${PODS}?labelSelector=app%3Dx`, expected: 403, cite: 'the required key is job-name' },
  { method: 'GET', target: `${PODS}?labelSelector=app%3Dx,job-name%3Dy`, expected: 'allow', cite: LABELS_PARSE },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3Dx&labelSelector=%20`,
    expected: 'allow',
    cite: 'ListOptions take the first labelSelector',
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=%20&labelSelector=job-name%3Dx`,
    expected: 403,
    cite: 'ListOptions take the first labelSelector',
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3D`,
    expected: 'allow',
    cite: `${LABELS_PARSE}: an empty value is a value`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3Dx%3Dy`,
    expected: 400,
    cite: `${LABELS_PARSE}: an invalid value is refused with 400`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name+in+()`,
    expected: 'allow',
    cite: `${LABELS_PARSE}: "in ()" is the set {""}, which pins the key`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name+in+(a,`,
    expected: 400,
    cite: `${LABELS_PARSE}: an unclosed set`,
  },
  { method: 'GET', target: `${PODS}?labelSelector=JOB-NAME%3Dx`, expected: 403, cite: 'label keys are case-sensitive' },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3Ex`,
    expected: 400,
    cite: `${LABELS_PARSE}: gt needs an integer`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3E1`,
    expected: 403,
    cite: `${LABELS_PARSE}: gt also selects, never pins`,
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3Dx&watch=true`,
    expected: 'allow',
    verb: 'watch',
    cite: BOOL,
  },
  {
    method: 'DELETE',
    target: `${PODS}?labelSelector=!job-name&dryRun=All`,
    expected: 'allow',
    verb: 'deletecollection',
    dryRun: true,
    cite: 'the dry-run rule allows any dry run, selector or not',
  },
  {
    method: 'GET',
    target: `${CM}?labelSelector=!app`,
    expected: 403,
    cite: 'labelSelector: required needs a positive requirement',
  },
  {
    method: 'GET',
    target: `${CM}?labelSelector=app`,
    expected: 'allow',
    cite: 'labelSelector: required, met by an existence requirement',
  },
  { method: 'GET', target: `${CM}?labelSelector=a+in+(x),!b`, expected: 'allow', cite: LABELS_PARSE },

  // --- list or watch: the verb the API server authorizes ----------------------------------------
  {
    method: 'GET',
    target: SECRETS,
    expected: 'allow',
    verb: 'list',
    cite: 'requestinfo.go: get without a name is a list',
  },
  {
    method: 'GET',
    target: `${SECRETS}?watch=fal%C5%BFe`,
    expected: 'allow',
    verb: 'list',
    cite: `${BOOL}; strings.EqualFold folds ſ to s`,
  },
  {
    method: 'GET',
    target: `${SECRETS}?watch=f`,
    expected: 403,
    verb: 'watch',
    cite: `${BOOL}: not strconv.ParseBool, "f" is true`,
  },
  { method: 'GET', target: `${SECRETS}?watch=0`, expected: 'allow', verb: 'list', cite: BOOL },
  { method: 'GET', target: `${SECRETS}?watch=FALSE`, expected: 'allow', verb: 'list', cite: BOOL },
  {
    method: 'GET',
    target: `${SECRETS}?watch`,
    expected: 403,
    verb: 'watch',
    cite: `${PARSE_QUERY}; ${BOOL}: "" is true`,
  },
  { method: 'GET', target: `${SECRETS}?watch=false&watch=true`, expected: 'allow', verb: 'list', cite: BOOL },
  {
    method: 'GET',
    target: `${SECRETS}?watch=fal%C5%BFe&limit=x`,
    expected: 403,
    verb: 'watch',
    cite: 'requestinfo.go: when ListOptions fail to decode, watch is read with strings.ToLower',
  },
  {
    method: 'GET',
    target: `${SECRETS}?watch=false&limit=99999999999999999999`,
    expected: 'allow',
    verb: 'list',
    cite: 'requestinfo.go: limit overflows int64, ListOptions fail, watch read with ToLower',
  },
  {
    method: 'GET',
    target: '/api/v1/watch/namespaces/team-a/secrets',
    expected: 403,
    verb: 'watch',
    cite: 'requestinfo.go: the legacy watch path',
  },

  // --- a list of one name: fieldSelector=metadata.name ------------------------------------------
  {
    method: 'GET',
    target: `${SERVICES}?fieldSelector=metadata.name%3Dweb`,
    expected: 'allow',
    verb: 'list',
    cite: FIELDS_PARSE,
  },
  { method: 'GET', target: `${SERVICES}?fieldSelector=metadata.name%3D%3Dweb`, expected: 'allow', cite: FIELDS_PARSE },
  { method: 'GET', target: `${SERVICES}?fieldSelector=metadata.name!%3Dweb`, expected: 403, cite: FIELDS_PARSE },
  {
    method: 'GET',
    target: `${SERVICES}?fieldSelector=metadata.name%3Dweb,metadata.name%3Dother`,
    expected: 403,
    cite: `${FIELDS_PARSE}: terms are sorted first`,
  },
  {
    method: 'GET',
    target: `${SERVICES}?fieldSelector=metadata.name%3Dweb&limit=abc`,
    expected: 403,
    cite: 'requestinfo.go: ListOptions that fail to decode name nothing',
  },
  {
    method: 'GET',
    target: `${SERVICES}?fieldSelector=metadata.name%3Dweb&labelSelector=a%3D%3D%3D`,
    expected: 400,
    cite: 'the list handler refuses a selector that does not parse',
  },
  {
    method: 'GET',
    target: `${SERVICES}?fieldSelector=metadata.name`,
    expected: 400,
    cite: `${FIELDS_PARSE}: a term without an operator`,
  },
  { method: 'GET', target: SERVICES, expected: 403, cite: 'a list without a name is not of "web"' },

  // --- log conditions, read as the API server reads PodLogOptions --------------------------------
  { method: 'GET', target: `${PODS}/web/log?follow=true`, expected: 403, cite: BOOL },
  { method: 'GET', target: `${PODS}/web/log?follow=fal%C5%BFe`, expected: 'allow', cite: BOOL },
  { method: 'GET', target: `${PODS}/web/log?follow=0`, expected: 'allow', cite: BOOL },
  { method: 'GET', target: `${PODS}/web/log?follow=1&follow=0`, expected: 403, cite: BOOL },
  { method: 'GET', target: `${PODS}/web/log?follow=no`, expected: 403, cite: `${BOOL}: "no" is true` },

  // --- the query the API server receives ----------------------------------------------------------
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name%3dx`,
    expected: 'allow',
    forwardedQuery: 'labelSelector=job-name%3Dx',
    cite: 'escapes re-encoded upper-case (url.QueryEscape)',
  },
  {
    method: 'GET',
    target: `${PODS}?labelSelector=job-name=x&&`,
    expected: 'allow',
    forwardedQuery: 'labelSelector=job-name%3Dx',
    cite: PARSE_QUERY,
  },
  { method: 'GET', target: '/version', expected: 'allow', verb: 'get', cite: 'a non-resource URL' },
];
