"""A learner's lab on the classroom's Kafka (a connection profile, `labkit.runtime.classroom`)
and the lessons' failure drills: a drill that would break the lab's Kafka - the class's,
shared - is skipped with one line; one on the learner's own Flink still runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from privatelab import secured_home

from labkit import Lab
from labkit.runtime import classroom, profile
from labkit.runtime.state import Endpoints

ROOT = Path(__file__).resolve().parents[2]


def test_a_drill_on_a_shared_kafka_is_skipped_in_one_line_and_one_on_flink_runs(capsys):
    """`Lab.drill_here` on a learner's lab (local backend, a connection profile): lesson 04's
    broker restart would stop the whole class's Kafka, so it is skipped with one line; lesson
    08's TaskManager kill is the learner's own Flink, so it runs. A lab's own Kafka runs both."""
    learner = Lab(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9", kafka_profile="/nowhere/learner-01.json"))
    assert learner.drill_here("the broker restart") is False
    assert learner.drill_here("the TaskManager kill") is True
    said = capsys.readouterr().out
    assert said.count("\n") == 1
    assert said.startswith("Skipped: the broker restart needs a Kafka of the lab's own")
    own = Lab(Endpoints("local", "127.0.0.1:9", "127.0.0.1:9"))
    assert own.drill_here("the broker restart") is True and capsys.readouterr().out == ""


#: The lessons that run unchanged as learners (04 and 04b break a Kafka on purpose).
ALL_LESSONS = (
    "00_welcome",
    "01_events",
    "02_topics_partitions_keys",
    "03_consumer_groups",
    "05_flink_first_job",
    "06_windows",
)
#: What the suite runs (2 minutes): the consumer-group lesson, where two learners' groups once
#: stalled (labkit/kafka_python_fix.py), and the first Flink lesson (each learner's own Flink,
#: PyFlink's Kafka builders renamed). `make test-classroom` (LABKIT_CLASSROOM_LESSONS=all) runs
#: all six: 5-6 minutes on two cores.
SUITE_LESSONS = ("03_consumer_groups", "05_flink_first_job")
LEARNERS = ("learner-01", "learner-02")


def lessons() -> tuple[str, ...]:
    chosen = os.environ.get("LABKIT_CLASSROOM_LESSONS", "")
    if chosen == "all":
        return ALL_LESSONS
    return tuple(n for n in ALL_LESSONS if n[:2] in chosen.split(",")) if chosen else SUITE_LESSONS


@pytest.fixture(scope="module")
def home():
    start = lambda: classroom.start(len(LEARNERS))  # noqa: E731
    with secured_home("labkit-classroom-lessons-", start, "the classroom") as found:
        yield found


def test_lessons_pass_unchanged_as_two_learners_at_once(home, tmp_path: Path, monkeypatch):
    """Lessons (00-03, 05 and 06 with LABKIT_CLASSROOM_LESSONS=all; 03 and 05 in the suite) under
    nbval, as learner-01 and learner-02 at the same time on one classroom: each learner's
    pytest has a lab of its own (its own Flink, the classroom's Kafka through the learner's
    profile, the lessons' topic and group names under the learner's prefix). Every cell of
    both runs passes; both learners' lesson topics are in the class's Kafka under their own
    prefixes, and none without one."""
    where, room = home
    monkeypatch.setenv("LABKIT_HOME", str(where))  # the classroom's (each learner's pytest makes its own)
    notebooks = [str(ROOT / "notebooks" / f"{name}.ipynb") for name in lessons()]
    runs = {}
    for learner in LEARNERS:
        env = {**os.environ, "LABKIT_KAFKA_PROFILE": str(room.profile_path(learner))}
        env.pop("PYTEST_XDIST_WORKER", None)
        log = (tmp_path / f"{learner}.log").open("w")
        command = [sys.executable, "-m", "pytest", "-n", "0", "-q", "--durations=0", *notebooks]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        runs[learner] = (proc, log)
    try:
        codes = {learner: proc.wait(timeout=1200) for learner, (proc, _) in runs.items()}
    finally:
        for proc, log in runs.values():
            if proc.poll() is None:
                proc.kill()
            log.close()
    said = {learner: (tmp_path / f"{learner}.log").read_text() for learner in LEARNERS}
    for learner, code in codes.items():
        print(f"{learner}: {said[learner].strip().splitlines()[-1]}")
        assert code == 0, f"{learner}'s lessons failed:\n{said[learner][-6000:]}"
        assert re.search(r"\b(\d+) passed\b", said[learner]) and " failed" not in said[learner]
    with closing(KafkaAdminClient(**profile.kafka_python_options(room.profile("admin")))) as admin:
        topics = set(admin.list_topics())
    for learner in LEARNERS:
        for lesson_topic in ("l01-stream", "l03-clicks", "l05-clicks"):
            if lesson_topic[1:3] not in {n[:2] for n in lessons()}:
                continue
            assert f"{classroom.prefix(learner)}{lesson_topic}" in topics, sorted(topics)
    assert not {t for t in topics if re.match(r"l\d\d", t)}, sorted(topics)  # no lesson's name unprefixed
