#!/usr/bin/env python3
"""Backup and restore of the local platform's state (scripts/local/platform.sh runs this).

  backup.py backup                          snapshot into $RUN_DIR/backups/<UTC timestamp>.tar.gz
  backup.py restore [ARCHIVE] [--check-only]   (default: the newest archive)
  backup.py list

An archive holds MLflow's SQLite store and basic-auth DB, Prefect's SQLite DB, MLflow's
artifact folder, and manifest.json: size and sha256 of every file, and counts read from the
snapshots (runs, registered model versions, aliases, deployments, ...) that a restore checks
against the servers it starts on the restored state. Credentials are not in it: the restored
MLflow users get the passwords of the current $RUN_DIR/credentials.env when MLflow starts.

Standard library only, so that it runs before (or without) the project's environment.
Environment (platform.sh exports it): RUN_DIR, PREFECT_HOME, MLFLOW_TRACKING_URI and
MLFLOW_TRACKING_USERNAME/_PASSWORD, PREFECT_API_URL and PREFECT_API_AUTH_STRING, BACKUP_KEEP.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from contextlib import closing
from importlib import metadata
from pathlib import Path

FORMAT = 1
ARCHIVE_NAME = re.compile(r"^\d{8}T\d{6}Z\.tar\.gz$")
DATABASES = ("mlflow/mlflow.db", "mlflow/auth.db", "prefect/prefect.db")
ARTIFACTS = "mlflow/artifacts"
# Beside a live SQLite file: they belong to the state as much as the file itself, and a stale
# -wal next to a restored DB would be replayed into it.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
SERVICES = ("mlflow", "prefect-server", "prefect-worker", "model-server")
# Counts the running servers change by themselves: Prefect's scheduler adds flow runs for
# scheduled deployments, `platform.sh up` creates the work pool, MLflow's user sync adds users.
AT_LEAST = {"prefect.flow_runs", "prefect.work_pools", "prefect.block_documents",
            "mlflow_auth.users", "mlflow_auth.permissions"}


class Refused(Exception):
    """A problem for the user to fix: one line, no stack trace."""


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# --- where things are -------------------------------------------------------------------------

class Layout:
    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[2]
        self.run_dir = Path(os.environ.get("RUN_DIR") or root / ".run").resolve()
        self.prefect_home = Path(os.environ.get("PREFECT_HOME") or self.run_dir / "prefect")
        self.backups = self.run_dir / "backups"
        self.platform = os.environ.get("PLATFORM") or str(root / "scripts" / "local" / "platform.sh")

    def path(self, item: str) -> Path:
        """Where an archive item lives in this platform."""
        if item == "prefect/prefect.db":
            return prefect_db(self.prefect_home)
        return self.run_dir / item


def prefect_db(home: Path) -> Path:
    url = (os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL")
           or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL") or "")
    if not url:
        return home / "prefect.db"  # Prefect's default
    if not url.startswith("sqlite"):
        raise Refused("Prefect's database is not SQLite (PREFECT_SERVER_DATABASE_CONNECTION_URL): "
                      "this backup covers the local SQLite platform only")
    return Path(url.split(":///", 1)[1].split("?", 1)[0])


# --- SQLite ------------------------------------------------------------------------------------

def snapshot(src: Path, dest: Path) -> None:
    """A consistent copy of a live database: the online backup API copies the pages under
    SQLite's own locking, so a server writing meanwhile never yields a torn file (a file copy
    can, and misses whatever still sits in the -wal)."""
    with closing(sqlite3.connect(src, timeout=60)) as source, closing(sqlite3.connect(dest)) as target:
        source.backup(target)
        # One self-contained file in the archive, nothing left in a -wal beside it.
        target.execute("PRAGMA journal_mode=DELETE")
        check = target.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise Refused(f"{src} fails SQLite's quick_check ({check}); not backing up a damaged database")


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _count(con: sqlite3.Connection, tables: set[str], table: str, where: str = "") -> int | None:
    if table not in tables:
        return None
    return con.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]


def schedule_summary(schedule: dict) -> str:
    if schedule.get("cron"):
        return f"cron {schedule['cron']} {schedule.get('timezone') or 'UTC'}"
    if schedule.get("rrule"):
        return f"rrule {schedule['rrule']}"
    if schedule.get("interval") is not None:
        return f"interval {schedule['interval']}"
    return "other"


def read_counts(paths: dict[str, Path]) -> dict:
    """What a restore checks, read from the SQLite files of `paths` (item -> file)."""
    counts: dict[str, int | str | None] = {}
    facts: dict = {}
    if (db := paths.get("mlflow/mlflow.db")) and db.exists():
        with closing(sqlite3.connect(db, timeout=60)) as con:
            t = _tables(con)
            # MLflow's registry API hides prompts and deleted versions; count as it shows them.
            prompts = ("name NOT IN (SELECT name FROM registered_model_tags "
                       "WHERE key = 'mlflow.prompt.is_prompt' AND value = 'true')")
            counts |= {
                "mlflow.experiments": _count(con, t, "experiments"),
                "mlflow.runs": _count(con, t, "runs"),
                "mlflow.metrics": _count(con, t, "metrics"),
                "mlflow.params": _count(con, t, "params"),
                "mlflow.run_tags": _count(con, t, "tags"),
                "mlflow.registered_models": _count(con, t, "registered_models", f"WHERE {prompts}"),
                "mlflow.model_versions": _count(con, t, "model_versions",
                                                f"WHERE current_stage != 'Deleted_Internal' AND {prompts}"),
                "mlflow.registered_model_tags": _count(con, t, "registered_model_tags"),
                "mlflow.model_version_tags": _count(con, t, "model_version_tags"),
                "mlflow.aliases": _count(con, t, "registered_model_aliases"),
            }
            run_ids = sorted(r[0] for r in con.execute("SELECT run_uuid FROM runs"))
            counts["mlflow.run_ids_sha256"] = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()
            aliases: dict[str, dict[str, str]] = {}
            for name, alias, version in con.execute(
                    "SELECT name, alias, version FROM registered_model_aliases ORDER BY name, alias"):
                aliases.setdefault(name, {})[alias] = str(version)
            facts["aliases"] = aliases
    if (db := paths.get("mlflow/auth.db")) and db.exists():
        with closing(sqlite3.connect(db, timeout=60)) as con:
            t = _tables(con)
            perms = [_count(con, t, x) for x in ("experiment_permissions", "registered_model_permissions")]
            counts |= {"mlflow_auth.users": _count(con, t, "users"),
                       "mlflow_auth.permissions": sum(p or 0 for p in perms)}
    if (db := paths.get("prefect/prefect.db")) and db.exists():
        with closing(sqlite3.connect(db, timeout=60)) as con:
            t = _tables(con)
            counts |= {f"prefect.{key}": _count(con, t, table) for key, table in (
                ("flows", "flow"), ("deployments", "deployment"),
                ("deployment_schedules", "deployment_schedule"), ("flow_runs", "flow_run"),
                ("work_pools", "work_pool"), ("automations", "automation"),
                ("variables", "variable"), ("block_documents", "block_document"))}
            if {"deployment", "flow", "deployment_schedule"} <= t:
                deployments: dict[str, list[str]] = {}
                for flow, name in con.execute("SELECT f.name, d.name FROM deployment d "
                                              "JOIN flow f ON f.id = d.flow_id"):
                    deployments[f"{flow}/{name}"] = []
                for flow, name, schedule in con.execute(
                        "SELECT f.name, d.name, s.schedule FROM deployment_schedule s "
                        "JOIN deployment d ON d.id = s.deployment_id JOIN flow f ON f.id = d.flow_id"):
                    deployments[f"{flow}/{name}"].append(schedule_summary(json.loads(schedule)))
                facts["deployments"] = {k: sorted(v) for k, v in sorted(deployments.items())}
    return {"counts": {k: v for k, v in counts.items() if v is not None}, **facts}


def compare(expected: dict, actual: dict, what: str) -> list[str]:
    """Differences between the manifest's checks and `actual` (both as read_counts returns)."""
    problems = []
    for key, want in expected.get("counts", {}).items():
        got = actual.get("counts", {}).get(key)
        if got is None:
            continue  # not checked by this side (e.g. the live API has no metric count)
        bad = got < want if key in AT_LEAST else got != want
        if bad:
            rule = ">=" if key in AT_LEAST else "=="
            problems.append(f"{what}: {key} is {got}, expected {rule} {want}")
    for fact in ("aliases", "deployments"):
        if fact in expected and fact in actual and expected[fact] != actual[fact]:
            problems.append(f"{what}: {fact} are {actual[fact]}, expected {expected[fact]}")
    return problems


