import os
from kubernetes import client

# Instead of config.load_incluster_config(): no token, no CA, the ambassador adds them.
host = os.environ.get("KUBERNETES_API", "http://localhost:8001")
core = client.CoreV1Api(client.ApiClient(client.Configuration(host=host)))

for pod in core.list_namespaced_pod("default").items:
    print(pod.metadata.name)

core.create_namespaced_pod("default", {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "made-by-python"},
    "spec": {"containers": [{"name": "main", "image": "busybox"}]},
})
print("created made-by-python")
