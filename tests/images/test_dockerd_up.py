"""scripts/docker/dockerd-up.sh decides "started" or "exited" from the pid it started.

A slow exec cannot be caused on demand, so these tests put stand-ins first on PATH: a ``dockerd``
that takes seconds to answer (or exits at once), a ``docker`` whose ``info`` answers once that
daemon is up, and a ``pgrep`` that never finds a process named dockerd. That last one is what CI
saw: with Go builds in the background the new daemon was still named setsid or nohup when
the script looked for it, and the script called it dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/docker/dockerd-up.sh"

pytestmark = [
    pytest.mark.images,
    pytest.mark.skipif(os.geteuid() != 0, reason="dockerd-up.sh starts a daemon only as root"),
]


def _stand_ins(bin_dir: Path, daemon_body: str, marker: Path) -> None:
    bin_dir.mkdir()
    scripts = {
        "dockerd": f"#!/bin/bash\n{daemon_body}\n",
        "docker": f'#!/bin/bash\n[ "$1" = info ] || [ "$1" = version ] || exit 2\ntest -f "{marker}"\n',
        "pgrep": "#!/bin/bash\nexit 1\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


def _run(tmp_path: Path, daemon_body: str) -> subprocess.CompletedProcess:
    marker = tmp_path / "answering"
    _stand_ins(tmp_path / "bin", daemon_body.replace("MARKER", str(marker)), marker)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "RUN_DIR": str(tmp_path / "run"),
        "DOCKERD_LOCK": str(tmp_path / "lock"),
        "DOCKERD_TIMEOUT": "30",
    }
    try:
        return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    finally:
        pid_file = tmp_path / "run/dockerd.pid"
        if pid_file.exists():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_daemon_slow_to_start_is_waited_for(tmp_path):
    res = _run(tmp_path, "sleep 3\necho started\ntouch MARKER\nexec sleep 600")
    assert res.returncode == 0, res.stderr
    assert "docker daemon answering" in res.stderr
    assert "started" in (tmp_path / "run/dockerd.log").read_text()


def test_a_daemon_that_exits_is_reported_with_its_log(tmp_path):
    res = _run(tmp_path, "echo 'unknown flag: --bogus' >&2\nexit 125")
    assert res.returncode == 1
    assert "dockerd exited" in res.stderr
    assert "unknown flag: --bogus" in res.stderr
