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
    {{- with .Values.kubeApiAmbassador.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
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
    {{- with .Values.kubeApiAmbassador.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
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

{{/*
The alerts of manifests/monitoring/prometheusrule.yaml as a Prometheus Operator PrometheusRule, a
whole document; nothing unless prometheusRule.enabled. Its rules cover every sidecar Prometheus
scrapes: enable it in one release per cluster. In a file of its own in your chart's templates/ (e.g.
templates/ambassador-alerts.yaml), as its only content:
{{ include "kube-api-ambassador.prometheusRule" . }}
*/}}
{{- define "kube-api-ambassador.prometheusRule" -}}
{{- if .Values.kubeApiAmbassador.prometheusRule.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ .Release.Name }}-kube-api-ambassador
  labels:
    app.kubernetes.io/name: kube-api-ambassador
    app.kubernetes.io/instance: {{ .Release.Name }}
    {{- with .Values.kubeApiAmbassador.prometheusRule.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
# The same rules as manifests/monitoring/prometheusrule.yaml (helm-chart.test.ts compares them).
spec:
  groups:
    - name: kube-api-ambassador
      rules:
        - alert: KubeApiAmbassadorTokenExpiringSoon
          # The kubelet renews a projected token at 80% of its lifetime (720 s before the end for
          # the default 3600 s) and the ambassador re-reads it every minute, so under 600 s means
          # renewals are not reaching the sidecar. Assumes tokenExpirationSeconds >= 3000.
          expr: kube_api_ambassador_credential_expiry_seconds < 600
          for: 2m
          labels:
            severity: warning
          annotations:
            summary: A kube-api-ambassador sidecar's credentials expire in under 10 minutes.
            description: The token or client certificate in use is not being renewed; check the projected service-account volume and the sidecar's credential reload logs.
        - alert: KubeApiAmbassadorTokenExpired
          expr: kube_api_ambassador_credential_expiry_seconds <= 0
          labels:
            severity: critical
          annotations:
            summary: A kube-api-ambassador sidecar's credentials have expired.
            description: The API server refuses every request the pod's programs make through the sidecar (401).
        - alert: KubeApiAmbassadorNotReady
          # Native sidecars report under initContainerStatuses, legacy ones under containerStatuses.
          expr: |
            max by (namespace, pod) (
              kube_pod_init_container_status_ready{container="kube-api-ambassador"}
              or kube_pod_container_status_ready{container="kube-api-ambassador"}
            ) == 0
            and on (namespace, pod) kube_pod_status_phase{phase="Running"} == 1
          for: 10m
          labels:
            severity: warning
          annotations:
            summary: A kube-api-ambassador sidecar has failed its readiness probe for 10 minutes.
            description: /readyz fails while the credentials are missing or expired or the API server does not answer; the sidecar's logs and `curl POD_IP:8002/readyz` say which.
        - alert: KubeApiAmbassadorUpstreamErrors
          expr: |
            sum by (namespace, pod) (rate(kube_api_ambassador_upstream_errors_total[5m]))
              / sum by (namespace, pod) (rate(kube_api_ambassador_requests_total[5m]))
              > 0.1
          for: 5m
          labels:
            severity: critical
          annotations:
            summary: A kube-api-ambassador sidecar cannot reach the API server for over 10% of its requests.
            description: The cause label of kube_api_ambassador_upstream_errors_total (connect_refused, dns, unreachable, tls, reset, timeout) says why; check NetworkPolicies and the API server's health.
        - alert: KubeApiAmbassadorRequestsDenied
          # would_deny: what --policy-mode log lets through but enforce would refuse.
          expr: |
            sum by (namespace, pod) (rate(kube_api_ambassador_requests_total{decision=~"deny|would_deny"}[10m]))
              / sum by (namespace, pod) (rate(kube_api_ambassador_requests_total[10m]))
              > 0.05
          for: 15m
          labels:
            severity: warning
          annotations:
            summary: Over 5% of a pod's API requests are refused by its kube-api-ambassador policy.
            description: Either the policy is narrower than what the program needs, or the program does what it should not; kube_api_ambassador_policy_denials_total and the audit log name the rule and the request.
        - alert: KubeApiAmbassadorRequestsThrottled
          # Both the ambassador's own limits (decision="throttled") and the API server's API
          # Priority and Fairness answer 429.
          expr: |
            sum by (namespace, pod) (rate(kube_api_ambassador_requests_total{code="429"}[10m]))
              / sum by (namespace, pod) (rate(kube_api_ambassador_requests_total[10m]))
              > 0.05
          for: 15m
          labels:
            severity: warning
          annotations:
            summary: Over 5% of a pod's API requests are throttled (429).
            description: decision="throttled" is the sidecar's --max-qps or --max-requests-in-flight; decision="allow" with code 429 is the API server's API Priority and Fairness.
        - alert: KubeApiAmbassadorAuditEventsLost
          # The counter's series appears with its first loss, which increase() cannot see: a series
          # new in the last 5 minutes counts too.
          expr: |
            sum by (namespace, pod, reason) (
              increase(kube_api_ambassador_audit_events_lost_total[5m]) > 0
              or (kube_api_ambassador_audit_events_lost_total unless kube_api_ambassador_audit_events_lost_total offset 5m)
            ) > 0
          labels:
            severity: warning
          annotations:
            summary: A kube-api-ambassador sidecar lost audit events.
            description: reason="dropped" is a stdout too slow for the request rate, reason="sink_error" a failed audit sink; the audit trail of that pod has gaps.
        - alert: KubeApiAmbassadorMemoryNearLimit
          # The ambassador's resident memory (its own process_resident_memory_bytes, picked out of
          # the pod's other exporters by its target) against the sidecar's memory limit.
          expr: |
            max by (namespace, pod) (process_resident_memory_bytes and on (job, instance) kube_api_ambassador_build_info)
              / on (namespace, pod)
            max by (namespace, pod) (kube_pod_container_resource_limits{resource="memory", container="kube-api-ambassador"})
              > 0.9
          for: 15m
          labels:
            severity: warning
          annotations:
            summary: A kube-api-ambassador sidecar uses over 90% of its memory limit.
            description: Open watches cost memory (README "Performance"); raise the limit or lower --max-long-running-requests before the kubelet OOM-kills the sidecar.
{{- end }}
{{- end }}
