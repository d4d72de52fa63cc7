"""The `labkit` command: set up, start, inspect and stop the lab."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from . import doctor, join_cli, paths
from .errors import LabError
from .runtime import artifacts, lifecycle
from .runtime.jvm import JavaNotFound, find_java
from .runtime.processes import track
from .runtime.state import State
from .runtime.status import describe, status


def cmd_setup(args: argparse.Namespace) -> int:
    artifacts.ensure()
    try:
        java = find_java()
    except JavaNotFound as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 1
    print(f"labkit: {java.describe()}")
    print("labkit: set-up complete.")
    return 0


def _backend_options(args: argparse.Namespace) -> str | None:
    """The --backend choice, with the compose options passed on as environment variables."""
    # --brokers 3 means the same on compose as locally (--replication is its older name)
    if getattr(args, "replication", False) or getattr(args, "brokers", None) == 3:
        os.environ["LABKIT_COMPOSE_REPLICATION"] = "1"
    if getattr(args, "taskmanagers", None):
        os.environ["LABKIT_TASKMANAGERS"] = str(args.taskmanagers)
    return getattr(args, "backend", None)


def cmd_up(args: argparse.Namespace) -> int:
    lifecycle.up(
        backend=_backend_options(args),
        brokers=getattr(args, "brokers", None),
        flink_host=getattr(args, "flink_host", None),
    )
    return cmd_status(args)


def cmd_down(args: argparse.Namespace) -> int:
    lifecycle.down(all_labs=args.all)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    if not args.yes:
        answer = input("Delete every topic, event and checkpoint of this lab? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("labkit: nothing deleted.")
            return 1
    lifecycle.reset()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """What runs (`labkit up` ends with it too); first, the jobs of kernels that died
    without cancelling them are cancelled, so their slots show free (flink.owners)."""
    from .flink.owners import cancel_orphans, orphans_line  # here: it loads pandas, `down` needs none

    state = State.load()
    local = state is not None and state.endpoints.backend == "local"
    cancelled = cancel_orphans(state.endpoints.flink_rest) if state and local else []
    st = status()
    if getattr(args, "json", False):
        if cancelled:
            st["cancelled_jobs"] = cancelled
        print(json.dumps(st, indent=2, default=str))
        return 0
    if st["backend"] is None:
        print("labkit: not running. Start it with `labkit up` (or `make lab`).")
        return 0
    for line in describe(st):
        print(line)
    if cancelled:
        print(f"flink:     {orphans_line(cancelled)}")
    print(f"state:     {paths.state_file()}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    findings = doctor.run(quick=args.quick)
    failed = [f for f in findings if f.ok is False]
    print(f"\n{len(findings) - len(failed)} checks fine, {len(failed)} failed.")
    return 1 if failed else 0


def cmd_lab(args: argparse.Namespace) -> int:
    """Start the cluster, then JupyterLab on notebooks/ in the foreground."""
    artifacts.ensure()
    lifecycle.up(backend=_backend_options(args), brokers=getattr(args, "brokers", None))
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
    # Ctrl-C stops JupyterLab (below), also when this was started from something that
    # ignores SIGINT (a shell's background job, a CI runner): JupyterLab, started after a
    # handler is set, gets the default action back, where an ignored signal stays ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    proc = subprocess.Popen(cmd)
    track("jupyter", proc, port=args.port)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached JupyterLab too (same terminal); make sure it ends, without a traceback
        proc.terminate()
        try:
            proc.wait(20)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        return 0
    finally:
        if State.load() is None:  # `labkit down` (from JupyterLab's terminal, say) stopped it all
            print("labkit: JupyterLab stopped, with Kafka and Flink (`labkit down`).")
        else:
            print("labkit: JupyterLab stopped. Kafka and Flink keep running; `labkit down` stops them.")


def cmd_classroom(args: argparse.Namespace) -> int:
    """The instructor's side of a workshop (labkit.runtime.classroom): a secured Kafka with a
    login per learner, started next to the instructor's own lab."""
    from .runtime import classroom

    if args.action == "down":
        print("labkit: classroom stopped." if classroom.stop() else "labkit: no classroom was running.")
        return 0
    if args.action == "reset":
        if not args.yes and input(
            "Delete the classroom: every learner's login, topic and ACL? [y/N] "
        ).strip().lower() not in ("y", "yes"):
            print("labkit: nothing deleted.")
            return 1
        classroom.reset()
        print("labkit: classroom deleted (users, profiles, topics, ACLs).")
        return 0
    if args.action == "join-bundle":
        if not args.address:
            raise LabError("`labkit classroom join-bundle ADDRESS`: the joining machine's IP address.")
        print(
            f"labkit: copy {classroom.join_bundle(args.address)} to that machine, then `labkit join <folder>`"
        )
        print("labkit: it holds the brokers' own login: hand it over as a secret.")
        return 0
    if args.action == "up":
        if State.load() is None:
            lifecycle.up()  # the classroom's brokers are recorded (and stopped) with the lab
        room = classroom.start(args.learners, quiet=False, host=args.host)
    else:
        found = classroom.current()
        if found is None:
            print("labkit: no classroom is running: `labkit classroom up --learners N`.", file=sys.stderr)
            return 1
        room = found
    if args.action == "lag":
        table = classroom.lag(room)
        print(table.to_string(index=False) if len(table) else "labkit: no consumer group has committed yet.")
        return 0
    print(f"labkit: classroom Kafka (SASL_SSL, SCRAM-SHA-512) at {room.bootstrap}")
    print(
        f"labkit: {len(room.learners)} learners ({room.learners[0]} .. {room.learners[-1]}), "
        f"each owning the topics and groups that start with '<learner>.'; shared, read-only: "
        f"{', '.join(room.shared)}"
    )
    print(f"labkit: hand each learner their profile and the CA from {room.handout}")
    print("labkit: a learner: LABKIT_KAFKA_PROFILE=learner-NN.json (see README, 'Teaching a class')")
    return 0


