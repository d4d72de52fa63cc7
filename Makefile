# The two commands the README promises, plus a few conveniences.
# Everything runs from the project's own .venv, created by scripts/setup.sh.
.PHONY: setup lab test bench doctor down lint lint-only clean-notebooks

setup:
	@scripts/setup.sh

## Start Kafka + Flink (local processes) and open JupyterLab on notebooks/ (lesson 00 first).
lab: setup
	@.venv/bin/labkit lab

## The whole test suite: lint first (ruff + mypy), then unit + integration tests and every
## lesson notebook (nbval).
test: setup lint-only
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

## Figures of the real stack on a private lab (a few minutes); BENCH_ARGS=--json adds raw data.
bench: setup
	@.venv/bin/python -m labkit.bench $(BENCH_ARGS)

doctor: setup
	@.venv/bin/labkit doctor

down:
	@.venv/bin/labkit down

lint: setup lint-only

lint-only:
	@.venv/bin/ruff check labkit tests scripts
	@.venv/bin/mypy

clean-notebooks:
	@.venv/bin/python scripts/clean_notebooks.py
