"""Create the platform's deployments, locally or on Kubernetes:

- `train-sentiment/daily`: the training flow, on a cron schedule;
- `promote-sentiment/manual` (parameter `version`) and `rollback-sentiment/manual`: the
  operator's promote and rollback, through the same delivery path as the CLI.

    python flows/deploy.py local                       # process work pool `local-process`
    python flows/deploy.py kubernetes --image sentiment-trainer:0.1.0

Both are idempotent: running again updates the deployments in place. The schedule is a setting:
SENTIMENT_SCHEDULE_CRON and SENTIMENT_SCHEDULE_TIMEZONE (default `0 2 * * *`, UTC).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from delivery_flow import promote_sentiment, rollback_sentiment
from prefect.schedules import Cron
from train_flow import train_sentiment

from flipkart_sentiment.config import Settings

DEPLOYMENT = "daily"
MANUAL = "manual"
FLOWS_DIR = Path(__file__).resolve().parent
# (flow, entrypoint in flows/, deployment name, scheduled?)
FLOWS = [
    (train_sentiment, "train_flow.py:train_sentiment", DEPLOYMENT, True),
    (promote_sentiment, "delivery_flow.py:promote_sentiment", MANUAL, False),
    (rollback_sentiment, "delivery_flow.py:rollback_sentiment", MANUAL, False),
]


def schedule(settings: Settings) -> Cron:
    """SENTIMENT_SCHEDULE_CRON in SENTIMENT_SCHEDULE_TIMEZONE (default 0 2 * * *, UTC)."""
    return Cron(settings.schedule_cron, timezone=settings.schedule_timezone)


def deploy_local(pool: str, settings: Settings) -> list[str]:
    # The process worker runs the flows from this checkout, so the source is this folder.
    ids = []
    for flow, entrypoint, name, scheduled in FLOWS:
        deployment = flow.from_source(source=str(FLOWS_DIR), entrypoint=entrypoint)
        ids.append(deployment.deploy(name=name, work_pool_name=pool,
                                     schedule=schedule(settings) if scheduled else None,
                                     print_next_steps=False))
    return ids


def deploy_kubernetes(pool: str, image: str, job_variables: dict, settings: Settings) -> list[str]:
    # The code is baked into the trainer image at /app; no build, no push (there may be no
    # registry): the image must already be on the nodes (kind load / ctr import).
    return [
        flow.deploy(name=name, work_pool_name=pool, image=image, build=False, push=False,
                    schedule=schedule(settings) if scheduled else None,
                    job_variables={"image_pull_policy": "IfNotPresent", **job_variables},
                    print_next_steps=False)
        for flow, _, name, scheduled in FLOWS
    ]


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
    for flow, _, name, scheduled in FLOWS:
        when = (f"schedule {settings.schedule_cron} ({settings.schedule_timezone})" if scheduled
                else "run on demand")
        print(f"deployment {flow.name}/{name} on pool {args.pool}, {when}")


if __name__ == "__main__":
    main()
