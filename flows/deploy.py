"""Create the platform's deployments, locally or on Kubernetes:

- `train-sentiment/daily`: the training flow, on a cron schedule;
- `promote-sentiment/manual` (parameter `version`) and `rollback-sentiment/manual`: the
  operator's promote and rollback, through the same delivery path as the CLI;
- `monitor-sentiment/hourly`: the monitoring flow (SENTIMENT_MONITOR_SCHEDULE_CRON, `0 * * * *`);
- `score-reviews/manual` (parameters `input_uri`, optional `version`, `output_format`, `shards`,
  `executor`): batch scoring of a CSV/Parquet file, on demand;
- `score-reviews-shard/manual`: one shard of it, started by `score-reviews` with
  `executor=deployments` (one flow run, on Kubernetes one Job, per shard; its Job asks for
  `flow_job_variables`' CPU and memory);
- the automation `retrain-sentiment-on-evidence`: a drift or quality event of the monitor runs
  `train-sentiment/daily` at once (docs/monitoring.md).

    python flows/deploy.py local                       # process work pool `local-process`
    python flows/deploy.py kubernetes --image sentiment-trainer:0.1.0

Both are idempotent: running again updates the deployments in place. The schedule is a setting:
SENTIMENT_SCHEDULE_CRON and SENTIMENT_SCHEDULE_TIMEZONE (default `0 2 * * *`, UTC);
SENTIMENT_SCHEDULES_ACTIVE=false creates the schedules paused (`prefect deployment schedule
resume --all` starts them).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from delivery_flow import promote_sentiment, rollback_sentiment
from monitor_flow import monitor_sentiment
from prefect.automations import Automation, EventTrigger, RunDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from score_flow import score_reviews, score_reviews_shard
from train_flow import train_sentiment

from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows.monitoring import EVENTS, model_resource_id

DEPLOYMENT = "daily"
MANUAL = "manual"
HOURLY = "hourly"
AUTOMATION = "retrain-sentiment-on-evidence"
FLOWS_DIR = Path(__file__).resolve().parent
Crontab = Callable[[Settings], str | None]
# (flow, entrypoint in flows/, deployment name, its cron setting or None for on demand)
FLOWS: list[tuple[object, str, str, Crontab]] = [
    (train_sentiment, "train_flow.py:train_sentiment", DEPLOYMENT, lambda s: s.schedule_cron),
    (promote_sentiment, "delivery_flow.py:promote_sentiment", MANUAL, lambda s: None),
    (rollback_sentiment, "delivery_flow.py:rollback_sentiment", MANUAL, lambda s: None),
    (monitor_sentiment, "monitor_flow.py:monitor_sentiment", HOURLY, lambda s: s.monitor_schedule_cron),
    (score_reviews, "score_flow.py:score_reviews", MANUAL, lambda s: None),
    (score_reviews_shard, "score_flow.py:score_reviews_shard", MANUAL, lambda s: None),
]


def flow_job_variables(flow: object, settings: Settings) -> dict:
    """Kubernetes job variables of single deployments, over the pool's defaults and --env: a
    scoring shard is one CPU-bound process (the compiled scorer, ~1 core) holding the model and
    a row group at a time (peak RSS 626 MB for a shard process on ~1M reviews, BENCHMARKS.md,
    plus the flow-run engine). Its CPU request is what the scheduler packs shards onto nodes by
    (SENTIMENT_SCORING_SHARD_CPU_REQUEST: 1 core; a small node with the platform on it has less
    than that free); the memory limit stops a runaway row group (a Parquet input written as
    one huge row group)."""
    if flow is score_reviews_shard:
        return {"cpu_request": settings.scoring_shard_cpu_request, "memory_request": "1Gi",
                "memory_limit": "2Gi"}
    return {}


def schedule(settings: Settings, crontab: Crontab = lambda s: s.schedule_cron) -> Cron | None:
    """The cron setting in SENTIMENT_SCHEDULE_TIMEZONE (training: 0 2 * * *, UTC), paused when
    SENTIMENT_SCHEDULES_ACTIVE is false."""
    cron = crontab(settings)
    return Cron(cron, timezone=settings.schedule_timezone,
                active=settings.schedules_active) if cron else None


def retrain_on_evidence(settings: Settings, train_deployment_id: UUID) -> Automation:
    """Create or update the automation: a monitor event about this model runs training now."""
    wanted = Automation(
        name=AUTOMATION,
        description="monitor-sentiment saw drift or a quality drop: train on the data now "
                    "(the champion/challenger gate still decides what is served)",
        trigger=EventTrigger(expect=set(EVENTS.values()),
                             match={"prefect.resource.id": model_resource_id(settings.model_name)},
                             posture="Reactive", threshold=1),
        actions=[RunDeployment(source="selected", deployment_id=train_deployment_id)],
    )
    try:
        existing = Automation.read(name=AUTOMATION)
    except (ObjectNotFound, ValueError):
        existing = None
    if existing is None:
        return wanted.create()
    wanted.id = existing.id
    wanted.update()
    return wanted


def deploy_local(pool: str, settings: Settings) -> list[UUID]:
    # The process worker runs the flows from this checkout, so the source is this folder.
    ids = []
    for flow, entrypoint, name, crontab in FLOWS:
        deployment = flow.from_source(source=str(FLOWS_DIR), entrypoint=entrypoint)
        ids.append(deployment.deploy(name=name, work_pool_name=pool,
                                     schedule=schedule(settings, crontab),
                                     print_next_steps=False))
    retrain_on_evidence(settings, ids[0])
    return ids


def deploy_kubernetes(pool: str, image: str, job_variables: dict, settings: Settings) -> list[UUID]:
    # The code is baked into the trainer image at /app; no build, no push (there may be no
    # registry): the image must already be on the nodes (kind load / ctr import).
    ids = [
        flow.deploy(name=name, work_pool_name=pool, image=image, build=False, push=False,
                    schedule=schedule(settings, crontab),
                    job_variables={"image_pull_policy": "IfNotPresent", **job_variables,
                                   **flow_job_variables(flow, settings)},
                    print_next_steps=False)
        for flow, _, name, crontab in FLOWS
    ]
    retrain_on_evidence(settings, ids[0])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="target", required=True)
    local = sub.add_parser("local")
    local.add_argument("--pool", default="local-process")
    k8s = sub.add_parser("kubernetes")
    k8s.add_argument("--pool", default="kubernetes")
    k8s.add_argument("--image", default="sentiment-trainer:0.1.0")
    k8s.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                     help="extra env for the flow-run pod (repeatable)")
    args = parser.parse_args()
    settings = Settings()
    if args.target == "local":
        deploy_local(args.pool, settings)
    else:
        env = dict(item.split("=", 1) for item in args.env)
        deploy_kubernetes(args.pool, args.image, {"env": env} if env else {}, settings)
    for flow, _, name, crontab in FLOWS:
        cron = crontab(settings)
        paused = "" if settings.schedules_active else ", paused"
        when = f"schedule {cron} ({settings.schedule_timezone}{paused})" if cron else "run on demand"
        print(f"deployment {flow.name}/{name} on pool {args.pool}, {when}")
    print(f"automation {AUTOMATION}: {' or '.join(sorted(EVENTS.values()))} -> "
          f"{train_sentiment.name}/{DEPLOYMENT}")


if __name__ == "__main__":
    main()
