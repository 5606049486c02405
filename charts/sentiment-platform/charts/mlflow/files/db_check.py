# db-migrate (init container of the MLflow server): wait for PostgreSQL (every 3 s, at most
# $DB_WAIT_SECONDS, default 300), then bring the schema to this image's MLflow version.
# Why: an empty database is initialised here (all tables + alembic stamp, what the server would
# do on first start, but once, before any server worker runs and races the others); an existing
# one is migrated with `mlflow db upgrade` (a no-op when it is already current), so a newer
# MLflow image migrates before it serves. The URI has no password: libpq reads PGPASSWORD.
import os
import subprocess
import sys
import time

import sqlalchemy as sa

uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
deadline = time.monotonic() + float(os.environ.get("DB_WAIT_SECONDS", "300"))
engine = sa.create_engine(uri, pool_pre_ping=True)
while True:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        break
    except Exception as exc:  # noqa: BLE001 - any connection error means "not yet"
        if time.monotonic() > deadline:
            print(f"database unreachable: {exc}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"waiting for the database ({type(exc).__name__})", flush=True)
        time.sleep(3)

tables = set(sa.inspect(engine).get_table_names())
engine.dispose()
if "alembic_version" not in tables:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    print("empty database: creating the MLflow schema", flush=True)
    SqlAlchemyStore(uri, "mlflow-artifacts:/")
    sys.exit(0)
print("existing database: mlflow db upgrade", flush=True)
sys.exit(subprocess.call(["mlflow", "db", "upgrade", uri]))
