"""Kafka brokers as local processes (labkit/runtime/kafka_proc.py): what the state file keeps
of a broker, and the server.properties each broker gets."""

from __future__ import annotations

from labkit.runtime import kafka_proc


def test_a_broker_is_read_back_from_its_record():
    broker = kafka_proc.Broker(2, 29092, 29093)
    record = {"pid": 1, "create_time": 0.0, "log": "kafka-2.log", **broker.fields()}
    assert kafka_proc.Broker.of(record) == broker


def test_server_properties_name_the_broker_and_the_quorum(tmp_path):
    cluster = [kafka_proc.Broker(i, 29000 + i, 29100 + i) for i in (1, 2, 3)]
    text = kafka_proc.server_properties(cluster[1], cluster, tmp_path, controllers=[1])
    lines = text.splitlines()
    assert "node.id=2" in lines and f"log.dirs={tmp_path / 'broker-2'}" in lines
    assert "controller.quorum.voters=1@127.0.0.1:29101" in lines
    assert "min.insync.replicas=2" in lines  # three brokers
    assert lines[-2:] == ["process.roles=broker", "listeners=PLAINTEXT://127.0.0.1:29002"]  # not a controller


def test_the_first_format_leaves_a_class_archive_that_brokers_then_use(tmp_path, monkeypatch):
    """Class-data sharing: the format JVM writes the archive as it exits (renamed whole), the
    broker maps it; an archive others could have written is never used."""
    import psutil

    from labkit.runtime.jvm import find_java

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    archive = tmp_path / "cds" / "kafka-test.jsa"
    archive.parent.mkdir(mode=0o700)
    monkeypatch.setattr(kafka_proc, "class_archive", lambda java: archive)
    cluster = kafka_proc.plan(1, first=None)
    [proc] = kafka_proc.start(find_java().executable, cluster, cluster, tmp_path / "kafka", "cds-test")
    try:
        assert kafka_proc.usable_archive(archive)
        assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # no half-written leftovers
        assert f"-XX:SharedArchiveFile={archive}" in psutil.Process(proc.pid).cmdline()
        kafka_proc.wait_ready(cluster, {1: proc}, log_prefix="cds-test")
    finally:
        proc.terminate()
        proc.wait(60)
    archive.chmod(0o666)
    assert not kafka_proc.usable_archive(archive)
    archive.chmod(0o444)
    archive.parent.chmod(0o777)
    assert not kafka_proc.usable_archive(archive)
    assert not kafka_proc.usable_archive(tmp_path / "none.jsa")


def test_a_class_archive_is_kept_per_java_and_classpath_in_the_cache():
    from labkit import paths
    from labkit.runtime.jvm import find_java

    archive = kafka_proc.class_archive(find_java().executable)
    assert archive.parent == paths.cache() / "cds" and archive.suffix == ".jsa"
    assert kafka_proc.class_archive(find_java().executable) == archive
