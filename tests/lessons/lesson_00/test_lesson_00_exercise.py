"""Lesson 00's exercise: part 1 (roles) is a quiz; part 2 sends an event through the real
Kafka and Flink. The reference solution passes; typical wrong answers (including the
untouched placeholder) get a hint instead."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks


def test_lesson_00_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    assert checks.lesson_00_roles(solution.roles).ok
    assert_hint(checks.lesson_00_roles({t: "?" for t in solution.roles}))  # the placeholder
    src, dst = topic("l00in"), topic("l00out")
    where = {"send_topic": src, "receive_topic": dst}
    placeholder = {"id": "?", "message": "?", "sent_ms": 0}
    assert_hint(checks.lesson_00_trip(lab, placeholder, "?", **where))
    unsent = checks.lesson_00_trip(lab, {"id": "not-sent", "message": "hi", "sent_ms": 0}, "HI", **where)
    assert_hint(unsent)
    assert "lab.produce" in unsent.hints[0]
    no_job = {"id": "no-job", "message": "hi", "sent_ms": 0}
    lab.produce(src, [no_job], key="id")  # stored in Kafka, but no Flink job to answer
    alone = checks.lesson_00_trip(lab, no_job, "HI", wait=1, **where)
    assert_hint(alone)
    assert "Flink" in alone.hints[0]
    t_env = lab.table_env()
    lab.kafka_table(t_env, "ex_in", "id STRING, message STRING, sent_ms BIGINT", topic=src)
    lab.kafka_table(t_env, "ex_out", "id STRING, message STRING, shout STRING, sent_ms BIGINT", topic=dst)
    lab.start(t_env.execute_sql("INSERT INTO ex_out SELECT id, message, UPPER(message), sent_ms FROM ex_in"))
    try:
        my_event, my_shout = solution.trip(lab, src, dst)
        result = checks.lesson_00_trip(lab, my_event, my_shout, **where)
        assert result.ok, result
        wrong = checks.lesson_00_trip(lab, my_event, "?", **where)  # sent, but Flink's answer not read back
        assert_hint(wrong)
        assert "lab.read" in wrong.hints[0]
    finally:
        lab.stop_jobs()
