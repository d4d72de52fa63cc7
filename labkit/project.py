"""Lesson 12's project folder: the learner's own ``produce.py`` and ``job.py``, no labkit inside.

The capstone (notebooks/12_on_your_own.ipynb) has the learner rebuild lesson 05's pipeline
with plain kafka-python and plain PyFlink, run by Kafka's and Flink's own command-line
tools - what they will do at work, where there is no labkit. Its first cell calls `start`,
which lays out ``my_project/`` beside the notebook:

* the input files, ``clicks.jsonl`` and ``clicks2.jsonl`` (one JSON click a line), written
  afresh each time: they are the lesson's data, not the learner's work;
* the two files to write, ``produce.py`` and ``job.py``: a *skeleton* each (`SKELETONS`: the
  contract in a docstring, then a ``raise SystemExit`` saying which step of the lesson
  writes it), copied **only if the file is missing** - a learner's work is never overwritten.

When the environment variable ``LABKIT_PROJECT_SOLUTION`` names a folder, the two files come
from there instead, and replace what ``my_project/`` holds: CI runs the lesson with the
reference solution (tests/lessons/lesson_12/solution/), and an instructor demos the finished
project the same way. That variable is the only way anything is overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

#: Names the folder a demo or CI copies the finished project from.
SOLUTION_ENV = "LABKIT_PROJECT_SOLUTION"
#: The files the learner writes.
FILES = ("produce.py", "job.py")

PRODUCE = '''\
"""Send every click of a JSON-lines file to a Kafka topic.

    python my_project/produce.py --bootstrap HOST:PORT --topic T --file clicks.jsonl

What it must do (step 1 of notebooks/12_on_your_own.ipynb) - with kafka-python, no labkit:
* read its arguments (argparse): --bootstrap, --topic, --file;
* a KafkaProducer with acks="all";
* each line of the file is one click (a JSON object): send it to the topic, its value the
  JSON text as bytes, its key the click's user_id as bytes;
* flush and close the producer, then print how many clicks it sent.
"""

raise SystemExit("produce.py is not written yet: see step 1 of notebooks/12_on_your_own.ipynb")
'''

JOB = '''\
"""Keep the cart and checkout clicks: Kafka -> Flink -> Kafka, exactly once.

    flink run -d -py my_project/job.py --bootstrap HOST:PORT --input T --output O --group G [--jar PATH]

What it must do (step 2 of notebooks/12_on_your_own.ipynb) - plain PyFlink, no labkit:
* read its arguments (argparse): --bootstrap, --input, --output, --group, and --jar (optional:
  the Kafka SQL connector's jar, for a Flink whose lib/ does not have it - env.add_jars);
* a StreamExecutionEnvironment with checkpointing every few seconds, EXACTLY_ONCE, and a
  StreamTableEnvironment on it;
* CREATE TABLE for the input topic (event_id, user_id, page, device STRING, ts BIGINT; JSON):
  its consumer group ('properties.group.id'), 'scan.startup.mode' = 'group-offsets' and
  'properties.auto.offset.reset' = 'earliest';
* CREATE TABLE for the output topic (event_id, user_id, page; JSON): an exactly-once sink
  ('sink.delivery-guarantee'; 'sink.transactional-id-prefix': the group's name + "-cart")
  whose transactions a stock broker accepts ('properties.transaction.timeout.ms');
* INSERT INTO the output the clicks whose page is '/cart' or '/checkout'.
"""

raise SystemExit("job.py is not written yet: see step 2 of notebooks/12_on_your_own.ipynb")
'''

#: What `start` puts in a missing file.
SKELETONS = {"produce.py": PRODUCE, "job.py": JOB}


def write_lines(path: Path, events: Iterable[dict]) -> int:
    """``events`` as a JSON-lines file (one object a line); returns how many."""
    n = 0
    with path.open("w") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")
            n += 1
    return n


def start(folder: str | Path, inputs: dict[str, Iterable[dict]]) -> list[str]:
    """Lay out the project in ``folder`` (made if missing): each ``inputs`` file written
    afresh, then ``produce.py`` and ``job.py`` - from ``$LABKIT_PROJECT_SOLUTION`` when it is
    set (replacing them), else a skeleton where a file is missing. Returns one line per
    file saying what happened to it."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    said = [f"{name}: {write_lines(root / name, events)} clicks" for name, events in inputs.items()]
    solution = os.environ.get(SOLUTION_ENV)
    for name in FILES:
        target = root / name
        if solution:
            shutil.copyfile(Path(solution) / name, target)
            said.append(f"{name}: copied from {SOLUTION_ENV} (the finished project)")
        elif target.exists():
            said.append(f"{name}: yours, kept as it is")
        else:
            target.write_text(SKELETONS[name])
            said.append(f"{name}: a skeleton to fill in")
    return said
