#!/usr/bin/env python3
"""Launches a report Job in this pod's namespace and follows it until it finishes.

It talks to the Kubernetes API only through the kube-api-ambassador sidecar at
http://localhost:8001: no in-cluster config, no token, no CA bundle. What it does is exactly what
the ambassador's policy (../policy.yaml) and the Role (../rbac.yaml) allow: create and read Jobs,
list the Job's pods by label and read their logs.

Settings (flags win over the environment):
  KUBERNETES_API            the ambassador's URL (default http://localhost:8001)
  POD_NAMESPACE             the namespace to launch in (the Downward API's metadata.namespace)
  --max-wait-seconds        REPORT_MAX_WAIT_SECONDS: stop following after this long, print the
                            status seen and exit 0 (default 0: until the Job finishes)
  --poll-seconds            REPORT_POLL_SECONDS: time between status reads (default 5)
  --interval-seconds        REPORT_INTERVAL_SECONDS: launch a new report this often, forever
                            (default 0: one report, then exit)

Exit codes: 0 the Job succeeded (or is still running at --max-wait-seconds), 1 it failed,
2 the API refused or could not be reached.
"""

import argparse
import datetime
import os
import sys
import time

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

REPORT_IMAGE = "busybox:1.36"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def parse_args(argv):
    env = os.environ
    parser = argparse.ArgumentParser(description="Launch a report Job and follow it.")
    parser.add_argument("--max-wait-seconds", type=float, default=float(env.get("REPORT_MAX_WAIT_SECONDS", "0")))
    parser.add_argument("--poll-seconds", type=float, default=float(env.get("REPORT_POLL_SECONDS", "5")))
    parser.add_argument("--interval-seconds", type=float, default=float(env.get("REPORT_INTERVAL_SECONDS", "0")))
    parser.add_argument("--namespace", default=env.get("POD_NAMESPACE", ""))
    args = parser.parse_args(argv)
    if not args.namespace:
        parser.error("POD_NAMESPACE (or --namespace) is required: set it from the Downward API")
    return args


def api_client():
    # Instead of config.load_incluster_config(): the sidecar adds the credentials.
    configuration = client.Configuration(host=os.environ.get("KUBERNETES_API", "http://localhost:8001"))
    return client.ApiClient(configuration)


def report_job(name):
    container = client.V1Container(
        name="report",
        image=REPORT_IMAGE,
        command=["sh", "-c", "echo generating report; sleep 10; echo report done"],
        security_context=client.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=65532,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=client.V1Capabilities(drop=["ALL"]),
        ),
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/created-by": "analytics"}),
        spec=client.V1JobSpec(
            backoff_limit=2,
            ttl_seconds_after_finished=3600,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app.kubernetes.io/created-by": "analytics"}),
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    # The report itself needs no API access.
                    automount_service_account_token=False,
                    containers=[container],
                ),
            ),
        ),
    )


def describe(status):
    return "active={} succeeded={} failed={}".format(status.active or 0, status.succeeded or 0, status.failed or 0)


def outcome(job):
    """'succeeded', 'failed', or None while the Job runs (its Complete/Failed condition decides)."""
    for condition in (job.status and job.status.conditions) or []:
        if condition.status == "True" and condition.type == "Complete":
            return "succeeded"
        if condition.status == "True" and condition.type == "Failed":
            return "failed"
    return None


def print_pod_logs(core, namespace, name):
    pods = core.list_namespaced_pod(namespace, label_selector="{}={}".format(JOB_NAME_LABEL, name))
    for pod in pods.items:
        print("pod {} {}".format(pod.metadata.name, pod.status.phase if pod.status else "Unknown"), flush=True)
        try:
            log = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="report")
        except ApiException as error:
            print("  (no log: {} {})".format(error.status, error.reason), flush=True)
            continue
        for line in log.splitlines():
            print("  | " + line, flush=True)


def run_report(batch, core, args):
    """Launches one report Job and follows it; returns the exit code."""
    name = "report-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    batch.create_namespaced_job(args.namespace, report_job(name))
    print("job {} created in {}".format(name, args.namespace), flush=True)

    started = time.monotonic()
    while True:
        job = batch.read_namespaced_job(name, args.namespace)
        result = outcome(job)
        if result is not None:
            print("job {} {}: {}".format(name, result, describe(job.status)), flush=True)
            print_pod_logs(core, args.namespace, name)
            return 0 if result == "succeeded" else 1
        waited = time.monotonic() - started
        if args.max_wait_seconds and waited >= args.max_wait_seconds:
            print("job {} still running after {:.0f}s: {}".format(name, waited, describe(job.status)), flush=True)
            print_pod_logs(core, args.namespace, name)
            return 0
        print("job {} running: {}".format(name, describe(job.status)), flush=True)
        time.sleep(args.poll_seconds)


def main(argv):
    args = parse_args(argv)
    api = api_client()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    while True:
        try:
            code = run_report(batch, core, args)
        except ApiException as error:
            # The ambassador's own refusals are Kubernetes Status bodies too; show their message.
            print("the API answered {} {}: {}".format(error.status, error.reason, error.body), file=sys.stderr, flush=True)
            code = 2
        except urllib3.exceptions.HTTPError as error:
            print("cannot reach the API at {}: {}".format(api.configuration.host, error), file=sys.stderr, flush=True)
            code = 2
        if not args.interval_seconds:
            return code
        time.sleep(args.interval_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
