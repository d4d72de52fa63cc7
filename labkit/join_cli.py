"""``labkit join BUNDLE`` and ``labkit leave [CLUSTER]`` (:mod:`labkit.runtime.join`): this
machine's Kafka broker joins a secured cluster on another machine, or leaves it without
losing a replica. The same two for Flink (:mod:`labkit.runtime.flink_join`): a bundle from
``labkit flink-bundle ADDR`` makes `join` start a TaskManager that joins the other
machine's Flink, and ``labkit leave flink`` stops it. `add_parsers` adds the three to
``labkit``'s subcommands; the runtime is imported when one runs (``labkit``'s other
commands start without it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import paths
from .errors import LabError

#: What `labkit leave` calls a TaskManager's join (its folder: ``LABKIT_HOME/joined-flink``).
FLINK = "flink"


def cmd_join(args: argparse.Namespace) -> int:
    """Start this machine's broker from the join bundle the cluster's machine wrote, next to
    this machine's own lab (started first if it is not running: the broker is recorded with
    it, so `labkit down` stops it)."""
    from .runtime import flink_join, join, lifecycle
    from .runtime.state import State

    if State.load() is None:
        lifecycle.up()
    if flink_join.is_bundle(args.bundle):
        tm = flink_join.join(args.bundle, quiet=False)
        print(
            f"labkit: Flink TaskManager on {tm.address} joined the JobManager at "
            f"{tm.jobmanager}:{tm.rpc_port} (Flink's internal SSL)."
        )
        print(f"labkit: `labkit leave {FLINK}` stops it (Flink restarts its tasks on the slots that remain).")
        return 0
    joined = join.join(args.bundle, quiet=False)
    print(
        f"labkit: Kafka broker {joined.node_id} on {joined.address}:{joined.port} joined {joined.cluster} "
        "(SASL_SSL; TLS to its controllers)."
    )
    print(f"labkit: `labkit leave {joined.cluster}` moves its replicas away, then stops and unregisters it.")
    return 0


def joined_clusters() -> list[str]:
    """The clusters this machine's LABKIT_HOME holds a joined broker's folder for."""
    return sorted(p.name.removeprefix("joined-") for p in paths.home().glob("joined-*") if p.is_dir())


def cmd_leave(args: argparse.Namespace) -> int:
    """Move this machine's replicas to the brokers that stay, then stop and unregister it; or,
    for ``flink``, stop the TaskManager it added to another machine's Flink."""
    from .runtime import flink_join, join

    cluster = args.cluster
    if cluster is None:
        found = joined_clusters()
        if len(found) != 1:
            named = ", ".join(found) or "none"
            raise LabError(
                f"Name the cluster to leave (`labkit leave CLUSTER`); this machine joined: {named}."
            )
        cluster = found[0]
    if cluster == FLINK:
        flink_join.leave(quiet=False)
        return 0
    moved = join.leave(cluster, quiet=False)
    print(f"labkit: left {cluster}; {len(moved)} partition replicas moved to the brokers that stay.")
    return 0


def cmd_flink_bundle(args: argparse.Namespace) -> int:
    """The join bundle for a TaskManager on the machine at ``args.address``."""
    from .runtime import flink_join

    where = flink_join.write_bundle(args.address)
    print(f"labkit: copy {where} to the machine at {args.address}, then `labkit join <folder>` there.")
    print("labkit: it holds the Flink cluster's internal key: hand it over as a secret.")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``join``, ``leave`` and ``flink-bundle`` among ``labkit``'s subcommands (``sub``: its
    `add_subparsers`)."""
    p = sub.add_parser(
        "join",
        help="add this machine's Kafka broker to a secured cluster, or its Flink TaskManager to another "
        "machine's Flink (from a join bundle)",
    )
    p.add_argument("bundle", type=Path, help="the join bundle folder the cluster's machine wrote")
    p.set_defaults(fn=cmd_join)
    p = sub.add_parser(
        "leave",
        help="move this machine's Kafka replicas away, then stop and unregister it (`leave flink`: stop the "
        "joined TaskManager)",
    )
    p.add_argument("cluster", nargs="?", help="the cluster to leave (default: the one this machine joined)")
    p.set_defaults(fn=cmd_leave)
    p = sub.add_parser(
        "flink-bundle",
        help="write the join bundle a TaskManager on another machine needs (the lab runs `up --flink-host`)",
    )
    p.add_argument("address", help="the joining machine's IP address")
    p.set_defaults(fn=cmd_flink_bundle)
