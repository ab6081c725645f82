/**
 * The audit.k8s.io/v1 `Event` as kube-apiserver's Go types define it
 * (k8s.io/apiserver/pkg/apis/audit/v1/types.go): every field the ambassador writes must be one of
 * them, of the right type, so the tools that decode cluster audit logs decode these too.
 */
type Check = (value: unknown) => string | undefined;

const string: Check = (value) => (typeof value === 'string' ? undefined : 'must be a string');
const integer: Check = (value) => (Number.isInteger(value) ? undefined : 'must be an integer');
const json: Check = (value) =>
  typeof value === 'object' && value !== null ? undefined : 'must be a JSON object or array';
const oneOf =
  (...allowed: string[]): Check =>
  (value) =>
    allowed.includes(value as string) ? undefined : `must be one of ${allowed.join(', ')}`;
const stringList: Check = (value) =>
  Array.isArray(value) && value.every((item) => typeof item === 'string') ? undefined : 'must be a list of strings';
const stringMap: Check = (value) =>
  typeof value === 'object' && value !== null && Object.values(value).every((item) => typeof item === 'string')
    ? undefined
    : 'must map strings to strings';
/** metav1.MicroTime: RFC 3339 with six fractional digits, in UTC. */
const microTime: Check = (value) =>
  typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(value)
    ? undefined
    : 'must be a MicroTime';

type Shape = Readonly<Record<string, Check>>;

const object =
  (shape: Shape, required: readonly string[] = []): Check =>
  (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
    const problems = [
      ...required.filter((key) => !(key in value)).map((key) => `${key}: required`),
      ...Object.entries(value).map(([key, field]) => {
        const check = shape[key];
        if (check === undefined) return `${key}: not a field of the type`;
        const problem = check(field);
        return problem === undefined ? undefined : `${key}: ${problem}`;
      }),
    ].filter((problem) => problem !== undefined);
    return problems.length === 0 ? undefined : problems.join('; ');
  };

const userInfo = object({ username: string, uid: string, groups: stringList, extra: json });

const EVENT = object(
  {
    kind: oneOf('Event'),
    apiVersion: oneOf('audit.k8s.io/v1'),
    level: oneOf('None', 'Metadata', 'Request', 'RequestResponse'),
    auditID: string,
    stage: oneOf('RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'),
    requestURI: string,
    verb: string,
    user: userInfo,
    impersonatedUser: userInfo,
    sourceIPs: stringList,
    userAgent: string,
    objectRef: object({
      resource: string,
      namespace: string,
      name: string,
      uid: string,
      apiGroup: string,
      apiVersion: string,
      resourceVersion: string,
      subresource: string,
    }),
    responseStatus: object({
      kind: string,
      apiVersion: string,
      metadata: json,
      status: string,
      message: string,
      reason: string,
      details: json,
      code: integer,
    }),
    requestObject: json,
    responseObject: json,
    requestReceivedTimestamp: microTime,
    stageTimestamp: microTime,
    annotations: stringMap,
  },
  [
    'kind',
    'apiVersion',
    'level',
    'auditID',
    'stage',
    'requestURI',
    'verb',
    'user',
    'requestReceivedTimestamp',
    'stageTimestamp',
  ],
);

/**
 * Parses one audit log line; throws, naming every problem, unless it is a valid audit.k8s.io/v1 Event.
 * `T` names the fields the caller reads of the Event it checked.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the return-only T is the caller's view of an Event EVENT has just validated
export function parseAuditEvent<T>(line: string): T {
  const event: unknown = JSON.parse(line);
  const problem = EVENT(event);
  if (problem !== undefined) throw new Error(`not a valid audit.k8s.io/v1 Event (${problem}): ${line}`);
  return event as T;
}
