"""``labkit join BUNDLE`` and ``labkit leave [CLUSTER]`` (:mod:`labkit.runtime.join`): this
machine's Kafka broker joins a secured cluster on another machine, or leaves it without
losing a replica. `add_parsers` adds both to ``labkit``'s subcommands; the runtime is
imported when one runs (``labkit``'s other commands start without it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import paths
from .errors import LabError


def cmd_join(args: argparse.Namespace) -> int:
    """Start this machine's broker from the join bundle the cluster's machine wrote, next to
    this machine's own lab (started first if it is not running: the broker is recorded with
    it, so `labkit down` stops it)."""
    from .runtime import join, lifecycle
    from .runtime.state import State

    if State.load() is None:
        lifecycle.up()
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
    """Move this machine's replicas to the brokers that stay, then stop and unregister it."""
    from .runtime import join

    cluster = args.cluster
    if cluster is None:
        found = joined_clusters()
        if len(found) != 1:
            named = ", ".join(found) or "none"
            raise LabError(
                f"Name the cluster to leave (`labkit leave CLUSTER`); this machine joined: {named}."
            )
        cluster = found[0]
    moved = join.leave(cluster, quiet=False)
    print(f"labkit: left {cluster}; {len(moved)} partition replicas moved to the brokers that stay.")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``join`` and ``leave`` among ``labkit``'s subcommands (``sub``: its `add_subparsers`)."""
    p = sub.add_parser(
        "join", help="add this machine's Kafka broker to a secured cluster (from a join bundle)"
    )
    p.add_argument("bundle", type=Path, help="the join bundle folder the cluster's machine wrote")
    p.set_defaults(fn=cmd_join)
    p = sub.add_parser("leave", help="move this machine's Kafka replicas away, then stop and unregister it")
    p.add_argument("cluster", nargs="?", help="the cluster to leave (default: the one this machine joined)")
    p.set_defaults(fn=cmd_leave)
