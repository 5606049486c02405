#!/usr/bin/env python3
"""Write a one-layer image as a docker-archive tar, without docker or a registry.

Used for the images of the kind node built here whose content is one static binary (control
plane, etcd, CoreDNS, pause, local-path-provisioner; verify-netpol.sh's netcheck), which would
otherwise be pulled from registry.k8s.io. containerd imports the result
(`ctr -n k8s.io images import FILE`, `kind load image-archive FILE`).

    mkimage.py --tag registry.k8s.io/pause:3.10 --out pause.tar \
        --file /path/to/pause:/pause:0755 --entrypoint /pause
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _dirs(paths: list[str]) -> list[str]:
    out: set[str] = set()
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted(out)


def build(
    tag: str,
    out: str,
    files: list[str],
    entrypoint: list[str],
    cmd: list[str],
    user: str | None,
    env: list[str],
    ports: list[str],
) -> None:
    layer = io.BytesIO()
    specs = []
    for spec in files:
        src, dst, *rest = spec.split(":")
        specs.append((src, dst.lstrip("/"), int(rest[0], 8) if rest else 0o644))
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in _dirs([d for _, d, _ in specs]):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for d in ("tmp",):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777
            tar.addfile(info)
        for src, dst, mode in specs:
            with open(src, "rb") as fh:
                _add(tar, dst, fh.read(), mode)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config: dict = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env]}
    if entrypoint:
        config["Entrypoint"] = entrypoint
    if cmd:
        config["Cmd"] = cmd
    if user:
        config["User"] = user
    if ports:
        config["ExposedPorts"] = {p: {} for p in ports}
    image = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "images/kind-node/mkimage.py"}],
    }
    image_bytes = json.dumps(image, sort_keys=True).encode()
    image_id = hashlib.sha256(image_bytes).hexdigest()
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": [f"{diff_id[7:]}/layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        _add(tar, f"{image_id}.json", image_bytes, 0o644)
        _add(tar, f"{diff_id[7:]}/layer.tar", layer_bytes, 0o644)
        _add(tar, "manifest.json", json.dumps(manifest).encode(), 0o644)
        _add(
            tar,
            "repositories",
            json.dumps({tag.rsplit(":", 1)[0]: {tag.rsplit(":", 1)[1]: diff_id[7:]}}).encode(),
            0o644,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--file", action="append", default=[], help="SRC:DEST[:OCTAL_MODE]")
    ap.add_argument("--entrypoint", nargs="*", default=[])
    ap.add_argument("--cmd", nargs="*", default=[])
    ap.add_argument("--user")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--port", action="append", default=[], help="e.g. 53/udp")
    a = ap.parse_args()
    build(a.tag, a.out, a.file, a.entrypoint, a.cmd, a.user, a.env, a.port)


if __name__ == "__main__":
    main()
