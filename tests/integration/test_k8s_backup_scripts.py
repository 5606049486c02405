"""The Kubernetes backup/restore scripts (charts/sentiment-platform/files/backup-db.sh and
backup-store.sh) for real, against a local PostgreSQL and MinIO, in the order the chart's Jobs
run them: backup = dump, upload; restore = fetch, verify, artifacts, restore.

Backup, then change everything (a row deleted, a table dropped, a table a "newer schema" added,
artifacts deleted and added), restore latest: the same data, owners and artifacts. A corrupt
dump is refused before anything changes; a named backup without a manifest is refused; a
restore refuses while a client is connected; retention keeps the newest `KEEP` complete backups
and deletes the incomplete ones older than the new one.

Needs root (postgres runs as nobody), PostgreSQL's server binaries (Debian's postgresql-15,
which .ci/run installs) and the minio/mc binaries (MINIO_BIN/MC_BIN, or .cache/stand-ins/bin/
from `make stand-in-binaries`, which `make test` runs first). A missing one fails the test with
what to do: a skip would hide that the scripts were never run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sentiment_testkit.paths import ROOT
from sentiment_testkit.servers import free_port, host_postgres_cmd, init_host_postgres, postgres_bins

FILES = ROOT / "charts" / "sentiment-platform" / "files"
DATABASES = "mlflow prefect"


def _bin(env: str, name: str) -> str | None:
    cached = ROOT / ".cache" / "stand-ins" / "bin" / name
    for candidate in (os.environ.get(env), shutil.which(name), str(cached)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


PG = postgres_bins()
# pg_dump, pg_restore and psql of the same version as the server.
PG_BIN = str(Path(PG[0]).resolve().parent) if PG else None
MINIO = _bin("MINIO_BIN", "minio")
MC = _bin("MC_BIN", "mc")
pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module", autouse=True)
def _prerequisites():
    missing = [what for what, ok in (
        ("root (postgres runs as nobody through setpriv)", os.geteuid() == 0 and shutil.which("setpriv")),
        ("PostgreSQL's server binaries: apt-get install postgresql-15", PG),
        ("minio: make stand-in-binaries (or MINIO_BIN)", MINIO),
        ("mc: make stand-in-binaries (or MC_BIN)", MC),
    ) if not ok]
    if missing:
        pytest.fail("cannot run the backup scripts for real; missing: " + "; ".join(missing))


@pytest.fixture(scope="module")
def stack():
    base = Path(tempfile.mkdtemp(prefix="k8s-backup-"))
    pgdata = init_host_postgres(base, PG[0], "postgres")
    pg_port, s3_port = free_port(), free_port()
    procs = [
        subprocess.Popen(host_postgres_cmd(PG[1], pgdata, pg_port),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [
                MINIO,
                "server",
                str(base / "s3"),
                "--address",
                f"127.0.0.1:{s3_port}",
                "--console-address",
                f"127.0.0.1:{free_port()}",
            ],
            env=os.environ
            | {"MINIO_ROOT_USER": "admin-test", "MINIO_ROOT_PASSWORD": "root-password-for-tests"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    path = f"{Path(MC).parent}:{PG_BIN}:{os.environ['PATH']}"
    env = {
        "PATH": path,
        "HOME": str(base),
        "LANG": "C.UTF-8",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg_port),
        "PGUSER": "postgres",
        "PGPASSWORD": "unused",
        "S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
        "ROOT_USER": "admin-test",
        "ROOT_PASSWORD": "root-password-for-tests",
        "MC_CONFIG_DIR": str(base / "mc"),
        "BACKUP_BUCKET": "sentiment-backups",
        "ARTIFACT_BUCKET": "mlflow",
        "KEEP": "2",
        "DATABASES": DATABASES,
    }

    def sh(*args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(args), env=env | extra, capture_output=True, text=True, timeout=300)
        print(f"$ {' '.join(args)} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        if check and proc.returncode:
            raise AssertionError(f"{args} failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def sql(db: str, query: str, user: str = "postgres") -> str:
        return sh("psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-U", user, "-d", db, "-c", query).stdout.strip()

    deadline = time.monotonic() + 60
    while sh("pg_isready", "-q", "-d", "postgres", check=False).returncode:
        assert time.monotonic() < deadline, "postgres did not start"
        time.sleep(0.5)
    while sh(
        "mc", "alias", "set", "s3", env["S3_ENDPOINT"], "admin-test", "root-password-for-tests", check=False
    ).returncode:
        assert time.monotonic() < deadline, "minio did not start"
        time.sleep(0.5)
    # What postgresql's files/10-databases.sh creates: a login role owning each database.
    for db in DATABASES.split():
        sql("postgres", f"CREATE ROLE {db} LOGIN")
        sql("postgres", f"CREATE DATABASE {db} OWNER {db}")
    sql("prefect", "CREATE EXTENSION pg_trgm")
    sql(
        "mlflow",
        "CREATE TABLE runs (id int PRIMARY KEY, name text); "
        "INSERT INTO runs VALUES (1, 'first'), (2, 'second')",
        user="mlflow",
    )
    sql(
        "prefect",
        "CREATE TABLE flow (name text); INSERT INTO flow VALUES ('train'); "
        "CREATE INDEX flow_trgm ON flow USING gin (name gin_trgm_ops)",
        user="prefect",
    )
    sh("mc", "mb", "s3/mlflow")
    for key in ("1/a/model.pkl", "1/a/metrics.json"):
        src = base / "artifact"
        src.write_text(f"artifact {key}\n")
        sh("mc", "cp", str(src), f"s3/mlflow/{key}")

    def job(*steps: tuple[str, str], **extra: str) -> subprocess.CompletedProcess:
        """One Job pod: its containers in order, sharing a fresh $WORK; stops at the first failure."""
        work = Path(tempfile.mkdtemp(dir=base))
        for script, mode in steps:
            proc = sh("sh", str(FILES / script), mode, check=False, WORK=str(work), **extra)
            if proc.returncode:
                return proc
        return proc

    try:
        yield {"sh": sh, "sql": sql, "job": job, "base": base}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


BACKUP = (("backup-db.sh", "dump"), ("backup-store.sh", "upload"))
RESTORE = (
    ("backup-store.sh", "fetch"),
    ("backup-db.sh", "verify"),
    ("backup-store.sh", "artifacts"),
    ("backup-db.sh", "restore"),
)


def _state(stack) -> dict:
    sql, sh = stack["sql"], stack["sh"]
    return {
        "runs": sql("mlflow", "SELECT id, name FROM runs ORDER BY id"),
        "tables": sql(
            "mlflow",
            "SELECT string_agg(tablename || ':' || tableowner, ',' ORDER BY tablename) "
            "FROM pg_tables WHERE schemaname = 'public'",
        ),
        "flow": sql("prefect", "SELECT name FROM flow WHERE similarity(name, 'trains') > 0.5"),
        "owner": sql(
            "postgres",
            "SELECT string_agg(datname || ':' || pg_get_userbyid(datdba), ',' "
            "ORDER BY datname) FROM pg_database WHERE datname IN ('mlflow', 'prefect')",
        ),
        "artifacts": sorted(
            line.split()[-1] for line in sh("mc", "ls", "--recursive", "s3/mlflow").stdout.splitlines()
        ),
    }


def _backups(stack) -> list[str]:
    out = stack["sh"]("mc", "ls", "s3/sentiment-backups/").stdout.split()
    return [name.rstrip("/") for name in out if name.endswith("/")]


def test_backup_change_restore_gives_the_same_data(stack):
    before = _state(stack)
    assert before["runs"] == "1|first\n2|second" and before["flow"] == "train"
    out = stack["job"](*BACKUP)
    assert out.returncode == 0
    assert "copied 2 artifact objects" in out.stdout and "dumped" not in out.stdout  # store log
    [name] = _backups(stack)
    manifest = stack["sh"]("mc", "cat", f"s3/sentiment-backups/{name}/manifest.json").stdout
    assert '"objects": 2' in manifest and '"sha256": "' in manifest

    sql, sh = stack["sql"], stack["sh"]
    sql("mlflow", "DELETE FROM runs WHERE id = 2; CREATE TABLE from_newer_schema (x int)", user="mlflow")
    sql("prefect", "DROP TABLE flow", user="prefect")
    sh("mc", "rm", "s3/mlflow/1/a/model.pkl")
    sh("mc", "cp", str(FILES / "backup-db.sh"), "s3/mlflow/2/b/later.txt")
    assert sql("mlflow", "SELECT count(*) FROM runs") == "1"

    out = stack["job"](*RESTORE, BACKUP="latest")
    assert out.returncode == 0
    assert _state(stack) == before


def test_corrupt_dump_is_refused_before_anything_changes(stack):
    assert stack["job"](*BACKUP).returncode == 0
    name = _backups(stack)[-1]
    sql, sh = stack["sql"], stack["sh"]
    sql("mlflow", "INSERT INTO runs VALUES (3, 'after the backup')", user="mlflow")
    sh("mc", "cp", str(FILES / "backup-store.sh"), "s3/mlflow/3/c/after.txt")
    changed = _state(stack)
    # Same size, different bytes: only the checksum can tell.
    dump = stack["base"] / "tampered.dump"
    sh("mc", "cp", f"s3/sentiment-backups/{name}/mlflow.dump", str(dump))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    sh("mc", "cp", str(dump), f"s3/sentiment-backups/{name}/mlflow.dump")

    out = stack["job"](*RESTORE, BACKUP=name)
    assert out.returncode != 0 and "does not match the manifest" in out.stdout
    assert _state(stack) == changed
    # The later steps refuse on their own without the verify step's mark.
    for script, mode in (("backup-store.sh", "artifacts"), ("backup-db.sh", "restore")):
        out = stack["job"]((script, mode))
        assert out.returncode != 0 and "refusing" in out.stdout
    assert _state(stack) == changed


def test_missing_or_incomplete_backup_is_refused(stack):
    sh = stack["sh"]
    sh("mc", "cp", str(FILES / "backup-db.sh"), "s3/sentiment-backups/20000101T000000Z/mlflow.dump")
    before = _state(stack)
    for name in ("20000101T000000Z", "19990101T000000Z"):
        out = stack["job"](*RESTORE, BACKUP=name)
        assert out.returncode != 0 and "has no manifest.json" in out.stdout
    assert _state(stack) == before


def test_restore_refuses_while_a_client_is_connected(stack):
    assert stack["job"](*BACKUP).returncode == 0
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": stack["sh"]("sh", "-c", "echo $PGPORT").stdout.strip(),
        "PATH": f"{PG_BIN}:{os.environ['PATH']}",
    }
    client = subprocess.Popen(
        ["psql", "-U", "mlflow", "-d", "mlflow", "-c", "SELECT pg_sleep(30)"],
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        out = stack["job"](*RESTORE)
        assert out.returncode != 0 and "stop MLflow" in out.stdout
    finally:
        client.terminate()
        client.wait(timeout=10)


def test_retention_keeps_the_newest_complete_backups(stack):
    stack["sh"]("mc", "mb", "--ignore-existing", "s3/sentiment-backups")  # also when run alone
    stack["sh"]("mc", "cp", str(FILES / "backup-db.sh"), "s3/sentiment-backups/20000101T000000Z/mlflow.dump")
    for _ in range(3):
        time.sleep(1.1)  # names have one-second resolution
        assert stack["job"](*BACKUP).returncode == 0
    names = _backups(stack)
    assert len(names) == 2 and "20000101T000000Z" not in names
    time.sleep(1.1)  # in the same second, "<ts>-pre-upgrade/" lists before "<ts>/"
    out = stack["job"](*BACKUP, BACKUP_SUFFIX="-pre-upgrade")
    assert out.returncode == 0
    assert _backups(stack)[-1].endswith("-pre-upgrade") and len(_backups(stack)) == 2
