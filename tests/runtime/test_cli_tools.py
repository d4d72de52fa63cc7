"""Kafka's and Flink's own command-line tools on the suite's lab (labkit/runtime/cli_tools.py):
the console producer -> console consumer round trip, a group's lag as kafka-consumer-groups.sh
and labkit see it, `flink list` / `flink stop --savepointPath` through the lab's mutual TLS,
the tools on a notebook kernel's PATH after connect(), and `labkit path`."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

from kernels import kernel

import labkit
from labkit import cli
from labkit.explorer.cluster import snapshot
from labkit.kafka import closing
from labkit.runtime import cli_tools, tls
from labkit.waiting import wait_for


def tool(command: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``command`` (one of the lab's tools, by its name) as a terminal does after
    ``eval "$(labkit path)"``; it must succeed."""
    env = dict(os.environ, PATH=cli_tools.path_with_tools(os.environ.get("PATH")))
    args = shlex.split(command)
    done = subprocess.run(args, input=stdin, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_console_producer_to_console_consumer_and_the_group_s_lag(lab: labkit.Lab, topic):
    """Kafka's own console tools on the lab's broker: lines in, the same lines out; the lag
    kafka-consumer-groups.sh shows for the consumer's group is the one labkit computes."""
    name, kafka = topic("cli"), f"--bootstrap-server {lab.bootstrap_servers}"
    lines = [f"line {i}" for i in range(5)]
    tool(f"kafka-console-producer.sh {kafka} --topic {name}", stdin="\n".join(lines) + "\n")
    group = f"test-cli-{uuid.uuid4().hex[:8]}"
    try:
        read = tool(
            f"kafka-console-consumer.sh {kafka} --topic {name} --group {group} --from-beginning "
            "--max-messages 3 --timeout-ms 30000"
        )
        assert read.stdout.splitlines() == lines[:3]  # exactly the first three lines, in order
        described = tool(f"kafka-consumer-groups.sh {kafka} --describe --group {group}").stdout
        header, *rows = [r.split() for r in described.splitlines() if r.split()[:1] in (["GROUP"], [group])]
        column = {c: header.index(c) for c in ("TOPIC", "PARTITION", "LAG")}
        shown = {(r[column["TOPIC"]], int(r[column["PARTITION"]])): int(r[column["LAG"]]) for r in rows}
        with closing(lab.admin()) as admin:
            computed = snapshot(admin).group_lag(group)
        assert shown == computed == {(name, 0): 2}  # 5 written, 3 read and committed
    finally:
        lab.delete_groups(group)


def test_flink_cli_lists_the_lab_s_job_and_stops_it_with_a_savepoint(lab: labkit.Lab, tmp_path: Path):
    """Flink's own `flink` client reaches the lab's JobManager through its mutual TLS: it lists
    a job the notebook started, and stops it with a savepoint written where it was told."""
    t_env = lab.table_env()
    t_env.execute_sql("CREATE TABLE src (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '5')")
    t_env.execute_sql("CREATE TABLE snk (n BIGINT) WITH ('connector' = 'blackhole')")
    job = lab.start(t_env.execute_sql("INSERT INTO snk SELECT n FROM src"), "cli")
    try:
        wait_for(lambda: job.status == "RUNNING", "the job to run", timeout=60)
        listed = tool("flink list").stdout
        assert any(job.job_id in line and "(RUNNING)" in line for line in listed.splitlines()), listed
        stopped = tool(f"flink stop --savepointPath {tmp_path / 'savepoints'} {job.job_id}").stdout
        found = re.search(r"Savepoint completed\. Path: file:(\S+)", stopped)
        assert found, stopped
        savepoint = Path(found.group(1))
        assert savepoint.parent == tmp_path / "savepoints" and (savepoint / "_metadata").is_file()
        wait_for(lambda: job.status == "FINISHED", "the stopped job to finish", timeout=30)
    finally:
        job.stop()


def test_connect_in_a_kernel_puts_the_tools_on_path(lab: labkit.Lab, topic):
    """In a notebook, `!kafka-topics.sh ...` works after `labkit.connect()`; in this process
    (not a kernel) connect() leaves PATH alone (the suite's guard checks that too)."""
    name = topic("cli-list")
    with kernel() as k:
        assert k.run("import shutil, labkit\nlab = labkit.connect(quiet=True)")["status"] == "ok"
        found = k.run("print(shutil.which('kafka-topics.sh'))")["text"].strip()
        assert found == str(cli_tools.folder() / "kafka-topics.sh")
        listed = k.run(f"!kafka-topics.sh --bootstrap-server {lab.bootstrap_servers} --list")["text"]
        assert name in listed.split()
    assert not cli_tools.add_to_path()


def test_labkit_path_prints_the_export_line_and_the_flink_conf_is_private(lab: labkit.Lab, capsys):
    """`labkit path` prints what `eval` needs; the client's config (the keystore's password)
    is this user's only, and no script holds the password."""
    assert cli.main(["path"]) == 0
    assert capsys.readouterr().out.strip() == f'export PATH={cli_tools.folder()}:"$PATH"'
    conf = cli_tools.flink_conf_dir()
    assert conf.stat().st_mode & 0o777 == 0o700 and (conf / "config.yaml").stat().st_mode & 0o777 == 0o600
    password = (tls.folder() / "rest.password").read_text().strip()
    assert all(password not in p.read_text() for p in cli_tools.folder().iterdir())
    assert {"kafka-topics.sh", "kafka-console-consumer.sh", "kafka-consumer-groups.sh", "flink"} <= {
        p.name for p in cli_tools.folder().iterdir() if os.access(p, os.X_OK)
    }


def test_labkit_path_without_a_lab_says_to_start_one(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    assert cli.main(["path"]) == 1
    assert "labkit up" in capsys.readouterr().err
