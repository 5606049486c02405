"""Build-time helper shared by the image Dockerfiles (stdlib only, runs on the image's python).

python pins.py deps pyproject.toml [extra ...]   print the project's requirements (+ extras)
python pins.py verify [--skip NAME] LOCK ...     fail unless every installed distribution
                                                 (but NAME, e.g. the project itself) is pinned
                                                 as name==version in one of the LOCK files
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

# Installed into every venv by `python -m venv` / the build itself, and not part of the app.
ALWAYS_ALLOWED = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def deps(pyproject: str, *extras: str) -> int:
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    reqs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            print(f"pins.py: no extra {extra!r} in {pyproject}", file=sys.stderr)
            return 2
        reqs += optional[extra]
    print("\n".join(reqs))
    return 0


def read_pins(path: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        if m:
            pins[canonical(m.group(1))] = m.group(3)
    return pins


def verify(*args: str) -> int:
    own: set[str] = set()
    locks: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--skip":
            own.add(canonical(next(it)))
        else:
            locks.append(arg)
    pins: dict[str, str] = {}
    for lock in locks:
        pins.update(read_pins(lock))
    problems, count = [], 0
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"] or "")
        if not name or name in own:
            continue
        count += 1
        want = pins.get(name)
        if want is None:
            if name in ALWAYS_ALLOWED:
                continue
            problems.append(f"{name}=={dist.version} is not pinned")
        elif want != dist.version:
            problems.append(f"{name}=={dist.version} but the lock says {want}")
    if problems:
        print(
            "pins.py: unpinned or mismatched distributions:\n  " + "\n  ".join(problems),
            file=sys.stderr,
        )
        return 1
    print(f"pins.py: {count} distributions, all pinned")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "deps":
        return deps(*argv[1:])
    if len(argv) >= 2 and argv[0] == "verify":
        return verify(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
