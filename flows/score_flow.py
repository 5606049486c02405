"""Prefect flow `score-reviews`: batch scoring of a CSV or Parquet file (local or s3://) with the
production model (or a given version), by `flipkart_sentiment.workflows.scoring`.

With `executor="processes"` (the default) the shards run in local processes (a spawn
ProcessPool inside the job), not as Prefect tasks: scoring is CPU-bound Python, so the default
thread task runner would hold one core (the GIL), and a process or Dask task runner needs
packages the image does not have. With `executor="deployments"` each shard is a flow run of
`score-reviews-shard/manual` (`score_reviews_shard` below), started with `run_deployment` as a
child of this run: on Kubernetes one Job per shard, so N pods score N shards at once
(docs/batch-scoring.md). Each finished shard is logged and moves a progress artifact; the
summary is a markdown artifact.

`score_reviews_shard` is one shard as a flow of its own (a ShardSpec's fields as parameters).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact

from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows.scoring import ShardSpec, run_scoring, score_shard


@flow(name="score-reviews", log_prints=True)
def score_reviews(input_uri: str, version: str | None = None, output_format: str = "parquet",
                  shards: int | None = None, workers: int | None = None,
                  output_uri: str | None = None, executor: str = "processes") -> dict[str, Any]:
    """Score every review of `input_uri`; write `<stem>.scored.<output_format>` next to it
    (or to `output_uri`). `executor`: "processes" (local processes of this run) or
    "deployments" (one flow run of score-reviews-shard/manual per shard; needs
    SENTIMENT_SCORING_WORK_URI)."""
    logger = get_run_logger()
    progress_id = create_progress_artifact(progress=0.0, key="scoring-progress",
                                           description=f"shards of {input_uri} scored")

    def progress(done: int, total: int, shard) -> None:
        logger.info("shard %d finished (%d/%d): %d rows in %.1f s", shard.index, done, total,
                    shard.rows, shard.seconds)
        update_progress_artifact(progress_id, progress=100.0 * done / total)

    summary = run_scoring(Settings(), input_uri, version=version, output_format=output_format,
                          shards=shards, workers=workers, progress=progress,
                          output_uri=output_uri, executor=executor)
    create_markdown_artifact(key="scoring-summary", markdown=summary.markdown(),
                             description=f"{summary.rows} reviews, {summary.model_name} "
                                         f"v{summary.version}")
    logger.info("%d rows scored with version %s in %.1f s -> %s", summary.rows, summary.version,
                summary.seconds, summary.output_uri)
    return summary.as_dict()


@flow(name="score-reviews-shard", log_prints=True)
def score_reviews_shard(index: int, input_path: str, start: int, stop: int, model_uri: str,
                        version: str, part_path: str, text_column: str,
                        title_column: str | None = None, group_column: str | None = None
                        ) -> dict[str, Any]:
    """One shard: rows [start, stop) of a staged input (local or s3://), one exact model
    version -> one part, and its summary as JSON next to it (the parent reads that file)."""
    result = score_shard(ShardSpec(index, input_path, start, stop, model_uri, version, part_path,
                                   text_column, title_column, group_column))
    return asdict(result)


if __name__ == "__main__":
    import sys

    print(score_reviews(sys.argv[1]))
