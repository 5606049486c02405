# Entry point of the model-server container (python /scripts/serve.py): serve one exact model
# version, or stand by until there is one.
#
# SERVED_MODEL_URI set (the rollout writes the exact version, models:/<name>/<version>, into the pod
# template; the chart never renders it): run `mlflow models serve` on it and stay PID 1, passing
# SIGTERM/SIGINT on and reaping every child. `mlflow models serve` alone exits at once on SIGTERM
# and uvicorn, its child, would be killed with the container instead of draining its requests.
#
# SERVED_MODEL_URI unset (installed, nothing promoted yet): a stand-by server. It is Ready, so
# `helm install --wait` (Helm 3 and 4), Argo CD and Flux finish, and POST /invocations answers
# 503 with a JSON message and Retry-After until the first promotion rolls out a version.
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "5001"))
HOST = os.environ.get("HOST", "0.0.0.0")
WORKERS = os.environ.get("WORKERS", "1")
SERVED_MODEL_URI = os.environ.get("SERVED_MODEL_URI", "").strip()
MODEL_NAME = os.environ.get("MODEL_NAME", "the model")


TERMINATION_LOG = os.environ.get("TERMINATION_LOG", "/dev/termination-log")
# A traceback's last line: an exception class (dotted path, CamelCase name), a colon, the message.
EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z][a-z]\w*: ")
WRAPPERS = ("returned non zero return code",)


def relay(stream, recent: deque) -> None:
    """Pass the server's output on, keeping its last lines for the termination message."""
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
        recent.append(line.rstrip())


def report_crash(recent: deque, code: int) -> None:
    """The termination message Kubernetes keeps (and the rollout reports): the cause first,
    then the last lines of output."""
    causes = [line for line in recent
              if EXCEPTION_LINE.match(line) and not any(w in line for w in WRAPPERS)]
    cause = causes[-1] if causes else f"mlflow models serve exited with code {code}"
    try:
        with open(TERMINATION_LOG, "w") as fh:
            fh.write((cause + "\n\n" + "\n".join(list(recent)[-15:]))[:3500])
    except OSError:
        pass


def serve_model(uri: str) -> int:
    cmd = ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
           "-h", HOST, "-p", str(PORT), "--workers", WORKERS]
    print(f"serving {uri}: {' '.join(cmd)}", flush=True)
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             bufsize=1)
    recent: deque = deque(maxlen=200)
    relaying = threading.Thread(target=relay, args=(child.stdout, recent), daemon=True)
    relaying.start()
    stopping = []

    def forward(signum, _frame):
        stopping.append(signum)
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    # uvicorn outlives the mlflow CLI (it gets SIGTERM when its parent dies, and drains): as the
    # container's init, wait for every remaining child before exiting.
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    relaying.join(timeout=5)
    if stopping:
        return 0
    # Ended without being asked to (a model that cannot load stops its server): fail, so the
    # pod restarts, and leave the cause where the rollout reads it.
    print(f"mlflow models serve ended on its own (exit code {code})", file=sys.stderr, flush=True)
    report_crash(recent, code)
    return code or 1


# The stand-by server's GET /metrics: the serving metrics' request counter (same name and labels,
# so an error-rate alert sees the 503s) and sentiment_model_standby 1, for an alert on a server
# that never got a model. Built in serve_standby only: the model's own server has its own.
STANDBY_METRICS: dict = {}
# The model's serving/metrics.py PATHS (the package is not in this image; the model brings it).
KNOWN_PATHS = frozenset({"/invocations", "/ping", "/health", "/version", "/metrics"})


def standby_metrics() -> dict:
    from prometheus_client import CollectorRegistry, Counter, Gauge

    registry = CollectorRegistry()
    requests = Counter("sentiment_http_requests", "HTTP requests answered, by path and status code",
                       ["path", "status"], registry=registry)
    standby = Gauge("sentiment_model_standby", "1 while no model version has been rolled out to "
                    "this server", registry=registry)
    standby.set(1)
    return {"registry": registry, "requests": requests}


class StandBy(BaseHTTPRequestHandler):
    server_version = "model-server-standby"

    def _count(self, status: int) -> None:
        if STANDBY_METRICS:
            path = self.path if self.path in KNOWN_PATHS else "other"
            STANDBY_METRICS["requests"].labels(path, str(status)).inc()

    def _answer(self, status: int, body: dict | None = None, retry: bool = False) -> None:
        self._count(status)
        data = (json.dumps(body) if body is not None else "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Model-Version", "none")
        if retry:
            self.send_header("Retry-After", "60")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/metrics" and STANDBY_METRICS:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self._count(200)
            data = generate_latest(STANDBY_METRICS["registry"])
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path in ("/ping", "/health"):
            self._answer(200)
        else:
            self._answer(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no {self.path}"})

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        if self.path == "/invocations":
            self._answer(503, {
                "error_code": "MODEL_NOT_READY",
                "message": f"no version of {MODEL_NAME} has been rolled out to this server yet; "
                           "run the training flow (a promotion rolls it out)"}, retry=True)
        else:
            self._answer(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no {self.path}"})

    def log_message(self, fmt, *args):
        sys.stderr.write("standby: " + (fmt % args) + "\n")


def serve_standby() -> int:
    if os.environ.get("SENTIMENT_SERVE_METRICS", "true").lower() not in ("false", "0", "no"):
        STANDBY_METRICS.update(standby_metrics())
    server = ThreadingHTTPServer((HOST, PORT), StandBy)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"stand-by on {HOST}:{PORT}: no SERVED_MODEL_URI yet, /invocations answers 503", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(serve_model(SERVED_MODEL_URI) if SERVED_MODEL_URI else serve_standby())
