"""A learner's lab on the classroom's Kafka (a connection profile, `labkit.runtime.classroom`)
and the lessons' failure drills: a drill that would break the lab's Kafka - the class's,
shared - is skipped with one line; one on the learner's own Flink still runs."""

from __future__ import annotations

from labkit import Lab
from labkit.runtime.state import Endpoints


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