def cmd_progress(args: argparse.Namespace) -> int:
    """The course map: each lesson, its exercises passed (remembered in LABKIT_HOME)."""
    from .progress import summary  # here: it loads pandas, `down` needs none

    print(summary())
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    """The line that puts Kafka's and Flink's own tools (kafka-topics.sh..., flink) of this lab
    first on a terminal's PATH: ``eval "$(labkit path)"`` (runtime/cli_tools.py)."""
    from .runtime import cli_tools

    print(cli_tools.export_line(cli_tools.ensure()))
    return 0


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["local", "compose", "remote"],
        help="local (default): Apache Kafka + a Flink cluster as processes on this machine; "
        "compose: the same in Docker; remote: LABKIT_BOOTSTRAP_SERVERS / LABKIT_FLINK_REST "
        "(default: LABKIT_BACKEND, else what is running)",
    )
    p.add_argument(
        "--brokers",
        type=int,
        choices=[1, 3],
        help="local: 1 Kafka broker (default) or 3 (replication lessons)",
    )
    p.add_argument("--replication", action="store_true", help="compose: three Kafka brokers (= --brokers 3)")
    p.add_argument("--taskmanagers", type=int, metavar="N", help="compose: N Flink TaskManagers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "setup", help="fetch and verify the Kafka and Flink connector jars (artifacts.lock); check Java"
    ).set_defaults(fn=cmd_setup)
    p = sub.add_parser("up", help="start Kafka and Flink (or repair what stopped), or check the remote ones")
    _add_backend_options(p)
    p.add_argument(
        "--flink-host",
        metavar="ADDR",
        help="local: Flink's JobManager and TaskManager on this address of the room's network (internal "
        "SSL), so other machines' TaskManagers can join (`labkit flink-bundle`); 127.0.0.1 takes it back",
    )
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("down", help="stop everything labkit started (topics stay on disk)")
    p.add_argument("--all", action="store_true", help="also stop labs left behind by a killed test run")
    p.set_defaults(fn=cmd_down)
    p = sub.add_parser("reset", help="stop the lab and delete every topic and checkpoint")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(fn=cmd_reset)
    p = sub.add_parser("status", help="what is running, where")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("doctor", help="check Java, the jar lock, ports, Kafka, Flink and a round trip")
    p.add_argument("--quick", action="store_true", help="skip the Flink round trip")
    p.set_defaults(fn=cmd_doctor)
    p = sub.add_parser(
        "classroom", help="a secured Kafka for a class: a login and a topic prefix per learner"
    )
    p.add_argument("action", choices=["up", "status", "lag", "down", "reset", "join-bundle"])
    p.add_argument("address", nargs="?", help="join-bundle: the joining machine's IP address")
    p.add_argument("--host", help="up: serve on this address of the room's network (default 127.0.0.1)")
    p.add_argument("--learners", type=int, default=10, metavar="N", help="up: learner-01 .. learner-NN")
    p.add_argument("--yes", action="store_true", help="reset: do not ask")
    p.set_defaults(fn=cmd_classroom)
    join_cli.add_parsers(sub)
    sub.add_parser("progress", help="the course map: the lessons whose exercises you passed").set_defaults(
        fn=cmd_progress
    )
    sub.add_parser(
        "path",
        help="put Kafka's and Flink's own tools (kafka-topics.sh, flink...) on PATH: eval \"$(labkit path)\"",
    ).set_defaults(fn=cmd_path)
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
