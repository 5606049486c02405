"""Chart versions move with the charts: every chart (the umbrella and each part) whose files
changed since the last release tag (`v<umbrella version>`) has a higher version than it had
there, and the umbrella asks for exactly the versions of its parts (UPGRADING.md)."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from sentiment_testkit.charts import CHART, ROOT

PARTS = sorted(p.parent for p in (CHART / "charts").glob("*/Chart.yaml"))


def git(*args: str) -> str:
    res = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, f"git {' '.join(args)}: {res.stderr.strip()}"
    return res.stdout


def semver(text: str) -> tuple[int, ...]:
    core = str(text).split("-")[0].split("+")[0]
    parts = core.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), f"not semver: {text!r}"
    return tuple(int(p) for p in parts)


@pytest.fixture(scope="module")
def last_release() -> str:
    tags = git("tag", "--list", "v*", "--merged", "HEAD", "--sort=-v:refname").split()
    assert tags, ("no release tag (v*) in this clone: the version check needs the previous "
                  "release; run `git fetch --tags`")
    return tags[0]


def chart_at(ref: str, chart_dir) -> dict | None:
    rel = chart_dir.relative_to(ROOT) / "Chart.yaml"
    res = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{rel.as_posix()}"],
                         capture_output=True, text=True, check=False)
    return yaml.safe_load(res.stdout) if res.returncode == 0 else None


@pytest.mark.parametrize("chart_dir", [CHART, *PARTS], ids=lambda p: p.name)
def test_a_changed_chart_has_a_new_version(chart_dir, last_release):
    now = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    then = chart_at(last_release, chart_dir)
    if then is None:
        return  # new since the release: any version is new
    # Changes since the release, committed or not (a part's changes are the umbrella's too).
    changed = git("diff", "--name-only", last_release, "--", str(chart_dir)).split()
    if changed:
        assert semver(now["version"]) > semver(then["version"]), (
            f"{chart_dir.name} changed since {last_release} ({len(changed)} files, e.g. "
            f"{changed[0]}) but its version is still {now['version']}: bump it (UPGRADING.md)")
    else:
        assert now["version"] == then["version"]


def test_the_umbrella_asks_for_the_versions_of_its_parts():
    umbrella = yaml.safe_load((CHART / "Chart.yaml").read_text())
    wanted = {d["name"]: str(d["version"]) for d in umbrella["dependencies"]}
    have = {p.name: str(yaml.safe_load((p / "Chart.yaml").read_text())["version"]) for p in PARTS}
    assert wanted == have
    lock = yaml.safe_load((CHART / "Chart.lock").read_text())
    assert {d["name"]: str(d["version"]) for d in lock["dependencies"]} == have, (
        "Chart.lock is stale: helm dependency update charts/sentiment-platform")


def test_upgrading_notes_cover_this_version():
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    notes = (ROOT / "UPGRADING.md").read_text()
    assert f"## {version}" in notes, f"UPGRADING.md has no section for {version}"
