/**
 * Canned Kubernetes API answers for the benchmark upstream: what a real API server returns for
 * /version, one pod and lists of pods, compact as it sends JSON (about 270 B, 3.4 KB, 100 KB and,
 * for the large list, 5 MB).
 */

export interface ApiDocument {
  /** Short label used in result tables. */
  readonly label: string;
  readonly path: string;
  readonly body: string;
}

const POD_LIST_TARGET_BYTES = 100 * 1024;
const LARGE_LIST_TARGET_BYTES = 5 * 1024 * 1024;

export function versionDocument(): ApiDocument {
  const body = JSON.stringify({
    major: '1',
    minor: '33',
    emulationMajor: '1',
    emulationMinor: '33',
    gitVersion: 'v1.33.1',
    gitCommit: '8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828',
    gitTreeState: 'clean',
    buildDate: '2025-05-15T08:19:08Z',
    goVersion: 'go1.24.2',
    compiler: 'gc',
    platform: 'linux/amd64',
  });
  return { label: 'version', path: '/version', body };
}

export function podDocument(): ApiDocument {
  return { label: 'pod', path: '/api/v1/namespaces/default/pods/web', body: JSON.stringify(pod('web', 0)) };
}

/** A PodList of as many pods as it takes to reach about 100 KB. */
export function podListDocument(): ApiDocument {
  return { label: 'pod list', path: '/api/v1/namespaces/default/pods', body: podListOf(POD_LIST_TARGET_BYTES) };
}

/** A PodList of about 5 MB, as a namespace of some 1,500 pods lists; served under another namespace. */
export function largeListDocument(): ApiDocument {
  return { label: 'large list', path: '/api/v1/namespaces/large/pods', body: podListOf(LARGE_LIST_TARGET_BYTES) };
}

/** The smallest PodList whose JSON is at least `targetBytes` long. */
function podListOf(targetBytes: number): string {
  const envelope = (items: string): string =>
    `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"48213"},"items":[${items}]}`;
  const items: string[] = [];
  let length = envelope('').length;
  while (length < targetBytes) {
    const item = JSON.stringify(pod(`web-${items.length}`, items.length));
    length += item.length + (items.length > 0 ? 1 : 0);
    items.push(item);
  }
  return envelope(items.join(','));
}

export function benchDocuments(): ApiDocument[] {
  return [versionDocument(), podDocument(), podListDocument()];
}

function pod(name: string, index: number): object {
  const uid = `6f0e7a52-3c1d-4b8e-9a4f-${String(index).padStart(12, '0')}`;
  const created = '2025-06-01T10:00:00Z';
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: 'default',
      uid,
      resourceVersion: String(40_000 + index),
      creationTimestamp: created,
      labels: { app: 'web', 'pod-template-hash': '7d9f8c6b5d', tier: 'frontend' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-01T09:59:58Z' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d9f8c6b5d',
          uid: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: created,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {}, 'f:tier': {} } } },
        },
      ],
    },
    spec: {
      volumes: [
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                },
              },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: [
        {
          name: 'web',
          image: 'registry.example/web:1.4.2',
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'LOG_LEVEL', value: 'info' }],
          resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
          volumeMounts: [
            {
              name: 'kube-api-access-x7k2p',
              readOnly: true,
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            },
          ],
          readinessProbe: {
            httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
            timeoutSeconds: 1,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: `node-${index % 3}`,
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(
        (type) => ({
          type,
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: created,
        }),
      ),
      hostIP: `10.0.0.${10 + (index % 3)}`,
      podIP: `10.244.${index % 3}.${(index % 250) + 2}`,
      startTime: created,
      containerStatuses: [
        {
          name: 'web',
          state: { running: { startedAt: created } },
          ready: true,
          restartCount: 0,
          image: 'registry.example/web:1.4.2',
          imageID: 'registry.example/web@sha256:3b9f2c4e8d1a0f5e6c7b8a9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b',
          containerID: `containerd://${String(index).padStart(64, 'a')}`,
          started: true,
        },
      ],
      qosClass: 'Burstable',
    },
  };
}
