import os
from kubernetes import client
from kubernetes.stream import stream

host = os.environ.get("KUBERNETES_API", "http://localhost:8001")
core = client.CoreV1Api(client.ApiClient(client.Configuration(host=host)))

# A WebSocket upgrade (v4.channel.k8s.io) through the ambassador; refused (403) unless its
# --reject-paths or --policy allows exec.
output = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                command=["echo", "hi"], stderr=True, stdin=False, stdout=True, tty=False)
print(output, end="")
