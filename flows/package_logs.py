"""The package's log lines in the Prefect UI, under the task that wrote them.

What `PREFECT_LOGGING_EXTRA_LOGGERS=flipkart_sentiment` would do, done where the flows are
defined, so it holds however a flow runs (a worker's subprocess, a Kubernetes Job, a test,
`python -c`) without every environment setting it. Records written outside a flow or task run
(the package used in the same process by something else) stay local instead of making Prefect warn.
"""

from __future__ import annotations

import logging

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

PACKAGE = "flipkart_sentiment"


def _in_a_run(record: logging.LogRecord) -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def send_package_logs_to_prefect() -> None:
    package = logging.getLogger(PACKAGE)
    if not any(isinstance(h, APILogHandler) for h in package.handlers):
        handler = APILogHandler()
        handler.addFilter(_in_a_run)
        package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
