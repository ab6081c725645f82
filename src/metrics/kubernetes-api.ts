/**
 * kube-apiserver's built-in API, as metric labels need it: each group's versions and each
 * resource's subresources. Taken from the discovery documents kubernetes/kubernetes keeps in
 * api/discovery/ (aggregated_v2.json, api__v1.json, apis__{group}__{version}.json), every version a
 * release has served, alpha and beta included, and pods/resize from pkg/registry/core/rest/storage_core.go.
 * Anything else (custom resources, aggregated APIs, what later releases add) is labelled once
 * the API server has served it (see ResourceLabeler).
 */

interface BuiltInGroup {
  readonly versions: ReadonlySet<string>;
  /** Resource → its subresources. */
  readonly resources: ReadonlyMap<string, ReadonlySet<string>>;
}

type ResourceList = Readonly<Record<string, readonly string[]>>;

function group(versions: readonly string[], resources: ResourceList): BuiltInGroup {
  return {
    versions: new Set(versions),
    resources: new Map(Object.entries(resources).map(([resource, subresources]) => [resource, new Set(subresources)])),
  };
}

const STATUS = ['status'];
const SCALE_AND_STATUS = ['scale', 'status'];

export const BUILT_IN_API: ReadonlyMap<string, BuiltInGroup> = new Map([
  [
    '',
    group(['v1'], {
      bindings: [],
      componentstatuses: [],
      configmaps: [],
      endpoints: [],
      events: [],
      limitranges: [],
      namespaces: ['finalize', 'status'],
      nodes: ['proxy', 'status'],
      persistentvolumeclaims: STATUS,
      persistentvolumes: STATUS,
      pods: [
        'attach',
        'binding',
        'ephemeralcontainers',
        'eviction',
        'exec',
        'log',
        'portforward',
        'proxy',
        'resize',
        'status',
      ],
      podtemplates: [],
      replicationcontrollers: SCALE_AND_STATUS,
      resourcequotas: STATUS,
      secrets: [],
      serviceaccounts: ['token'],
      services: ['proxy', 'status'],
    }),
  ],
  [
    'admissionregistration.k8s.io',
    group(['v1', 'v1beta1', 'v1alpha1'], {
      mutatingadmissionpolicies: [],
      mutatingadmissionpolicybindings: [],
      mutatingwebhookconfigurations: [],
      validatingadmissionpolicies: STATUS,
      validatingadmissionpolicybindings: [],
      validatingwebhookconfigurations: [],
    }),
  ],
  ['apiextensions.k8s.io', group(['v1'], { customresourcedefinitions: STATUS })],
  ['apiregistration.k8s.io', group(['v1'], { apiservices: STATUS })],
  [
    'apps',
    group(['v1'], {
      controllerrevisions: [],
      daemonsets: STATUS,
      deployments: SCALE_AND_STATUS,
      replicasets: SCALE_AND_STATUS,
      statefulsets: SCALE_AND_STATUS,
    }),
  ],
  ['authentication.k8s.io', group(['v1', 'v1beta1', 'v1alpha1'], { selfsubjectreviews: [], tokenreviews: [] })],
  [
    'authorization.k8s.io',
    group(['v1'], {
      localsubjectaccessreviews: [],
      selfsubjectaccessreviews: [],
      selfsubjectrulesreviews: [],
      subjectaccessreviews: [],
    }),
  ],
  ['autoscaling', group(['v1', 'v2'], { horizontalpodautoscalers: STATUS })],
  ['batch', group(['v1'], { cronjobs: STATUS, jobs: STATUS })],
  [
    'certificates.k8s.io',
    group(['v1', 'v1beta1', 'v1alpha1'], {
      certificatesigningrequests: ['approval', 'status'],
      clustertrustbundles: [],
      podcertificaterequests: STATUS,
    }),
  ],
  ['checkpoint.k8s.io', group(['v1alpha1'], { podcheckpoints: STATUS })],
  ['coordination.k8s.io', group(['v1', 'v1beta1', 'v1alpha1', 'v1alpha2'], { leasecandidates: [], leases: [] })],
  ['discovery.k8s.io', group(['v1'], { endpointslices: [] })],
  ['events.k8s.io', group(['v1'], { events: [] })],
  [
    'flowcontrol.apiserver.k8s.io',
    group(['v1', 'v1beta3', 'v1beta2', 'v1beta1', 'v1alpha1'], {
      flowschemas: STATUS,
      prioritylevelconfigurations: STATUS,
    }),
  ],
  ['internal.apiserver.k8s.io', group(['v1alpha1'], { storageversions: STATUS })],
  ['lifecycle.k8s.io', group(['v1alpha1'], { evictionrequests: STATUS, evictions: STATUS })],
  [
    'networking.k8s.io',
    group(['v1', 'v1beta1', 'v1alpha1'], {
      ingressclasses: [],
      ingresses: STATUS,
      ipaddresses: [],
      networkpolicies: [],
      servicecidrs: STATUS,
    }),
  ],
  ['node.k8s.io', group(['v1', 'v1alpha1'], { runtimeclasses: [] })],
  ['policy', group(['v1', 'v1beta1'], { poddisruptionbudgets: STATUS })],
  [
    'rbac.authorization.k8s.io',
    group(['v1'], { clusterrolebindings: [], clusterroles: [], rolebindings: [], roles: [] }),
  ],
  [
    'resource.k8s.io',
    group(['v1', 'v1beta2', 'v1beta1', 'v1alpha3', 'v1alpha2'], {
      deviceclasses: [],
      devicetaintrules: [],
      podschedulingcontexts: STATUS,
      resourceclaimparameters: [],
      resourceclaims: STATUS,
      resourceclaimtemplates: [],
      resourceclasses: [],
      resourceclassparameters: [],
      resourceslices: [],
    }),
  ],
  [
    'scheduling.k8s.io',
    group(['v1', 'v1beta1', 'v1alpha1', 'v1alpha2', 'v1alpha3'], {
      compositepodgroups: STATUS,
      podgroups: STATUS,
      priorityclasses: [],
      workloads: [],
    }),
  ],
  [
    'storage.k8s.io',
    group(['v1', 'v1beta1', 'v1alpha1'], {
      csidrivers: [],
      csinodes: [],
      csistoragecapacities: [],
      storageclasses: [],
      volumeattachments: STATUS,
      volumeattributesclasses: [],
    }),
  ],
  ['storagemigration.k8s.io', group(['v1', 'v1beta1', 'v1alpha1'], { storageversionmigrations: STATUS })],
]);
