# The two commands the README promises, plus a few conveniences.
# Everything runs from the project's own .venv, created by scripts/setup.sh.
.PHONY: setup lab test test-classroom bench doctor down lint lint-only clean-notebooks

setup:
	@scripts/setup.sh

## Start Kafka + Flink (local processes) and open JupyterLab on notebooks/ (lesson 00 first).
lab: setup
	@.venv/bin/labkit lab

## The whole test suite: lint first (ruff + mypy), then unit + integration tests and every
## lesson notebook (nbval), on TEST_WORKERS processes, each with a lab of its own (the
## suite mostly waits on Kafka and Flink: two workers keep two cores busy). A notebook's
## cells, a module's tests and the users of one shared lab stay on one worker (conftest.py).
## TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: setup lint-only
	@.venv/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

## Lessons 00-03, 05 and 06 as two learners at once on one classroom (5-6 minutes; the suite
## runs 03 and 05 of them).
test-classroom: setup
	@LABKIT_CLASSROOM_LESSONS=all .venv/bin/python -m pytest -n 0 -k two_learners tests/runtime/test_classroom_lessons.py

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
