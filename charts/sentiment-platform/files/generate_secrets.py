# generate-secrets (a pre-install/pre-upgrade hook Job of the umbrella chart): create every
# Secret the platform needs that does not exist yet, with random values, and add keys that an
# existing one lacks. Never changes a value that is there.
# Why a Job and not the template: a template can only keep a generated value with `lookup`,
# which `helm template`, Argo CD and client dry-runs do not run, so each render would bring new
# passwords and lock MLflow and Prefect out of a database whose roles were set once. A Job runs
# in the cluster, whatever renders the chart (with `helm template | kubectl apply` it is an
# ordinary Job: the pods that need a Secret wait for it). stdlib only; talks to the API with
# the pod's service account token. Prints names and keys, never values.
import json
import os
import secrets
import ssl
import string
import sys
import time
import urllib.error
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
API = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
NAMESPACE = open(f"{SA}/namespace").read().strip()
TOKEN = open(f"{SA}/token").read().strip()
TLS = ssl.create_default_context(cafile=f"{SA}/ca.crt")
ALPHABETS = {"alnum": string.ascii_letters + string.digits,
             "lower": string.ascii_lowercase + string.digits}


def call(method: str, path: str, body: dict | None = None, content_type: str = "application/json"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{API}{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": content_type,
        "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, context=TLS, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {"message": exc.read().decode(errors="replace")[:300]}


def value(spec: dict) -> str:
    alphabet = ALPHABETS[spec.get("alphabet", "alnum")]
    token = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("length", 32))))
    return spec.get("prefix", "") + token


def b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def ensure(secret: dict) -> None:
    name, keys, labels = secret["name"], secret["keys"], secret.get("labels", {})
    path = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    status, live = call("GET", f"{path}/{name}")
    if status == 404:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "labels": labels},
                "data": {key: b64(value(spec)) for key, spec in keys.items()}}
        status, reply = call("POST", path, body)
        if status == 409:  # created meanwhile (another run): check it again
            return ensure(secret)
        if status >= 300:
            raise RuntimeError(f"create secret {name}: HTTP {status} {reply.get('message')}")
        print(f"secret {name}: created with keys {sorted(keys)}", flush=True)
        return None
    if status >= 300:
        raise RuntimeError(f"read secret {name}: HTTP {status} {live.get('message')}")
    missing = sorted(set(keys) - set(live.get("data") or {}))
    if not missing:
        print(f"secret {name}: exists, all keys present", flush=True)
        return None
    patch = {"data": {key: b64(value(keys[key])) for key in missing}}
    status, reply = call("PATCH", f"{path}/{name}", patch, "application/merge-patch+json")
    if status >= 300:
        raise RuntimeError(f"add keys to secret {name}: HTTP {status} {reply.get('message')}")
    print(f"secret {name}: added keys {missing}", flush=True)
    return None


def main() -> int:
    wanted = json.load(open(os.environ.get("SPEC_PATH", "/scripts/secrets.json")))
    deadline = time.monotonic() + 120
    for secret in wanted:
        while True:
            try:
                ensure(secret)
                break
            except (RuntimeError, OSError) as exc:
                # The Role may arrive with this Job (`kubectl apply` of a rendered chart).
                if time.monotonic() > deadline:
                    print(f"giving up: {exc}", file=sys.stderr, flush=True)
                    return 1
                print(f"retrying: {exc}", flush=True)
                time.sleep(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
