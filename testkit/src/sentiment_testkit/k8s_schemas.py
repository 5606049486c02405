"""Build kubeconform's offline schema directory from the kubernetes-validate wheel.

The PyPI package kubernetes-validate ships JSON schemas generated from the Kubernetes OpenAPI
spec, one directory per release (`v1.37.0-local-strict/deployment-apps-v1.json`, ...). Their
`$ref`s point at a shared `/api/_definitions.json` through an `https://kubernetes.io/...` `$id`,
which kubeconform would try to download. This script writes each kind's schema standalone:
the definitions it reaches are copied into its own `$defs` and the refs rewritten to `#/$defs/..`,
so kubeconform validates fully offline with -schema-location
'<out>/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json'.

Usage: python -m sentiment_testkit.k8s_schemas <wheel> <kubernetes version, e.g. 1.37.0> <out dir>
(`make tool-schemas` runs it; only the standard library is needed.)
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

DEFS_REF = "/api/_definitions.json#/$defs/"  # in the per-kind files
LOCAL_REF = "#/$defs/"  # inside _definitions.json


def _refs(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            for prefix in (DEFS_REF, LOCAL_REF):
                if ref.startswith(prefix):
                    found.add(ref[len(prefix) :])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rewrite(node: object) -> object:
    if isinstance(node, dict):
        out = {k: _rewrite(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEFS_REF):
            out["$ref"] = "#/$defs/" + ref[len(DEFS_REF) :]
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def standalone(schema: dict, definitions: dict) -> dict:
    """Return `schema` with every definition it (transitively) references embedded."""
    needed: set[str] = set()
    todo: set[str] = set()
    _refs(schema, todo)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        if name not in definitions:
            raise KeyError(f"unknown definition {name}")
        needed.add(name)
        _refs(definitions[name], todo)
    out = _rewrite(schema)
    assert isinstance(out, dict)
    out.pop("$id", None)  # no remote base URI: '#/$defs/..' resolves in this file
    out["$defs"] = {name: _rewrite(definitions[name]) for name in sorted(needed)}
    return out


def build(wheel: Path, version: str, out_dir: Path) -> int:
    src = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    dest = out_dir / f"v{version}-local-strict"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(src) and n.endswith(".json")]
        if not names:
            raise SystemExit(f"no schemas for v{version} in {wheel}")
        definitions = json.loads(zf.read(src + "_definitions.json"))["$defs"]
        count = 0
        for name in names:
            base = name[len(src) :]
            if base.startswith("_") or base == "all.json":
                continue
            schema = json.loads(zf.read(name))
            (dest / base).write_text(json.dumps(standalone(schema, definitions)))
            count += 1
    return count


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    wheel, version, out = Path(argv[0]), argv[1], Path(argv[2])
    count = build(wheel, version, out)
    print(f"{count} standalone schemas -> {out / f'v{version}-local-strict'}")


if __name__ == "__main__":
    main(sys.argv[1:])
