# wait-for-db (init container of the Prefect server): wait until $DB_HOST:$DB_PORT accepts TCP
# connections (every 3 s, at most 300 s), then exit 0; exit 1 if it never does.
# Why: the server migrates its schema on start (PREFECT_SERVER_DATABASE_MIGRATE_ON_START) and
# would crash-loop while PostgreSQL is still starting; this only waits, it migrates nothing.
import os
import socket
import sys
import time

host, port = os.environ["DB_HOST"], int(os.environ["DB_PORT"])
deadline = time.monotonic() + 300
while True:
    try:
        socket.create_connection((host, port), timeout=3).close()
        break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"{host}:{port} unreachable: {exc}")
        print(f"waiting for {host}:{port}", flush=True)
        time.sleep(3)
