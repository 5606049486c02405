"""Create the `train-sentiment/daily` deployment, locally or on Kubernetes.

    python flows/deploy.py local                       # process work pool `local-process`
    python flows/deploy.py kubernetes --image sentiment-trainer:0.1.0

Both are idempotent: running again updates the deployment in place. The schedule is a setting:
SENTIMENT_SCHEDULE_CRON and SENTIMENT_SCHEDULE_TIMEZONE (default `0 2 * * *`, UTC).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect.schedules import Cron
from train_flow import train_sentiment

from flipkart_sentiment.config import Settings

DEPLOYMENT = "daily"
FLOWS_DIR = Path(__file__).resolve().parent


def schedule(settings: Settings) -> Cron:
    """SENTIMENT_SCHEDULE_CRON in SENTIMENT_SCHEDULE_TIMEZONE (default 0 2 * * *, UTC)."""
    return Cron(settings.schedule_cron, timezone=settings.schedule_timezone)


def deploy_local(pool: str, settings: Settings) -> str:
    # The process worker runs the flow from this checkout, so the source is this folder.
    deployment = train_sentiment.from_source(
        source=str(FLOWS_DIR), entrypoint="train_flow.py:train_sentiment"
    )
    return deployment.deploy(name=DEPLOYMENT, work_pool_name=pool, schedule=schedule(settings),
                             print_next_steps=False)


def deploy_kubernetes(pool: str, image: str, job_variables: dict, settings: Settings) -> str:
    # The code is baked into the trainer image at /app; no build, no push (there may be no
    # registry): the image must already be on the nodes (kind load / ctr import).
    return train_sentiment.deploy(
        name=DEPLOYMENT, work_pool_name=pool, image=image, build=False, push=False,
        schedule=schedule(settings),
        job_variables={"image_pull_policy": "IfNotPresent", **job_variables},
        print_next_steps=False,
    )


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
        deployment_id = deploy_local(args.pool, settings)
    else:
        env = dict(item.split("=", 1) for item in args.env)
        deployment_id = deploy_kubernetes(args.pool, args.image, {"env": env} if env else {}, settings)
    print(f"deployment train-sentiment/{DEPLOYMENT} ({deployment_id}) on pool {args.pool}, "
          f"schedule {settings.schedule_cron} ({settings.schedule_timezone})")


if __name__ == "__main__":
    main()
