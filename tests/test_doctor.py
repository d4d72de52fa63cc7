"""`labkit doctor` (labkit/doctor.py) says what is broken and how to fix it."""

from __future__ import annotations

from privatelab import PrivateLab

import labkit
from labkit import doctor
from labkit.runtime.net import free_port
from labkit.runtime.status import gateway_status, status


def test_doctor_names_a_missing_java_and_its_fix(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    out = lab.run("doctor", "--quick", timeout=120, JAVA_HOME="/nonexistent/jdk")
    assert out.returncode == 1
    assert "[FAIL] java: no usable Java" in out.stdout
    assert "JAVA_HOME is set to '/nonexistent/jdk'" in out.stdout and "openjdk-17" in out.stdout
    assert "1 failed" in out.stdout


def test_doctor_with_nothing_running_warns_and_says_how_to_start(tmp_path):
    lab = PrivateLab(tmp_path / "home")
    out = lab.run("doctor", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr  # nothing is broken, nothing runs
    text = out.stdout
    assert "[ok  ] java:" in text and "[ok  ] jars:" in text
    assert "[warn] kafka: not running\n       fix: start it: `labkit up`" in text
    assert "[warn] flink: not running" in text
    assert "[warn] sql gateway: not running\n       fix: start it: `labkit up`" in text
    assert "[warn] flink round trip: skipped" in text
    assert "0 failed" in text


def test_doctor_checks_that_the_sql_gateway_answers(lab: labkit.Lab):
    printed: list[str] = []
    findings = doctor.run(quick=True, out=printed.append)
    checks = [f.check for f in findings]
    assert checks.index("flink") + 1 == checks.index("sql gateway")  # after the JobManager it needs
    assert f"[ok  ] sql gateway: Flink SQL Gateway 2.3.0 at {lab.endpoints.sql_gateway}" in printed


def test_doctor_fails_a_gateway_that_does_not_answer_and_names_the_fix(lab: labkit.Lab):
    down = f"https://127.0.0.1:{free_port()}"
    st = {**status(), "sql_gateway": gateway_status(down)}  # the real lab, its gateway elsewhere
    finding = doctor.check_sql_gateway(st)
    assert finding.ok is False
    assert finding.line() == (
        f"[FAIL] sql gateway: {down} does not answer\n"
        "       fix: `labkit up` restarts it (log: .labkit/logs/flink-sqlgateway.log)"
    )


def test_doctor_warns_when_the_backend_has_no_gateway(lab: labkit.Lab):
    finding = doctor.check_sql_gateway({**status(), "backend": "remote", "sql_gateway": None})
    assert finding.ok is None
    assert finding.detail == "none on the remote backend: %%flink_sql cells cannot run"
    assert "LABKIT_SQL_GATEWAY=host:port" in finding.fix
