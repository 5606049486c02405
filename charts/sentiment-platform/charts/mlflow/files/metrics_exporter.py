# metrics-exporter (sidecar of the MLflow server, with metrics.enabled): serves the counters the
# server's workers write (`mlflow server --expose-prometheus /tmp/prometheus-metrics`,
# prometheus-flask-exporter in multiprocess mode) on a port of its own, without a login.
# Why: behind MLflow's basic-auth app, GET /metrics answers only admins (the app fails closed on
# routes without a permission validator), and a scraper should not hold the admin password.
# Here the port needs no credential; the NetworkPolicy lets only the release's Prometheus reach
# it. prometheus-client merges the workers' files and writes the exposition format.
# Env: PROMETHEUS_MULTIPROC_DIR (the shared emptyDir), METRICS_PORT.
import os
import signal
import threading

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
port = int(os.environ.get("METRICS_PORT", "9102"))
# The server creates the directory when it starts; the sidecar may be first.
os.makedirs(directory, exist_ok=True)
registry = CollectorRegistry()
MultiProcessCollector(registry, path=directory)
start_http_server(port, registry=registry)
print(f"metrics-exporter: {directory} on :{port}/metrics", flush=True)

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
