"""Fixtures of the compose and image tests: docker-compose.yml as Compose reads it, the Flink
Dockerfile and its ARGs, and docker/flink/configure.py loaded as a module."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest
from compose_files import CONFIGURE, DOCKERFILE, compose_spec


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
