# Init container of flow-run pods: python -c <this> TIMEOUT URL... waits until every URL's host
# and port accept a TCP connection, then exits 0 (1 with the unreachable ones after TIMEOUT s).
#
# Why: a network-policy controller adds a new pod's address to its peers' allow lists a moment
# after the pod starts (kube-router and Calico alike: about a second on an idle node, more under
# load). `prefect flow-run execute` reads its flow run at once and does not retry a refused
# connection, so without this wait a flow run can crash before its first line of code.
import socket
import sys
import time
from urllib.parse import urlsplit


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


def main(timeout: float, urls: list[str]) -> int:
    waiting = {address(u) for u in urls}
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while waiting:
        waiting = {peer for peer in waiting if not reachable(*peer)}
        if not waiting:
            break
        if time.monotonic() > deadline:
            names = ", ".join(f"{h}:{p}" for h, p in sorted(waiting))
            print(f"unreachable after {timeout:.0f} s: {names} (is a NetworkPolicy missing?)",
                  file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"peers reachable after {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{h}:{p}" for h, p in sorted(address(u) for u in urls)), flush=True)
    return 0


sys.exit(main(float(sys.argv[1]), sys.argv[2:]))
