"""Tell the Kubernetes model server that `production` moved.

The model-server Deployment resolves `models:/<name>@production` only when a pod starts, so after
a promotion the flow patches an annotation on the Deployment's pod template; Kubernetes then rolls
the pods one by one and each new pod loads the new version. The annotation's name is a setting
(``Settings.rollout_annotation``, the chart's ``global.rollout.annotation``).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def rollout(deployment: str, version: str, annotation: str, namespace: str | None = None) -> str:
    from kubernetes import client, config

    config.load_incluster_config()
    namespace = namespace or _NAMESPACE_FILE.read_text().strip()
    patch = {"spec": {"template": {"metadata": {"annotations": {
        annotation: str(version),
        "flipkart-sentiment/rolled-at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }}}}}
    client.AppsV1Api().patch_namespaced_deployment(deployment, namespace, patch)
    log.info("patched deployment %s/%s to roll out model version %s", namespace, deployment, version)
    return f"{namespace}/{deployment}"
