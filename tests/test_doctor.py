"""`labkit doctor` (labkit/doctor.py) says what is broken and how to fix it."""

from __future__ import annotations

from privatelab import PrivateLab


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
    assert "[warn] flink round trip: skipped" in text
    assert "0 failed" in text
