"""Reading the compose cluster's files the way Docker Compose, Kafka and Java read them:
shared by the compose and image tests in this folder (tests/runtime/conftest.py has their
fixtures)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "flink" / "Dockerfile"
CONFIGURE = ROOT / "docker" / "flink" / "configure.py"
DOCS = ROOT / "docs" / "compose.md"
LABKIT = [sys.executable, "-m", "labkit.cli"]


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` interpolation (the only form the file uses)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1]) or m[2], text)


def compose_spec(brokers: int = 1) -> dict:
    """docker-compose.yml as Compose reads it with LABKIT_BROKERS=brokers, other variables unset."""
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), {"LABKIT_BROKERS": str(brokers)}))


def properties(text: str) -> dict[str, str]:
    """A .properties (or env) file: ``key=value`` lines, the last one winning, like Java's."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!":
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def size_bytes(limit: str) -> int:
    """A memory size as Compose and Flink write it ("640m", "1g", "512") in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(limit).lower()).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


def kafka_env(spec: dict, service: str) -> dict[str, str]:
    """A broker container's environment: its env_file(s), then `environment` (which wins)."""
    svc = spec["services"][service]
    env: dict[str, str] = {}
    for name in svc["env_file"]:
        env.update(properties((ROOT / name).read_text()))
    env.update({k: str(v) for k, v in svc["environment"].items()})
    return env
