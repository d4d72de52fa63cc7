"""Python workers' gRPC servers on loopback only: the jar that fixes where they listen.

A Python function that thread mode cannot run (a pandas UDF, a Python aggregate function)
runs in a Python worker process next to the TaskManager, and the TaskManager opens six
Beam gRPC servers for that worker: control, data, state, logging, artifacts, provisioning.
flink-python's copy of Beam's ``ServerFactory`` opens them on every interface (``::``),
and no setting changes that. The worker runs whatever pickled functions it is sent.

``labkit/beam_loopback/ServerFactory.java`` is the lab's own ``ServerFactory``: same
package, class and methods, servers on 127.0.0.1. It is compiled against flink-python's
jar (:mod:`labkit.runtime.javac`, once) and packed into ``beam-loopback-labkit.jar``, which
sorts before ``flink-python-*.jar`` in ``.labkit/flink/lib``: Flink's scripts put lib's jars
on the classpath in name order, so the JVM finds this class first.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from . import javac

SOURCE = Path(__file__).parent.parent / "beam_loopback" / "ServerFactory.java"
#: Flink's bin/config.sh sorts lib/ by name: this must come before flink-python-<version>.jar.
JAR_NAME = "beam-loopback-labkit.jar"


def jar(flink_python: Path) -> Path:
    """The loopback jar for this flink-python jar (compiled and packed once, then cached)."""
    classes = javac.compile_once("beam-loopback", [SOURCE], [flink_python])
    packed = classes / JAR_NAME
    if not packed.is_file():
        part = packed.with_suffix(".part")
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
            for cls in sorted(classes.rglob("*.class")):
                z.write(cls, cls.relative_to(classes).as_posix())
        part.replace(packed)
    return packed
