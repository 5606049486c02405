# sync-users (init container of the MLflow server, after db-migrate; scripts/local/platform.sh
# runs the same file before it starts MLflow): make MLflow's basic-auth users match the
# credentials in the environment, and let the trainer write the platform's model and experiment.
# Why: MLflow itself creates only the admin, once, and ignores a later password change. The
# platform needs a writer (flow runs: MLFLOW_TRAINER_*) and a reader (the model server:
# MLFLOW_READER_*), and a rotated password must take effect at the next restart. Idempotent.
#
# Env: MLFLOW_AUTH_CONFIG_PATH (the ini: database_uri), MLFLOW_AUTH_ADMIN_USERNAME/_PASSWORD,
# MLFLOW_TRAINER_USERNAME/_PASSWORD, MLFLOW_READER_USERNAME/_PASSWORD, MODEL_NAME,
# EXPERIMENT_NAME, MLFLOW_BACKEND_STORE_URI (to find the experiment). Passwords of a
# PostgreSQL URI come from PGPASSWORD (libpq), never from the URI.
import os
import sys

import sqlalchemy as sa
from mlflow.server.auth.config import read_auth_config
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

config = read_auth_config()
uri = config.database_uri
if uri.startswith("postgresql"):
    # The auth tables live in their own schema of MLflow's database (its own alembic_version):
    # the mlflow role owns that database, so it can create the schema, also on an upgrade.
    schema = sa.engine.make_url(uri).query.get("options", "").partition("search_path=")[2]
    if schema:
        engine = sa.create_engine(uri.split("?", 1)[0])
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        engine.dispose()

store = SqlAlchemyStore()
store.init_db(uri)


def ensure(user_var: str, password_var: str, is_admin: bool) -> str:
    username, password = os.environ[user_var], os.environ[password_var]
    if store.has_user(username):
        store.update_user(username, password=password, is_admin=is_admin)
        print(f"user {username}: password and role set (admin: {is_admin})", flush=True)
    else:
        store.create_user(username, password, is_admin=is_admin)
        print(f"user {username}: created (admin: {is_admin})", flush=True)
    return username


ensure("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", True)
trainer = ensure("MLFLOW_TRAINER_USERNAME", "MLFLOW_TRAINER_PASSWORD", False)
ensure("MLFLOW_READER_USERNAME", "MLFLOW_READER_PASSWORD", False)  # reads by default_permission


def grant(kind: str, get, create, update, key: str) -> None:
    try:
        if get(key, trainer).permission != "MANAGE":
            update(key, trainer, "MANAGE")
    except Exception:  # noqa: BLE001 - no grant yet
        create(key, trainer, "MANAGE")
    print(f"{trainer} may manage {kind} {key}", flush=True)


# What the trainer creates it manages anyway; granting covers a model or experiment that was
# created before auth was turned on (an upgrade), or by someone else.
model = os.environ.get("MODEL_NAME")
if model:
    grant("registered model", store.get_registered_model_permission,
          store.create_registered_model_permission, store.update_registered_model_permission, model)
experiment_name, backend = os.environ.get("EXPERIMENT_NAME"), os.environ.get("MLFLOW_BACKEND_STORE_URI")
if experiment_name and backend:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    experiment = TrackingStore(backend, "mlflow-artifacts:/").get_experiment_by_name(experiment_name)
    if experiment is not None:
        grant("experiment", store.get_experiment_permission, store.create_experiment_permission,
              store.update_experiment_permission, experiment.experiment_id)
sys.exit(0)
