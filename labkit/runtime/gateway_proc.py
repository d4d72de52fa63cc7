"""Flink's SQL Gateway as a local process: the REST service behind the ``%%flink_sql`` cell.

The SQL Gateway is Flink's own service for running SQL from elsewhere - sessions, statements,
results with their row kinds - the one Flink's SQL client and JDBC driver speak to. The lab
runs the official jar (``org.apache.flink:flink-sql-gateway``, in ``artifacts.lock``) with
PyFlink's ``bin/sql-gateway.sh`` on the same ``lib/`` as the cluster (Flink's jars, the Kafka
connector), so ``CREATE TABLE ... WITH ('connector' = 'kafka', ...)`` works as the Flink docs
write it. It submits every job to the lab's JobManager (``execution.target: remote``).

Closed like the JobManager's REST API (:mod:`labkit.runtime.tls`): it listens on 127.0.0.1
only, speaks HTTPS and answers only callers holding the lab's certificate - a web page in
the learner's browser or another user of the machine cannot run SQL through it (SQL can
read files and run Python functions). Replies carry no ``Access-Control-Allow-Origin`` but
the Web UI's. Its configuration is the cluster's ``config.yaml`` plus the keys below, in a
``conf-sql-gateway/`` of its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LabError
from . import artifacts, tls

ROLE = "sqlgateway"
#: A laptop-sized JVM: the gateway only plans statements and relays results (the jobs run on
#: the cluster). Measured in `make bench` ("gateway RSS after lesson-like use").
JVM_OPTS = "-Xmx160m -XX:MaxMetaspaceSize=160m -XX:ReservedCodeCacheSize=48m"
#: How long a session lives without a request; the kernel's client sends a heartbeat well
#: within it (labkit.sql.gateway), so only the sessions of dead kernels expire.
SESSION_IDLE_TIMEOUT = "10 min"


def address(port: int) -> str:
    """The gateway's REST address as labkit writes it (TLS: a URL, see `tls.url`)."""
    return f"https://127.0.0.1:{port}"


def conf_dir() -> Path:
    return paths.home() / "flink" / "conf-sql-gateway"


def config(port: int) -> dict[str, str]:
    """The keys the gateway adds to the cluster's config.yaml (flat keys)."""
    return {
        "sql-gateway.endpoint.type": "rest",
        "sql-gateway.endpoint.rest.address": "127.0.0.1",
        "sql-gateway.endpoint.rest.bind-address": "127.0.0.1",
        "sql-gateway.endpoint.rest.port": str(port),
        "sql-gateway.session.idle-timeout": SESSION_IDLE_TIMEOUT,
        "sql-gateway.session.check-interval": "1 min",
        # jobs go to the lab's JobManager (rest.address/rest.port of the cluster's config)
        "execution.target": "remote",
        "env.java.opts.sql-gateway": JVM_OPTS,
    }


def prepare(home: Path) -> None:
    """``home/opt`` with the gateway's jar and flink-python (``sql-gateway.sh`` looks there)."""
    opt = home / "opt"
    if opt.exists():
        shutil.rmtree(opt)
    opt.mkdir()
    (gateway_jar,) = artifacts.classpath("flink-sql-gateway")
    (opt / gateway_jar.name).symlink_to(gateway_jar)
    for jar in (home / "lib").glob("flink-python-*.jar"):
        (opt / jar.name).symlink_to(jar.resolve())


def write_config(cluster: dict[str, str], port: int) -> Path:
    """The gateway's own conf folder: the cluster's settings (``cluster``, with the keys of
    mutual TLS) and `config`'s. This user's only: it holds the keystore's password."""
    where = conf_dir()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = where.parent / "conf"
    for f in source.iterdir():
        if f.is_file() and f.name != "config.yaml":
            shutil.copy(f, where / f.name)
    tls.write_private(
        where / "config.yaml",
        (
            "# Written by labkit (labkit/runtime/gateway_proc.py) at every start.\n"
            + "".join(f"{k}: {json.dumps(v)}\n" for k, v in {**cluster, **config(port)}.items())
        ).encode(),
    )
    return where


def command(home: Path) -> list[str]:
    return [str(home / "bin" / "sql-gateway.sh"), "start-foreground"]


def info(gateway: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The gateway's ``/v3/info`` (product name and Flink version), or None if it does not answer."""
    try:
        return dict(tls.call(gateway, "v3/info", timeout=timeout))
    except (OSError, ValueError, TypeError, LabError):
        return None
