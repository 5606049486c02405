"""Chart versions move with the charts. The last release is kept packaged in `releases/` (a
Helm chart repository: `helm install sentiment releases/sentiment-platform-<v>.tgz`), so this
needs no git history: every chart (the umbrella and each part) whose packaged files differ from
the last release has a higher version than it had there, and the umbrella asks for exactly the
versions of its parts (UPGRADING.md)."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from sentiment_testkit.charts import CHART, ROOT

PARTS = sorted(p.parent for p in (CHART / "charts").glob("*/Chart.yaml"))
RELEASES = ROOT / "releases"
HELM = ROOT / "bin" / "helm"


def semver(text: str) -> tuple[int, ...]:
    core = str(text).split("-")[0].split("+")[0]
    parts = core.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), f"not semver: {text!r}"
    return tuple(int(p) for p in parts)


def release_packages() -> list[Path]:
    return sorted(RELEASES.glob(f"{CHART.name}-*.tgz"),
                  key=lambda p: semver(p.name.removeprefix(f"{CHART.name}-").removesuffix(".tgz")))


def unpack(package: Path) -> dict[str, bytes]:
    """Every file of a packaged umbrella, by its path inside the umbrella."""
    with tarfile.open(package) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read()
                for m in tar.getmembers() if m.isfile()}


def chart_files(files: dict[str, bytes], chart: Path) -> dict[str, bytes]:
    """One chart's own files (a part's, or the umbrella's without its parts)."""
    prefix = "" if chart == CHART else f"charts/{chart.name}/"
    own = {k.removeprefix(prefix): v for k, v in files.items() if k.startswith(prefix)}
    return own if prefix else {k: v for k, v in own.items() if not k.startswith("charts/")}


def metadata(files: dict[str, bytes]) -> dict:
    return yaml.safe_load(files["Chart.yaml"])


@pytest.fixture(scope="module")
def released() -> tuple[str, dict[str, bytes]]:
    packages = release_packages()
    assert packages, f"no packaged release in {RELEASES} (UPGRADING.md, 'Releasing')"
    return packages[-1].name, unpack(packages[-1])


@pytest.fixture(scope="module")
def current(tmp_path_factory) -> dict[str, bytes]:
    # Packaged by the same helm, so .helmignore and helm's own rewrites apply to both sides.
    out = tmp_path_factory.mktemp("package")
    subprocess.run([str(HELM), "package", str(CHART), "-d", str(out)], check=True,
                   capture_output=True)
    (package,) = out.glob("*.tgz")
    return unpack(package)


@pytest.mark.parametrize("chart_dir", [CHART, *PARTS], ids=lambda p: p.name)
def test_a_changed_chart_has_a_new_version(chart_dir, released, current):
    release_name, release_files = released
    then = chart_files(release_files, chart_dir)
    now = chart_files(current, chart_dir)
    if "Chart.yaml" not in then:
        return  # new since the release: any version is new
    was, is_ = metadata(then), metadata(now)
    changed = sorted(
        k for k in then.keys() | now.keys()
        if k != "Chart.yaml" and then.get(k) != now.get(k)
    ) + (["Chart.yaml"] if {**was, "version": 0} != {**is_, "version": 0} else [])
    if changed:
        assert semver(is_["version"]) > semver(was["version"]), (
            f"{chart_dir.name} differs from the release {release_name} ({len(changed)} files, "
            f"e.g. {changed[0]}) but its version is still {is_['version']}: bump it "
            "(UPGRADING.md)")
    else:
        assert is_["version"] == was["version"], (
            f"{chart_dir.name} is unchanged since {release_name}: keep version {was['version']}")


def test_the_check_sees_a_change(released):
    """The comparison itself: a part edited after the release counts as changed."""
    _, files = released
    edited = {**files, "charts/model-server/values.yaml": files["charts/model-server/values.yaml"]
              + b"\n# edited\n"}
    part = CHART / "charts" / "model-server"
    assert chart_files(edited, part) != chart_files(files, part)
    assert chart_files(edited, CHART) == chart_files(files, CHART)


def test_the_release_repository_indexes_its_packages():
    index = yaml.safe_load((RELEASES / "index.yaml").read_text())
    listed = {e["version"] for e in index["entries"][CHART.name]}
    assert listed == {metadata(unpack(p))["version"] for p in release_packages()}


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
