import os
from kubernetes import client, watch

host = os.environ.get("KUBERNETES_API", "http://localhost:8001")
core = client.CoreV1Api(client.ApiClient(client.Configuration(host=host)))

# Runs until stopped. When the stream ends (the API server's timeout, the ambassador shutting
# down), stream() watches again from the last resourceVersion it saw.
for event in watch.Watch().stream(core.list_namespaced_pod, "default"):
    print(event["type"], event["object"].metadata.name, flush=True)
