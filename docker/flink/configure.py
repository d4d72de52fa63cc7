"""Flink's configuration in the lab's image: the settings `labkit up` gives its own cluster.

Run once while docker/flink/Dockerfile builds the image, with the image's Python (the one
labkit and PyFlink are installed in):

    python /opt/labkit/configure.py /opt/flink        # edits /opt/flink/conf/config.yaml

It takes :func:`labkit.runtime.flink_proc.config` - task slots, memory sizes, restart
strategy, heartbeats, state backend, Python settings, JVM options - and the SQL Gateway's own
keys from :func:`labkit.runtime.gateway_proc.config` (see :func:`sql_gateway`), and merges
them into the image's ``config.yaml`` with Flink's own ``bin/config-parser-utils.sh`` (what
the official image uses for its settings too), with two kinds of exceptions:

* :data:`NETWORK` - the local cluster's addresses and ports on 127.0.0.1. In containers
  every service has its own host name; the official image binds to 0.0.0.0 and uses the
  standard ports, and docker-compose.yml names the JobManager (``jobmanager``).
* :data:`CONTAINER` - checkpoints and savepoints go to ``/opt/flink/state``, the
  ``flink-state`` volume every Flink container mounts (a checkpoint written by one
  TaskManager must be readable by the JobManager and the others); CORS names the Web UI's
  published address. The local cluster's mutual TLS (flink_proc.access) is not here: an
  image never holds the lab's key.

The SQL Gateway (docker-compose.yml's ``sql-gateway`` service, same image) reads the same
``config.yaml``: its ``sql-gateway.*`` keys and ``env.java.opts.sql-gateway`` are read by the
gateway alone, so they are written here for every container. The keys that would change the
JobManager's and TaskManagers' configuration too - :data:`SQL_GATEWAY_SERVICE`: where jobs
go (``execution.target: remote``, the JobManager's ``rest.address``/``rest.port``) - are
the gateway container's own ``FLINK_PROPERTIES`` in docker-compose.yml instead, which the
official entrypoint merges into that container's ``config.yaml`` at start (as it merges
``jobmanager.rpc.address`` for the other Flink services).

``python.executable`` is left as flink_proc sets it: the running Python (``sys.executable``),
here ``/opt/pyflink/bin/python`` - the Python that has labkit, so Python functions defined
in labkit (lesson 09's fraud rules) load on the TaskManagers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labkit.runtime import flink_proc, gateway_proc

#: flink_proc.config() keys that place the local cluster on 127.0.0.1 and its ports.
NETWORK = frozenset(
    {
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "jobmanager.rpc.port",
        "taskmanager.bind-host",
        "taskmanager.host",
        "taskmanager.rpc.port",
        "taskmanager.data.port",
        "blob.server.port",
        "rest.address",
        "rest.bind-address",
        "rest.port",
        "web.access-control-allow-origin",
    }
)

STATE = "/opt/flink/state"  # the flink-state volume (docker-compose.yml)
CONTAINER = {
    "execution.checkpointing.dir": f"file://{STATE}/checkpoints",
    "execution.checkpointing.savepoint-dir": f"file://{STATE}/savepoints",
    # the Web UI is published on the host's 127.0.0.1:8081 (docker-compose.yml): no other
    # origin's page may read the REST API's replies (Flink's default: every origin)
    "web.access-control-allow-origin": "http://127.0.0.1:8081",
    # Python functions in worker processes (PyFlink's default): the image's TaskManager has
    # no PATH to its venv's Python for an embedded interpreter (flink_proc._environment)
    "python.execution-mode": "process",
}


#: The SQL Gateway's REST port in its container (published on the host's 127.0.0.1 only).
SQL_GATEWAY_PORT = 8083
#: gateway_proc.config() keys that place the local gateway on 127.0.0.1: in its container it
#: listens on every interface (docker-compose.yml publishes the port on 127.0.0.1 only).
SQL_GATEWAY_NETWORK = {
    "sql-gateway.endpoint.rest.address": "0.0.0.0",
    "sql-gateway.endpoint.rest.bind-address": "0.0.0.0",
    "sql-gateway.endpoint.rest.port": str(SQL_GATEWAY_PORT),
}
#: The gateway container's FLINK_PROPERTIES (docker-compose.yml, besides
#: jobmanager.rpc.address): jobs go to the JobManager's REST API. Not in the shared
#: config.yaml, where rest.address would also become the JobManager's own.
SQL_GATEWAY_SERVICE = {
    "execution.target": "remote",
    "rest.address": "jobmanager",
    "rest.port": "8081",  # the JobManager container's REST port (the official image's)
}


def sql_gateway() -> dict[str, str]:
    """The SQL Gateway's keys in the image's config.yaml: gateway_proc.config() - what `labkit
    up`'s gateway gets - with SQL_GATEWAY_NETWORK, without SQL_GATEWAY_SERVICE."""
    local = gateway_proc.config(SQL_GATEWAY_PORT)
    missing = (SQL_GATEWAY_NETWORK.keys() | {"execution.target"}) - local.keys()
    if missing:  # gateway_proc changed: decide again what differs in containers
        raise SystemExit(f"configure.py: gateway_proc.config() no longer sets {sorted(missing)}")
    if local["execution.target"] != SQL_GATEWAY_SERVICE["execution.target"]:
        raise SystemExit(f"configure.py: gateway_proc.config() sends jobs to {local['execution.target']}")
    return {**{k: v for k, v in local.items() if k not in SQL_GATEWAY_SERVICE}, **SQL_GATEWAY_NETWORK}


