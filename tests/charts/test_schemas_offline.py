"""Every rendered manifest validates against the Kubernetes OpenAPI-derived JSON schemas, offline
(kubeconform -strict with the schemas unpacked by `make tool-schemas`)."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from sentiment_testkit.charts import (
    CHART,
    PARTS,
    base_job_template,
    docs,
    flow_run_jobs,
    part_values_file,
)

pytestmark = pytest.mark.charts


def _assert_all_valid(report: dict, expected: int) -> None:
    bad = [r for r in report.get("resources", []) if r["status"] != "statusValid"]
    assert not bad, json.dumps(bad, indent=1)
    summary = report["summary"]
    assert summary["invalid"] == 0 and summary["errors"] == 0, summary
    assert summary["skipped"] == 0, "a kind had no schema"
    assert summary["valid"] == expected, summary
    assert report["returncode"] == 0


@pytest.mark.parametrize("values", ["default", "kind"])
def test_rendered_umbrella_is_valid(kubeconform, rendered_text, values):
    text = rendered_text[values]
    _assert_all_valid(kubeconform(text), len(docs(text)))


@pytest.mark.parametrize("part", PARTS)
def test_rendered_part_is_valid_standalone(helm, kubeconform, part, tmp_path):
    """Each part alone, with its defaults and with its section of the umbrella's kind values."""
    path = CHART / "charts" / part
    for extra in ([], ["-f", str(part_values_file(part, tmp_path))]):
        text = helm("template", "sentiment", str(path), "-n", "sentiment", *extra).stdout
        _assert_all_valid(kubeconform(text), len(docs(text)))


# What the Kubernetes worker (prefect-kubernetes, in the project's venv) makes of the base job
# templates for one flow run whose deployment adds one env var: the Jobs it would create.
# One subprocess for all templates (importing prefect takes seconds).
@pytest.fixture(scope="module")
def worker_jobs(rendered_text, tmp_path_factory) -> dict[str, dict]:
    templates = {values: base_job_template(docs(text)) for values, text in rendered_text.items()}
    return flow_run_jobs(templates, tmp_path_factory.mktemp("prefect-home"))


@pytest.mark.parametrize("values", ["default", "kind"])
def test_flow_run_job_from_the_base_job_template_is_valid(kubeconform, worker_jobs, values):
    """The worker accepts the template, and the Job it builds is a valid batch/v1 Job."""
    job = copy.deepcopy(worker_jobs[values])
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert job["metadata"]["namespace"] == "sentiment"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "sentiment-trainer:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["serviceAccountName"] == "sentiment-trainer"
    env = {e["name"]: e for e in container["env"]}
    assert env["SENTIMENT_SEARCH"]["value"] == "quick"  # the deployment's env is added
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://sentiment-mlflow:5000"
    assert env["SENTIMENT_ROLLOUT_DEPLOYMENT"]["value"] == "sentiment-model-server"
    assert env["SENTIMENT_ROLLOUT_ANNOTATION"]["value"] == "flipkart-sentiment/model-version"
    assert "PREFECT_API_URL" in env
    # prefect-kubernetes insists on these two Job fields inside the pod spec (as in its own default
    # template); the API server ignores unknown PodSpec fields, the strict schema does not.
    assert pod.pop("completions") == 1 and pod.pop("parallelism") == 1
    _assert_all_valid(kubeconform(yaml.safe_dump(job)), 1)


def test_the_validator_is_not_vacuous(kubeconform, rendered_text):
    """A typo'd field or a wrong type must fail, or the checks above prove nothing."""
    deployment = next(d for d in docs(rendered_text["default"]) if d["kind"] == "Deployment")
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "one"
    for broken in (typo, wrong_type):
        report = kubeconform(yaml.safe_dump(broken))
        assert report["summary"]["invalid"] == 1, report
