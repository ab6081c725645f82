{{/*
kube-api-ambassador: named templates that add the sidecar to your own chart's pods.

The convention, for every template here:
  - your Chart.yaml declares this chart as a dependency with `alias: kubeApiAmbassador`, so Helm
    merges your `kubeApiAmbassador:` values over this chart's values.yaml (and checks them against
    its values.schema.json);
  - you pass your chart's root context: `.` at the top of a template (`$` inside range or with);
  - the templates read only `.Values.kubeApiAmbassador.*` and `.Release.Name`.
Each template below says the line to write and where. ../../example is a complete chart.
*/}}

{{/*
The sidecar container, as one list item. In your pod spec, Kubernetes 1.29+ (nativeSidecar: true):
      initContainers:
        {{- include "kube-api-ambassador.sidecar" . | nindent 8 }}
Before 1.29 (nativeSidecar: false), the same line first under `containers:`.
The indentation (8 here) is that of the list's items under `spec.template.spec` in a Deployment.
*/}}
{{- define "kube-api-ambassador.sidecar" -}}
- name: kube-api-ambassador
  image: "{{ .Values.kubeApiAmbassador.image.repository }}:{{ .Values.kubeApiAmbassador.image.tag }}"
  {{- if .Values.kubeApiAmbassador.image.pullPolicy }}
  imagePullPolicy: {{ .Values.kubeApiAmbassador.image.pullPolicy }}
  {{- end }}
  {{- if .Values.kubeApiAmbassador.nativeSidecar }}
  # A native sidecar: starts before the app (once its startup probe passes), runs alongside it,
  # and stops after it.
  restartPolicy: Always
  {{- end }}
  # The image's ENTRYPOINT is the program, so args are its flags. The proxy stays on
  # 127.0.0.1:8001 (the default): anything that reaches it acts as the service account.
  args:
    {{- if .Values.kubeApiAmbassador.policy }}
    - --policy=/etc/ambassador/policy.yaml
    - --policy-mode={{ .Values.kubeApiAmbassador.policyMode }}
    {{- end }}
    - --admin-address=$(POD_IP)
    - --admin-port={{ .Values.kubeApiAmbassador.adminPort }}
    - --audit-level={{ .Values.kubeApiAmbassador.auditLevel }}
  env:
    # The Downward API: the probes' address, the policy's $(POD_NAMESPACE), the host-network
    # check (POD_IP == HOST_IP), and the pod's name for its logs.
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: HOST_IP
      valueFrom:
        fieldRef:
          fieldPath: status.hostIP
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    # The container's memory limit, in bytes, as the ambassador's budget (--memory-limit):
    # past 85% of it, new requests get 429 rather than the container an OOM kill.
    - name: KUBE_API_AMBASSADOR_MEMORY_LIMIT
      valueFrom:
        resourceFieldRef:
          containerName: kube-api-ambassador
          resource: limits.memory
  ports:
    - name: ambassador-admin
      containerPort: {{ .Values.kubeApiAmbassador.adminPort }}
      protocol: TCP
  # /livez never asks the API server: an outage of the control plane makes the pod unready,
  # never restarts the sidecar.
  startupProbe:
    httpGet:
      path: /livez
      port: ambassador-admin
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    httpGet:
      path: /livez
      port: ambassador-admin
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: ambassador-admin
    periodSeconds: 5
    failureThreshold: 3
  resources:
    {{- toYaml .Values.kubeApiAmbassador.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532 # the image's USER (distroless "nonroot")
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: [ALL]
    seccompProfile:
      type: RuntimeDefault
  volumeMounts:
    - name: service-account
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- if .Values.kubeApiAmbassador.policy }}
    # The whole ConfigMap as a directory, not a subPath: a subPath mount never sees an update.
    - name: ambassador-policy
      mountPath: /etc/ambassador
      readOnly: true
    {{- end }}
{{- end }}

{{/*
The sidecar's volumes, as list items. In your pod spec, with your own volumes after it:
      volumes:
        {{- include "kube-api-ambassador.volumes" . | nindent 8 }}
Set `automountServiceAccountToken: false` in the pod spec too: then only the sidecar, which mounts
the `service-account` volume, holds the token.
*/}}
{{- define "kube-api-ambassador.volumes" -}}
# What automountServiceAccountToken would have given every container, for the sidecar only: a
# bound token the kubelet renews at 80% of its lifetime, the cluster CA, and the namespace.
- name: service-account
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: {{ .Values.kubeApiAmbassador.tokenExpirationSeconds }}
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- if .Values.kubeApiAmbassador.policy }}
- name: ambassador-policy
  configMap:
    name: {{ include "kube-api-ambassador.policyConfigMapName" . }}
{{- end }}
{{- end }}

{{/*
The scrape annotations for Prometheus setups that discover pods by annotation, as map entries.
In your pod template's metadata:
      annotations:
        {{- include "kube-api-ambassador.podAnnotations" . | nindent 8 }}
*/}}
{{- define "kube-api-ambassador.podAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.kubeApiAmbassador.adminPort | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/*
The label manifests/monitoring's PodMonitor selects, as a map entry. In your pod template's
metadata (not in the Deployment's selector, which must not change when you add the sidecar):
      labels:
        {{- include "kube-api-ambassador.podLabels" . | nindent 8 }}
*/}}
{{- define "kube-api-ambassador.podLabels" -}}
kube-api-ambassador/sidecar: "true"
{{- end }}

{{/*
The policy ConfigMap, a whole document; nothing when no policy is set. In a file of its own in your
chart's templates/ (e.g. templates/ambassador-policy.yaml), as its only content:
{{ include "kube-api-ambassador.policyConfigMap" . }}
*/}}
{{- define "kube-api-ambassador.policyConfigMap" -}}
{{- if .Values.kubeApiAmbassador.policy -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "kube-api-ambassador.policyConfigMapName" . }}
  labels:
    app.kubernetes.io/name: kube-api-ambassador
    app.kubernetes.io/instance: {{ .Release.Name }}
data:
  policy.yaml: |
    {{- .Values.kubeApiAmbassador.policy | nindent 4 }}
{{- end }}
{{- end }}

{{/*
The policy ConfigMap's name, one per release: "<release>-ambassador-policy". Used by the two above.
*/}}
{{- define "kube-api-ambassador.policyConfigMapName" -}}
{{ .Release.Name }}-ambassador-policy
{{- end }}
