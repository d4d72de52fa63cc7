"""The `labkit` command: set up, start, inspect and stop the lab."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from . import cluster, jars, paths
from .errors import LabError


def cmd_setup(args: argparse.Namespace) -> int:
    from .java import JavaNotFound, find_java

    jars.ensure_jars()
    try:
        print(f"labkit: {find_java().describe()}")
    except JavaNotFound as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 1
    print("labkit: set-up complete.")
    return 0


def _backend_options(args: argparse.Namespace) -> str | None:
    """The --backend choice, with the compose options passed on as environment variables."""
    if getattr(args, "replication", False):
        os.environ["LABKIT_COMPOSE_REPLICATION"] = "1"
    if getattr(args, "taskmanagers", None):
        os.environ["LABKIT_TASKMANAGERS"] = str(args.taskmanagers)
    return getattr(args, "backend", None)


def cmd_up(args: argparse.Namespace) -> int:
    cluster.up(backend=_backend_options(args))
    return cmd_status(args)


def cmd_down(args: argparse.Namespace) -> int:
    cluster.down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = cluster.status()
    if getattr(args, "json", False):
        print(json.dumps(st, indent=2))
        return 0
    if st["backend"] is None:
        print("labkit: not running. Start it with `labkit up` (or `make lab`).")
        return 0
    print(f"backend:  {st['backend']}")
    print(f"kafka:    {st['bootstrap_servers']} ({'answering' if st['running'] else 'NOT answering'})")
    print(f"flink:    {st['flink_rest'] or 'local mini-cluster inside each notebook kernel'}")
    for svc in st.get("services", []):
        health = f", {svc['Health']}" if svc.get("Health") else ""
        print(f"service:  {svc.get('Service')} ({svc.get('State')}{health})")
    if st["running"]:
        from .lab import Lab

        try:
            caps = Lab(cluster.State.load().endpoints).capabilities
            print(f"shows:    {', '.join(sorted(caps)) or 'the basics (embedded broker limits apply)'}")
        except Exception as exc:  # noqa: BLE001 - status must never fail on this
            print(f"shows:    unknown ({type(exc).__name__})")
    for name, p in st["processes"].items():
        state = f"pid {p['pid']}, {p['rss_mb']} MB" if p["alive"] else "exited"
        print(f"process:  {name} ({state})")
    print(f"state:    {paths.state_file()}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    findings = doctor.run(quick=args.quick)
    failed = [f for f in findings if f.ok is False]
    print(f"\n{len(findings) - len(failed)} checks fine, {len(failed)} failed.")
    return 1 if failed else 0


def cmd_lab(args: argparse.Namespace) -> int:
    """Start the cluster, then JupyterLab on notebooks/ in the foreground."""
    jars.ensure_jars()
    cluster.up(backend=_backend_options(args))
    root = paths.project_root()
    notebooks = Path(args.notebooks) if args.notebooks else (root / "notebooks") if root else Path.cwd()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={notebooks}",
        "--LabApp.default_url=/lab/tree/00_welcome.ipynb",
        f"--ServerApp.port={args.port}",
        "--ServerApp.ip=127.0.0.1",
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    cmd += [a for a in args.extra if a != "--"]
    proc = subprocess.Popen(cmd)
    cluster.track("jupyter", proc, port=args.port)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0
    finally:
        print("labkit: JupyterLab stopped. The broker keeps running; `labkit down` stops it.")


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["embedded", "compose", "remote"],
        help="embedded (default): a local broker + Flink in each kernel; compose: Apache Kafka + "
        "a Flink cluster in Docker; remote: LABKIT_BOOTSTRAP_SERVERS / LABKIT_FLINK_REST "
        "(default: LABKIT_BACKEND, else what is running)",
    )
    p.add_argument("--replication", action="store_true", help="compose: three Kafka brokers")
    p.add_argument("--taskmanagers", type=int, metavar="N", help="compose: N Flink TaskManagers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="download and verify the Kafka connector jars; check Java").set_defaults(
        fn=cmd_setup
    )
    p = sub.add_parser("up", help="start the cluster (embedded by default), or check the remote one")
    _add_backend_options(p)
    p.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop everything labkit started").set_defaults(fn=cmd_down)
    p = sub.add_parser("status", help="what is running, where")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("doctor", help="check Java, jars, broker and a Flink round trip")
    p.add_argument("--quick", action="store_true", help="skip the Flink round trip")
    p.set_defaults(fn=cmd_doctor)
    p = sub.add_parser("lab", help="up + JupyterLab on notebooks/")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--notebooks", help="folder to open (default: the project's notebooks/)")
    p.add_argument("--no-browser", action="store_true")
    _add_backend_options(p)
    p.add_argument("extra", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    p.set_defaults(fn=cmd_lab)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except LabError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
