"""Fixtures of the runtime tests: one private lab for the tests that start, break, repair
and stop one (`shared_priv`); for the compose and image tests, docker-compose.yml as Compose
reads it, the Flink Dockerfile and its ARGs, and docker/flink/configure.py as a module."""

from __future__ import annotations

import importlib.util
import random
import re
from collections.abc import Iterator
from types import ModuleType

import pytest
from compose_files import CONFIGURE, DOCKERFILE, compose_spec
from privatelab import PrivateLab
from shared import Shared

from labkit.runtime.net import port_free


def _private_lab(tmp_path_factory) -> Iterator[PrivateLab]:
    """A private lab with a registry of labs of its own (LABKIT_REGISTRY, private like the
    user's): `labkit down --all` run there sees it and no other lab on this machine. At the
    end `labkit down`, which must leave none of its processes behind."""
    folder = tmp_path_factory.mktemp("runtime-lab")
    (folder / "registry").mkdir()
    port = _quiet_port()
    lab = PrivateLab(folder / "home", LABKIT_REGISTRY=str(folder / "registry"), LABKIT_KAFKA_PORT=str(port))
    try:
        yield lab
    finally:
        lab.stop()


def _quiet_port() -> int:
    """A free port for the lab's broker away from 9092 and the ports after it, where the
    other worker's labs look first: a broker these tests kill must find its port still free
    when `labkit up` repairs it (another lab starting meanwhile took it once, in CI), and
    below the range the system hands out for outgoing connections."""
    for port in random.sample(range(20000, 30000), 200):
        if port_free(port):
            return port
    raise RuntimeError("no free port between 20000 and 30000")


#: Started (not yet `up`) by the first test that asks, stopped after the last (shared.py).
SHARED_LAB = Shared("shared_priv", _private_lab)


@pytest.fixture
def shared_priv(tmp_path_factory) -> PrivateLab:
    """One private lab for test_lifecycle, test_security, test_streams_proc and test_trio:
    a `labkit up` (~12 s) and `labkit down` each instead of one per module. Each test takes
    it as the one before left it - running, stopped or with a process killed - and starts
    with ``priv.up()`` (which starts or repairs it), as the tests of one module always did;
    a test that must see it stop calls ``priv.down()``, which checks that nothing is left."""
    return SHARED_LAB.get(tmp_path_factory)


@pytest.fixture(scope="module")
def spec() -> dict:
    return compose_spec(1)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def dockerfile_args(dockerfile) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, flags=re.M))


@pytest.fixture(scope="module")
def configure() -> ModuleType:
    """docker/flink/configure.py, the script the image build runs, as a module."""
    found = importlib.util.spec_from_file_location("lab_image_configure", CONFIGURE)
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module
