"""Create the `train-sentiment/daily` deployment, locally or on Kubernetes.

    python flows/deploy.py local                       # process work pool `local-process`
    python flows/deploy.py kubernetes --image sentiment-trainer:0.1.0

Both are idempotent: running again updates the deployment in place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect.schedules import Cron
from train_flow import train_sentiment

DEPLOYMENT = "daily"
CRON = "0 2 * * *"
TIMEZONE = "UTC"
FLOWS_DIR = Path(__file__).resolve().parent


def deploy_local(pool: str) -> str:
    # The process worker runs the flow from this checkout, so the source is this folder.
    deployment = train_sentiment.from_source(
        source=str(FLOWS_DIR), entrypoint="train_flow.py:train_sentiment"
    )
    return deployment.deploy(name=DEPLOYMENT, work_pool_name=pool, schedule=Cron(CRON, timezone=TIMEZONE),
                             print_next_steps=False)


def deploy_kubernetes(pool: str, image: str, job_variables: dict) -> str:
    # The code is baked into the trainer image at /app; no build, no push (there may be no
    # registry): the image must already be on the nodes (kind load / ctr import).
    return train_sentiment.deploy(
        name=DEPLOYMENT, work_pool_name=pool, image=image, build=False, push=False,
        schedule=Cron(CRON, timezone=TIMEZONE),
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
    if args.target == "local":
        deployment_id = deploy_local(args.pool)
    else:
        env = dict(item.split("=", 1) for item in args.env)
        deployment_id = deploy_kubernetes(args.pool, args.image, {"env": env} if env else {})
    print(f"deployment train-sentiment/{DEPLOYMENT} ({deployment_id}) on pool {args.pool}")


if __name__ == "__main__":
    main()
