"""The jars the lab runs are exactly the locked ones (labkit/runtime/artifacts.py): a damaged
jar is named, refused and replaced, never loaded; `labkit doctor` names it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from privatelab import PrivateLab

from labkit import paths
from labkit.runtime import artifacts


def test_the_lock_lists_every_bundle_with_sha256s():
    lines = [
        line.split("#", 1)[0].split()
        for line in artifacts.LOCK_FILE.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert lines and all(len(fields) == 3 for fields in lines), "each line: bundle, coordinate, SHA-256"
    assert {bundle for bundle, _, _ in lines} == set(artifacts.ROOTS)
    for _, coordinate, digest in lines:
        assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{coordinate}: {digest!r} is not a SHA-256"
        assert re.fullmatch(r"[\w.-]+:[\w.-]+:[\w.-]+", coordinate), coordinate
    coordinates = {(bundle, coordinate) for bundle, coordinate, _ in lines}
    assert len(coordinates) == len(lines), "a jar is listed twice in one bundle"
    listed = {coordinate for _, coordinate, _ in lines}
    assert f"org.apache.kafka:kafka_2.13:{artifacts.KAFKA_VERSION}" in listed
    assert f"org.apache.kafka:kafka-streams:{artifacts.KAFKA_VERSION}" in listed
    assert f"org.apache.flink:flink-sql-connector-kafka:{artifacts.FLINK_CONNECTOR_VERSION}" in listed


def test_the_real_cache_matches_the_lock():
    assert artifacts.verify() == []
    for bundle in artifacts.ROOTS:
        jars = artifacts.classpath(bundle)
        assert jars and all(path.is_file() for path in jars)


@pytest.fixture
def tampered(tmp_path, monkeypatch):
    """A copy of the verified cache with one byte flipped in its smallest jar; this
    process's LABKIT_CACHE points at it. Yields the damaged jar."""
    cache = tmp_path / "cache"
    shutil.copytree(paths.cache() / "jars", cache / "jars")
    monkeypatch.setenv("LABKIT_CACHE", str(cache))
    jar = min(artifacts.locked(), key=lambda j: j.path.stat().st_size)
    data = bytearray(jar.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    jar.path.write_bytes(bytes(data))
    return jar


def test_a_tampered_jar_is_named_by_verify_and_by_doctor(tampered, tmp_path):
    assert artifacts.verify() == [f"{tampered.coordinate} has the wrong SHA-256 (corrupt or tampered)"]

    lab = PrivateLab(tmp_path / "home")  # its LABKIT_CACHE: the tampered copy
    out = lab.run("doctor", "--quick", timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"[FAIL] jars: {tampered.coordinate} has the wrong SHA-256" in out.stdout
    assert "fix: run `labkit setup`" in out.stdout


def test_labkit_setup_replaces_a_tampered_jar_from_maven_central(tampered, tmp_path):
    lab = PrivateLab(tmp_path / "home")  # its LABKIT_CACHE: the tampered copy
    out = lab.run("setup", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"[1/1] {tampered.coordinate}" in out.stdout  # only the damaged jar is fetched again
    assert "set-up complete" in out.stdout
    assert artifacts.verify() == []
    assert artifacts.sha256(tampered.path) == tampered.sha256


def test_a_download_with_the_wrong_hash_is_refused_and_nothing_bad_stays(tampered, tmp_path, monkeypatch):
    # the "repository" hands out the tampered bytes (a compromised mirror, a broken proxy)
    served, served_copy = tmp_path / "served.jar", tmp_path / "served-copy.jar"
    shutil.copy(tampered.path, served)
    shutil.copy(tampered.path, served_copy)

    def fake_maven(repo: Path):
        artifact = SimpleNamespace(resolve=lambda: str(served))
        return SimpleNamespace(create_dependency=lambda coordinate: SimpleNamespace(artifact=artifact))

    monkeypatch.setattr(artifacts, "maven", fake_maven)
    with pytest.raises(artifacts.ArtifactsMissing) as err:
        artifacts.ensure(quiet=True)
    assert tampered.coordinate in str(err.value) and "Refusing to use it" in str(err.value)
    assert not tampered.path.exists(), "the damaged jar was left where the lab would load it"
    assert not served.exists(), "the refused download was kept"
    assert not list(tampered.path.parent.glob("*.part"))
    # and nothing can load it: every bundle's classpath asks for a verified set first
    shutil.copy(served_copy, served)
    with pytest.raises(artifacts.ArtifactsMissing):
        artifacts.classpath(tampered.bundle)