# --- backup ------------------------------------------------------------------------------------

def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def archives(backups: Path) -> list[Path]:
    return sorted(p for p in backups.glob("*.tar.gz") if ARCHIVE_NAME.match(p.name))


class _Hashing(io.RawIOBase):
    """Hashes exactly the bytes tarfile reads, so the manifest describes what is in the archive
    even if an artifact is being written while it is read."""

    def __init__(self, f) -> None:
        self.f, self.sha = f, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        return data


def backup(layout: Layout, keep: int) -> Path:
    started = time.monotonic()
    for db in ("mlflow/mlflow.db", "prefect/prefect.db"):
        if not layout.path(db).exists():
            raise Refused(f"no {layout.path(db)}: nothing to back up (start the platform once: make up)")
    layout.backups.mkdir(parents=True, exist_ok=True)
    layout.backups.chmod(0o700)  # auth.db holds password hashes
    while (target := layout.backups / f"{utc_stamp()}.tar.gz").exists():
        time.sleep(0.2)  # one archive per second: the name is the ordering
    work = layout.backups / f".work-{target.name[:-7]}"
    partial = layout.backups / f".{target.name}.partial"
    files: dict[str, dict] = {}
    try:
        work.mkdir()
        # Databases first, artifacts after: every artifact the snapshot's runs and model
        # versions point to was written before it, so it is in the archive too.
        for item in DATABASES:
            src = layout.path(item)
            if not src.exists():
                say(f"{item}: absent, skipped")
                continue
            t0 = time.monotonic()
            dest = work / item
            dest.parent.mkdir(parents=True, exist_ok=True)
            snapshot(src, dest)
            say(f"{item}: snapshot {human(dest.stat().st_size)} ({time.monotonic() - t0:.1f}s)")
        checks = read_counts({item: work / item for item in DATABASES})
        summary = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in checks["counts"].items()
                            if k.split(".")[1] in ("runs", "model_versions", "aliases", "deployments"))
        say(f"counts: {summary}")
        old = os.umask(0o077)
        try:
            tar = tarfile.open(partial, "w:gz", compresslevel=6)
        finally:
            os.umask(old)
        t0 = time.monotonic()
        with tar:
            for item in DATABASES:
                if (work / item).exists():
                    files[item] = _add(tar, work / item, item)
            artifacts = layout.path(ARTIFACTS)
            n_art = 0
            if artifacts.is_dir():
                for path in sorted(artifacts.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        name = f"{ARTIFACTS}/{path.relative_to(artifacts).as_posix()}"
                        files[name] = _add(tar, path, name)
                        n_art += 1
            size = sum(f["size"] for name, f in files.items() if name.startswith(ARTIFACTS + "/"))
            say(f"{ARTIFACTS}: {n_art} files, {human(size)} ({time.monotonic() - t0:.1f}s with the DBs)")
            manifest = {
                "format": FORMAT, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "run_dir": str(layout.run_dir), "versions": _versions(),
                "items": {"databases": [d for d in DATABASES if d in files],
                          "artifacts": artifacts.is_dir()},
                "files": files, **checks,
            }
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
        os.replace(partial, target)  # a half-written archive never carries an archive's name
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
    say(f"wrote {target} ({human(target.stat().st_size)}, {len(files)} files, "
        f"{time.monotonic() - started:.1f}s)")
    for old_archive in archives(layout.backups)[:-keep] if keep > 0 else []:
        old_archive.unlink()
        say(f"removed {old_archive.name} (keeping the last {keep}: BACKUP_KEEP)")
    return target


def _add(tar: tarfile.TarFile, path: Path, name: str) -> dict:
    info = tar.gettarinfo(path, arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(path, "rb") as f:
        reader = _Hashing(f)
        tar.addfile(info, reader)
    return {"size": info.size, "sha256": reader.sha.hexdigest()}


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("mlflow", "prefect"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


# --- reading and checking an archive -----------------------------------------------------------

def unpack_verified(archive: Path, stage: Path) -> dict:
    """Unpack into `stage` (a fresh folder), checking every file against the manifest and the
    snapshots' counts against the manifest's. Raises Refused on anything wrong."""
    if not archive.is_file():
        raise Refused(f"no archive at {archive}")
    try:
        # The whole gzip stream first: its CRC and length catch a flipped byte or a cut-off
        # tail that tarfile, which stops at the first header it cannot read, may not report.
        with gzip.open(archive, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as e:
        raise Refused(f"{archive.name} is not a readable backup (truncated or corrupt: "
                      f"{type(e).__name__}: {e})") from None
    stage.mkdir(parents=True)
    digests: dict[str, dict] = {}
    manifest_bytes = None
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                name = member.name
                if member.isdir():
                    continue
                if (not member.isfile() or name.startswith("/") or ".." in Path(name).parts
                        or not (name == "manifest.json" or name in DATABASES
                                or name.startswith(ARTIFACTS + "/"))):
                    raise Refused(f"{archive.name}: unexpected member {name!r}; "
                                  "not a backup of this platform")
                f = tar.extractfile(member)
                if name == "manifest.json":
                    manifest_bytes = f.read()
                    continue
                dest = stage / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                sha, size = hashlib.sha256(), 0
                with open(dest, "wb") as out:
                    while chunk := f.read(1 << 20):
                        sha.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                digests[name] = {"size": size, "sha256": sha.hexdigest()}
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise Refused(f"{archive.name} is not a readable backup (truncated or corrupt: "
                      f"{type(e).__name__}: {e})") from None
    if manifest_bytes is None:
        raise Refused(f"{archive.name} has no manifest.json; not a backup made by `make backup`")
    try:
        manifest = json.loads(manifest_bytes)
        expected = manifest["files"]
        if not (isinstance(expected, dict) and isinstance(manifest["items"]["databases"], list)
                and isinstance(manifest["counts"], dict)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise Refused(f"{archive.name}: manifest.json is malformed") from None
    if manifest.get("format") != FORMAT:
        raise Refused(f"{archive.name}: manifest format {manifest.get('format')!r}, "
                      f"this script reads {FORMAT}")
    missing = sorted(set(expected) - set(digests))
    extra = sorted(set(digests) - set(expected))
    bad = sorted(n for n in set(expected) & set(digests) if expected[n] != digests[n])
    if missing or extra or bad:
        first = (bad or missing or extra)[0]
        raise Refused(f"{archive.name} does not match its manifest ({len(bad)} changed, {len(missing)} "
                      f"missing, {len(extra)} unlisted files; first: {first})")
    for item in manifest["items"]["databases"]:
        with closing(sqlite3.connect(stage / item)) as con:
            try:
                check = con.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as e:
                check = str(e)
        if check != "ok":
            raise Refused(f"{archive.name}: {item} fails SQLite's quick_check ({check})")
    problems = compare(manifest, read_counts({d: stage / d for d in DATABASES}), "archive")
    if problems:
        raise Refused(f"{archive.name}: the snapshots do not hold what the manifest says ({problems[0]})")
    return manifest


# --- the running platform ----------------------------------------------------------------------

def running(layout: Layout, service: str) -> bool:
    try:
        pid = int((layout.run_dir / "pids" / f"{service}.pid").read_text())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def platform(layout: Layout, command: str) -> None:
    """The platform's own start and stop functions (platform.sh <command>)."""
    t0 = time.monotonic()
    say(f"platform.sh {command}")
    proc = subprocess.run([layout.platform, command], stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"platform.sh {command} failed (exit {proc.returncode}; "
                           f"logs in {layout.run_dir}/logs)")
    say(f"platform.sh {command}: done ({time.monotonic() - t0:.1f}s)")


def _request(url: str, auth: str, body: dict | None = None) -> dict | list | int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except (urllib.error.URLError, OSError):
        return False


def live_counts() -> dict:
    """What the restarted servers serve, through their APIs (as the platform's clients)."""
    mlflow = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow"
    env = os.environ.get
    mauth = f"{env('MLFLOW_TRACKING_USERNAME', '')}:{env('MLFLOW_TRACKING_PASSWORD', '')}"

    def pages(path: str, key: str, body: dict | None = None, query: dict | None = None) -> list:
        found, token = [], None
        while True:
            if body is not None:
                page = _request(f"{mlflow}/{path}", mauth, body | ({"page_token": token} if token else {}))
            else:
                q = (query or {}) | ({"page_token": token} if token else {})
                page = _request(f"{mlflow}/{path}?{urllib.parse.urlencode(q)}", mauth)
            found += page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return found

    experiments = pages("experiments/search", "experiments", {"max_results": 1000, "view_type": "ALL"})
    run_ids: list[str] = []
    ids = [e["experiment_id"] for e in experiments]
    for i in range(0, len(ids), 100):
        runs = pages("runs/search", "runs", {"experiment_ids": ids[i:i + 100], "run_view_type": "ALL",
                                             "max_results": 1000})
        run_ids += [r["info"]["run_id"] for r in runs]
    models = pages("registered-models/search", "registered_models", query={"max_results": 1000})
    versions = pages("model-versions/search", "model_versions", query={"max_results": 10000})
    aliases = {m["name"]: {a["alias"]: str(a["version"]) for a in m["aliases"]}
               for m in models if m.get("aliases")}
    counts = {"mlflow.experiments": len(experiments), "mlflow.runs": len(run_ids),
              "mlflow.run_ids_sha256": hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest(),
              "mlflow.registered_models": len(models), "mlflow.model_versions": len(versions),
              "mlflow.aliases": sum(len(a) for a in aliases.values())}

    api = os.environ["PREFECT_API_URL"].rstrip("/")
    pauth = os.environ.get("PREFECT_API_AUTH_STRING", "")
    flows, offset = {}, 0
    while page := _request(f"{api}/flows/filter", pauth, {"limit": 200, "offset": offset}):
        flows |= {f["id"]: f["name"] for f in page}
        offset += len(page)
    deployments, offset = {}, 0
    while page := _request(f"{api}/deployments/filter", pauth, {"limit": 200, "offset": offset}):
        for d in page:
            deployments[f"{flows.get(d['flow_id'], d['flow_id'])}/{d['name']}"] = sorted(
                schedule_summary(s["schedule"]) for s in d.get("schedules", []))
        offset += len(page)
    counts |= {"prefect.flows": len(flows), "prefect.deployments": len(deployments),
               "prefect.deployment_schedules": sum(len(s) for s in deployments.values()),
               "prefect.flow_runs": _request(f"{api}/flow_runs/count", pauth, {})}
    return {"counts": counts, "aliases": aliases, "deployments": dict(sorted(deployments.items()))}


# --- restore -----------------------------------------------------------------------------------

def _state_files(layout: Layout, item: str) -> list[Path]:
    path = layout.path(item)
    if item == ARTIFACTS:
        return [path]
    return [path] + [path.with_name(path.name + s) for s in SQLITE_SIDECARS]


def restore(layout: Layout, archive_arg: str | None, check_only: bool) -> None:
    started = time.monotonic()
    if archive_arg:
        archive = Path(archive_arg).expanduser().resolve()
    else:
        found = archives(layout.backups)
        if not found:
            raise Refused(f"no backups in {layout.backups} (make backup)")
        archive = found[-1]
    stamp = utc_stamp()
    layout.backups.mkdir(parents=True, exist_ok=True)
    stage = layout.backups / f".restore-{stamp}"
    try:
        t0 = time.monotonic()
        say(f"checking {archive} ({human(archive.stat().st_size) if archive.is_file() else 'missing'})")
        manifest = unpack_verified(archive, stage)
        say(f"archive OK: {len(manifest['files'])} files match their sha256, the snapshots pass "
            f"quick_check and hold the manifest's counts ({time.monotonic() - t0:.1f}s; made "
            f"{manifest['created']})")
        if check_only:
            return
        for dist, version in manifest.get("versions", {}).items():
            if _versions().get(dist) not in (None, version):
                say(f"note: made with {dist} {version}, this environment has {_versions()[dist]}")
        _swap_and_check(layout, manifest, stage, stamp)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    say(f"restored {archive.name} in {time.monotonic() - started:.1f}s")


def _swap_and_check(layout: Layout, manifest: dict, stage: Path, stamp: str) -> None:
    for url, service in ((os.environ.get("MLFLOW_TRACKING_URI", "") + "/health", "mlflow"),
                         (os.environ.get("PREFECT_API_URL", "") + "/health", "prefect-server")):
        if url.startswith("http") and answers(url) and not running(layout, service):
            raise Refused(f"{url} answers but was not started by platform.sh (no live pid in "
                          f"{layout.run_dir}/pids); stop it first, it may hold the databases open")
    was = {s: running(layout, s) for s in SERVICES}
    aside = layout.backups / f"pre-restore-{stamp}"
    moved: list[tuple[Path, Path]] = []  # (live path, where it went)
    items = list(manifest["items"]["databases"]) + [ARTIFACTS]
    # Every item, also one the archive lacks: the restored state is the snapshot, not a mix.
    all_items = list(DATABASES) + [ARTIFACTS]
    # SIGTERM (a closed terminal, a timeout) takes the same way back as an error.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        platform(layout, "down")
        aside.mkdir(parents=True)
        for item in all_items:
            for live in _state_files(layout, item):
                if live.exists() or live.is_symlink():
                    dest = aside / live.relative_to(layout.run_dir) if live.is_relative_to(layout.run_dir) \
                        else aside / "prefect" / live.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(live, dest)
                    moved.append((live, dest))
        say(f"current state moved aside to {aside} ({len(moved)} paths)")
        for item in items:
            src, live = stage / item, layout.path(item)
            if not src.exists():  # an empty artifact folder has no files in the archive
                continue
            live.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, live)
        say(f"unpacked {len(manifest['files'])} files into {layout.run_dir}")
        platform(layout, "up")
        if was["model-server"]:
            try:
                platform(layout, "serve")
            except RuntimeError as e:
                say(f"warning: the model server did not come back on the restored registry: {e}")
        t0 = time.monotonic()
        problems = compare(manifest, live_counts(), "live servers")
        problems += compare(manifest, read_counts({d: layout.path(d) for d in DATABASES}), "restored files")
        if problems:
            raise RuntimeError("; ".join(problems))
        checked = {k: v for k, v in manifest["counts"].items() if not k.endswith("sha256")}
        say(f"verified against the live servers and the restored files ({time.monotonic() - t0:.1f}s): "
            + ", ".join(f"{k} {v}" for k, v in checked.items()))
        say(f"aliases {manifest.get('aliases', {})}; deployments {manifest.get('deployments', {})}")
        say(f"the state before the restore is kept in {aside} (delete it when no longer needed)")
    except (Exception, KeyboardInterrupt) as e:
        print(f"error: restore failed: {e}", file=sys.stderr, flush=True)
        _put_back(layout, was, moved, aside)
        raise Refused("restore failed; the previous state is back in place") from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _put_back(layout: Layout, was: dict, moved: list, aside: Path) -> None:
    say("putting the previous state back")
    try:
        platform(layout, "down")
    except RuntimeError as e:
        say(f"warning: {e}")
    # Whatever is there now came from the archive or from the servers since: the previous
    # state is exactly what was moved aside.
    for item in list(DATABASES) + [ARTIFACTS]:
        for live in _state_files(layout, item):
            if live.is_dir() and not live.is_symlink():
                shutil.rmtree(live)
            elif live.exists() or live.is_symlink():
                live.unlink()
    for live, dest in reversed(moved):
        shutil.move(dest, live)
    if aside.exists() and not any(p.is_file() for p in aside.rglob("*")):
        shutil.rmtree(aside)
    say(f"previous state back in {layout.run_dir}")
    if any(was[s] for s in ("mlflow", "prefect-server", "prefect-worker")):
        try:
            platform(layout, "up")
            if was["model-server"]:
                platform(layout, "serve")
        except RuntimeError as e:
            say(f"warning: could not restart the services: {e}")


# --- command line ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Backup and restore of the local platform (.run/).")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="snapshot the platform's state into $RUN_DIR/backups/")
    b.add_argument("--keep", type=int, default=None,
                   help="archives to keep, older ones are deleted (default: BACKUP_KEEP or 7)")
    r = sub.add_parser("restore", help="restore an archive (default: the newest)")
    r.add_argument("archive", nargs="?")
    r.add_argument("--check-only", action="store_true", help="verify the archive, change nothing")
    sub.add_parser("list", help="the archives, oldest first")
    args = parser.parse_args(argv)
    layout = Layout()
    try:
        if args.command == "backup":
            keep = args.keep if args.keep is not None else os.environ.get("BACKUP_KEEP") or "7"
            try:
                keep = int(keep)
            except ValueError:
                raise Refused(f"BACKUP_KEEP must be a number, not {keep!r}") from None
            if keep < 1:
                raise Refused("BACKUP_KEEP must be at least 1")
            backup(layout, keep)
        elif args.command == "restore":
            restore(layout, args.archive, args.check_only)
        else:
            for path in archives(layout.backups):
                print(f"{path}  {human(path.stat().st_size)}")
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
