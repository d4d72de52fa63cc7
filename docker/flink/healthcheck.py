"""Container healthchecks for docker-compose.yml: exit 0 when the service is ready.

    python /opt/labkit/healthcheck.py jobmanager|taskmanager|sql-gateway|lab

Standard library only; runs inside the lab's Flink image.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def jobmanager() -> bool:
    """The REST API (and so the web UI) answers."""
    return "taskmanagers" in get("http://localhost:8081/overview")


def taskmanager() -> bool:
    """This TaskManager has registered with the JobManager (so its slots can run jobs)."""
    me = {socket.gethostname(), socket.gethostbyname(socket.gethostname())}
    registered = json.dumps(get("http://jobmanager:8081/taskmanagers"))
    # ids look like "172.18.0.5:39425-53c2f8": match "172.18.0.5:", never "172.18.0.50:"
    return any(f"{name}:" in registered for name in me)


def sql_gateway() -> bool:
    """Flink's SQL Gateway answers its REST API's ``/v3/info`` (no session needed)."""
    info = get("http://127.0.0.1:8083/v3/info")
    return isinstance(info, dict) and info.get("productName") == "Apache Flink"


def lab() -> bool:
    """Jupyter Server answers (``/api`` needs no token)."""
    return "version" in get("http://localhost:8888/api")


if __name__ == "__main__":
    check = {
        "jobmanager": jobmanager,
        "taskmanager": taskmanager,
        "sql-gateway": sql_gateway,
        "lab": lab,
    }[sys.argv[1]]
    try:
        ok = check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy yet"
        print(f"{sys.argv[1]} not ready: {exc}")
        sys.exit(1)
    print(f"{sys.argv[1]} {'ready' if ok else 'not ready'}")
    sys.exit(0 if ok else 1)
