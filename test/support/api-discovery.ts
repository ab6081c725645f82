/** The discovery and OpenAPI documents the fake API server serves: just enough for real kubectl. */
import { type JsonObject, type Resource } from './api-status.ts';
import { CONFIGMAPS, JOBS, PODS } from './api-store.ts';

export function versionInfo(gitVersion: string): JsonObject {
  const match = /^v(\d+)\.(\d+)\./.exec(gitVersion);
  if (match === null) throw new Error(`gitVersion must look like v1.33.0: ${gitVersion}`);
  return {
    major: match[1],
    minor: match[2],
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-04-23T00:00:00Z',
    goVersion: 'go1.24.2',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(port: number): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }],
  };
}

export const API_GROUP_LIST: JsonObject = {
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [
    {
      name: 'batch',
      versions: [{ groupVersion: 'batch/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'batch/v1', version: 'v1' },
    },
  ],
};

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResource(name: string, kind: string, verbs: string[], extra: JsonObject = {}): JsonObject {
  const singularName = name.includes('/') ? '' : kind.toLowerCase();
  return { name, singularName, namespaced: true, kind, verbs, ...extra };
}

export const CORE_V1_RESOURCES: JsonObject = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    apiResource('configmaps', 'ConfigMap', ALL_VERBS, { shortNames: ['cm'] }),
    apiResource('namespaces', 'Namespace', ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], {
      namespaced: false,
      shortNames: ['ns'],
    }),
    apiResource('pods', 'Pod', ALL_VERBS, { shortNames: ['po'], categories: ['all'] }),
    apiResource('pods/attach', 'PodAttachOptions', ['create', 'get']),
    apiResource('pods/exec', 'PodExecOptions', ['create', 'get']),
    apiResource('pods/log', 'Pod', ['get']),
    apiResource('pods/portforward', 'PodPortForwardOptions', ['create', 'get']),
    apiResource('pods/status', 'Pod', ['get', 'patch', 'update']),
  ],
};

export const BATCH_V1_RESOURCES: JsonObject = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'batch/v1',
  resources: [
    apiResource('jobs', 'Job', ALL_VERBS, { categories: ['all'] }),
    apiResource('jobs/status', 'Job', ['get', 'patch', 'update']),
  ],
};

export const GROUP_VERSIONS: { path: string; resources: Resource[] }[] = [
  { path: 'api/v1', resources: [PODS, CONFIGMAPS] },
  { path: 'apis/batch/v1', resources: [JOBS] },
];

export function objectPath(groupVersionPath: string, resource: Resource): string {
  return `/${groupVersionPath}/namespaces/{namespace}/${resource.plural}/{name}`;
}

export function openApiRoot(): JsonObject {
  const paths = GROUP_VERSIONS.map(({ path }) => [path, { serverRelativeURL: `/openapi/v3/${path}` }]);
  return { paths: Object.fromEntries(paths) };
}

/**
 * Just enough OpenAPI v3 for kubectl's default --validate=strict: the PATCH operation of each object declares
 * the fieldValidation query parameter, so kubectl leaves validation to the server instead of demanding schemas.
 */
export function openApiDocument(groupVersionPath: string, resources: Resource[]): JsonObject {
  const paths = resources.map((resource) => [
    objectPath(groupVersionPath, resource),
    {
      patch: {
        'x-kubernetes-group-version-kind': { group: resource.group, version: resource.version, kind: resource.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
      },
    },
  ]);
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'unversioned' }, paths: Object.fromEntries(paths) };
}

export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** A protobuf message whose fields are all length-delimited: strings or nested messages. */
export type ProtoMessage = [field: number, value: string | ProtoMessage][];

export function encodeProto(message: ProtoMessage): Buffer {
  return Buffer.concat(
    message.map(([field, value]) => {
      const payload = typeof value === 'string' ? Buffer.from(value) : encodeProto(value);
      return Buffer.concat([protoVarint((field << 3) | 2), protoVarint(payload.length), payload]);
    }),
  );
}

export function protoVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * kubectl 1.27 and 1.28 check fieldValidation support in the protobuf /openapi/v2 instead of OpenAPI v3, so the
 * same PATCH declarations are encoded here; field numbers are those of gnostic's OpenAPIv2.proto.
 */
export function openApiV2Document(): Buffer {
  const paths: ProtoMessage = GROUP_VERSIONS.flatMap(({ path, resources }) =>
    resources.map((resource): [number, ProtoMessage] => [
      2, // Paths.path: NamedPathItem
      [
        [1, objectPath(path, resource)], // NamedPathItem.name
        [2, [[8, patchOperationV2(resource)]]], // NamedPathItem.value: PathItem, PathItem.patch: Operation
      ],
    ]),
  );
  return encodeProto([
    [1, '2.0'], // Document.swagger
    [8, paths], // Document.paths
  ]);
}

export function patchOperationV2(resource: Resource): ProtoMessage {
  // QueryParameterSubSchema: in, name, type
  const fieldValidation: ProtoMessage = [
    [2, 'query'],
    [4, 'fieldValidation'],
    [6, 'string'],
  ];
  const groupVersionKind = `group: "${resource.group}"\nkind: ${resource.kind}\nversion: ${resource.version}\n`;
  return [
    // Operation.parameters: ParametersItem.parameter: Parameter.non_body_parameter: NonBodyParameter.query_parameter_sub_schema
    [8, [[1, [[2, [[3, fieldValidation]]]]]]],
    // Operation.vendor_extension: NamedAny { name, value: Any { yaml } }
    [
      13,
      [
        [1, 'x-kubernetes-group-version-kind'],
        [2, [[2, groupVersionKind]]],
      ],
    ],
  ];
}