def settings() -> dict[str, str]:
    """What the image's config.yaml gets: flink_proc.config() without NETWORK, with CONTAINER."""
    rest = flink_proc.DEFAULT_REST_PORT  # the official image's REST port (no front door there)
    local = flink_proc.config(flink_proc.FlinkPorts(rest, 6123, rest))
    missing = (NETWORK | CONTAINER.keys()) - local.keys()
    if missing:  # flink_proc changed: decide again what differs in containers
        raise SystemExit(f"configure.py: flink_proc.config() no longer sets {sorted(missing)}")
    return {**{k: v for k, v in local.items() if k not in NETWORK}, **CONTAINER}


def read(config_yaml: Path) -> dict[str, str]:
    """A Flink config.yaml as flat ``key: value`` strings (nested keys joined with dots)."""
    from ruamel.yaml import YAML  # a PyFlink dependency

    def flat(tree: dict, prefix: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in tree.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    tree = YAML(typ="safe").load(config_yaml.read_text())
    if not isinstance(tree, dict):
        text = config_yaml.read_text()[:2000]
        raise SystemExit(f"configure.py: {config_yaml} is not a YAML mapping:\n{text}")
    return flat(tree)


def apply(flink_home: Path) -> dict[str, str]:
    """Merge :func:`settings` and :func:`sql_gateway` into ``flink_home/conf/config.yaml``
    and check that it took.

    Flink's ``config-parser-utils.sh`` writes the settings, except values with spaces (the
    JVM options; the restart delay ``1 s``): it splits its arguments on spaces, so those are
    set in the YAML directly (the official image's entrypoint reads and rewrites the file at
    every start, keeping them; tests/runtime/test_flink_image.py checks that). The file is read back at
    the end, because config-parser-utils.sh can exit 0 after writing an error into it.
    """
    wanted = {**settings(), **sql_gateway()}
    conf = flink_home / "conf" / "config.yaml"
    plain = {k: v for k, v in wanted.items() if not any(c.isspace() for c in v)}
    subprocess.run(
        [
            "bash",
            str(flink_home / "bin" / "config-parser-utils.sh"),
            str(flink_home / "conf"),
            str(flink_home / "bin"),
            str(flink_home / "lib"),
            *(f"-D{key}={value}" for key, value in plain.items()),
        ],
        check=True,
    )
    spaced = {k: v for k, v in wanted.items() if k not in plain}
    if spaced:
        from ruamel.yaml import YAML

        yaml = YAML()  # round trip: the rest of the file stays as Flink wrote it
        tree = yaml.load(conf.read_text())
        for key, value in spaced.items():
            *parents, leaf = key.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        with open(conf, "w") as out:
            yaml.dump(tree, out)
    got = read(conf)
    wrong = {k: (v, got.get(k)) for k, v in wanted.items() if got.get(k) != v}
    if wrong:
        raise SystemExit(f"configure.py: config.yaml did not take these settings (wanted, got): {wrong}")
    return wanted


if __name__ == "__main__":
    for key, value in apply(Path(sys.argv[1])).items():
        print(f"{key}: {value}")
