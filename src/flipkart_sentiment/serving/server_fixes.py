"""Fixes to MLflow's scoring server (`mlflow models serve`), installed by the model when it loads
in a scoring-server worker (and only there: other processes that load the model keep MLflow as is).

They fix what no model code can reach, because it happens before, around or after `predict`.
The scoring server looks up `invocations` and `predictions_to_json` at call time, so replacing
them in the serving process fixes each in one place without forking MLflow:

- request shapes: with a type-hint signature MLflow takes only `inputs`; `parse_json_body`
  replaces its JSON parsing (`_parse_json_data`, called after the content-type checks) so that
  `inputs`, `instances`, `dataframe_records` and `dataframe_split` all reach the model as the
  same list of reviews (serving/reviews.py picks the shape) and get the same validation. It
  also decodes the body itself: a number longer than Python's int-string limit (a 500 from
  `json.loads`), a duplicate key (silently last-wins) and invalid UTF-8 are one-line 400s; a
  UTF-8 byte-order mark is skipped.
- errors: a missing Content-Type is a 500; deeply nested JSON raises a RecursionError, also a
  500; a CSV body is parsed with dtypes taken from the signature, which a type-hint signature
  does not have, and that failure is a 400 carrying the Python traceback; each prediction error
  is prefixed with the repr of the whole request (for a megabyte review, a megabyte of echo).
- speed: the response is written with `json.dump`, which always takes the pure-Python encoder;
  `json.dumps` of the same object with the same encoder class takes the C one and returns the
  same text (tests/unit/test_server_fixes.py). For a 100-review request in-process that took
  3.4 ms down to 2.6 ms.
- pauses: a full garbage collection walks every object the worker has (MLflow, pandas, sklearn,
  the model: about 240k), and paused requests for about 100 ms at a time. `freeze_loaded_heap`
  moves what is alive after loading out of the collector's reach (gc.freeze), so collections
  only walk what requests allocate.
- what it does: GET /metrics (serving/metrics.py), from a second middleware of the same kind.
- what it leaves: the prediction log's queue is written out at the ASGI lifespan shutdown. atexit
  is too late, as it never runs: uvicorn, once shut down gracefully, re-raises the SIGTERM it
  caught with the default handler, which ends the worker at once.
- which version answered: every response carries `X-Model-Name` and `X-Model-Version`. The
  scoring server builds its FastAPI app right after loading the model, importing `FastAPI`
  inside `init`; `install` swaps in a subclass for that one app, which adds a small ASGI
  middleware. Nothing else in the process sees the subclass.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import scoring_server
from mlflow.pyfunc.scoring_server import InvocationsResponse, MlflowInvalidInputException
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

from .reviews import InvalidReviews, request_params, request_reviews


def in_scoring_server() -> bool:
    """True in a worker of `mlflow models serve` (its app reads the model path from here)."""
    return bool(os.environ.get(scoring_server._SERVER_MODEL_PATH))


def install(registered=None, metrics=None, on_shutdown=()) -> None:
    """Install the replacements; a second call does nothing. ``registered`` (serving.pyfunc's
    ``Registered``) gives the headers that name the answering version; ``metrics``
    (serving.metrics' ``ServerMetrics``) adds GET /metrics and counts every response;
    ``on_shutdown``: blocking callables run when the server shuts down."""
    if not getattr(scoring_server.invocations, "patched", False):
        scoring_server.invocations = _guarded(scoring_server.invocations)
    if not getattr(scoring_server.predictions_to_json, "patched", False):
        scoring_server.predictions_to_json = _fast_json(scoring_server.predictions_to_json)
    if not getattr(scoring_server._parse_json_data, "patched", False):
        scoring_server._parse_json_data = parse_json_body
    middleware = []
    if registered is not None and registered.headers():
        middleware.append((ResponseHeaders, {"headers": registered.headers()}))
    if metrics is not None:
        from .metrics import MetricsMiddleware

        # Added last, so outermost: its latency includes the headers middleware.
        middleware.append((MetricsMiddleware, {"metrics": metrics}))
    if on_shutdown:
        middleware.append((OnShutdown, {"callbacks": tuple(on_shutdown)}))
    if middleware:
        _extend_next_app(middleware)


class ResponseHeaders:
    """ASGI middleware: fixed headers on every HTTP response (no per-request allocation but
    the header list)."""

    def __init__(self, app, headers: dict[str, str]):
        self.app = app
        self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.raw]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


class OnShutdown:
    """ASGI middleware: runs ``callbacks`` (in a thread: they may block) when the lifespan
    protocol announces the shutdown, before the app's own handlers."""

    def __init__(self, app, callbacks: tuple):
        self.app, self.callbacks = app, callbacks

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def receive_and_run():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                import asyncio

                for callback in self.callbacks:
                    try:
                        await asyncio.to_thread(callback)
                    except Exception:  # the shutdown goes on
                        logging.getLogger(__name__).exception("shutdown step failed")
            return message

        return await self.app(scope, receive_and_run, send)


def _extend_next_app(middleware: list[tuple[type, dict]]) -> None:
    """Add ``middleware`` ((class, options) pairs, innermost first) to the next FastAPI app built
    in this process: the scoring server's, which `scoring_server.init` creates right after the
    model has loaded."""
    import fastapi

    original = getattr(fastapi.FastAPI, "original", fastapi.FastAPI)

    class ScoringApp(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            fastapi.FastAPI = original  # one app only
            for cls, options in middleware:
                self.add_middleware(cls, **options)

    ScoringApp.original = original
    fastapi.FastAPI = ScoringApp


def stop_supervisor() -> None:
    """A worker whose model cannot load takes the server down with it. With several workers,
    uvicorn's supervisor would start the failing worker again and again and the server would
    never exit nor become ready; stopped, it exits non-zero, so a pod crash-loops (and its
    rollout is reverted at once) and the local platform sees the process end."""
    import multiprocessing
    import signal

    if multiprocessing.parent_process() is not None:  # a worker spawned by the supervisor
        os.kill(os.getppid(), signal.SIGTERM)


def freeze_loaded_heap() -> None:
    gc.collect()
    gc.freeze()


def log_to_stderr(logger: logging.Logger) -> None:
    """uvicorn configures only its own loggers; without a handler the package's INFO lines
    (which predict path answers) would be dropped."""
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _guarded(invocations):
    def guarded(data, content_type, model, input_schema):
        if not content_type:
            return InvocationsResponse(
                "a Content-Type header is required; send application/json", 415, "text/plain")
        try:
            # The type-hint signature has no column schema to parse with; the model
            # validates what it receives itself.
            return invocations(data, content_type, model, None)
        except RecursionError:
            raise MlflowInvalidInputException("JSON nested too deeply") from None
        except MlflowException as exc:
            message = exc.message or "invalid input"
            if message.startswith("Failed to predict data") and "\nError: " in message:
                message = message.split("\nError: ", 1)[1]
            if "stack_trace" in exc.json_kwargs:
                raise MlflowInvalidInputException(message.splitlines()[0]) from None
            exc.message = message
            raise

    guarded.patched = True
    return guarded


class _BadJson(ValueError):
    """A body json.loads would take wrongly (duplicate keys) or fail on with a 500 (huge ints)."""


def _int(digits: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit and len(digits) > limit:
        raise _BadJson(f"a number in the body has {len(digits.lstrip('-')):,} digits; Python's "
                       f"limit is {limit:,}")
    return int(digits)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _BadJson(f"duplicate key {json.dumps(duplicate)[:60]} in a JSON object")
    return obj


def decode_json(data: bytes | str) -> object:
    """The request body as JSON, or an MlflowInvalidInputException with a one-line reason."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MlflowInvalidInputException(
                f"the body is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    if data.startswith("\ufeff"):  # a UTF-8 byte-order mark, which some clients write
        data = data[1:]
    try:
        return json.loads(data, parse_int=_int, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise MlflowInvalidInputException(f"the body is not valid JSON: {exc}") from None
    except _BadJson as exc:
        raise MlflowInvalidInputException(str(exc)) from None
    except RecursionError:
        raise MlflowInvalidInputException("JSON nested too deeply") from None


def parse_json_body(data, metadata=None, input_schema=None):
    """Replaces scoring_server._parse_json_data: the reviews of any accepted request shape, as
    the list the model's ``predict`` takes, and MLflow's ``params`` as MLflow passes them."""
    body = decode_json(data)
    try:
        reviews = request_reviews(body)
        # Checked here: MLflow drops a parameter the signature does not declare, silently.
        request_params(body.get("params"))
    except InvalidReviews as exc:  # the same error code as the model's checks of each review
        raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
    return scoring_server.ParsedJsonInput(reviews, body.get("params"), False)


parse_json_body.patched = True


def _fast_json(predictions_to_json):
    def fast_predictions_to_json(raw_predictions, output, metadata=None):
        if metadata:  # never passed by the scoring server; MLflow's own checks apply
            return predictions_to_json(raw_predictions, output, metadata)
        predictions = _get_jsonable_obj(raw_predictions, pandas_orient="records")
        output.write(json.dumps({"predictions": predictions}, cls=NumpyEncoder))

    fast_predictions_to_json.patched = True
    fast_predictions_to_json.original = predictions_to_json
    return fast_predictions_to_json
