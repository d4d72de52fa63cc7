"""Lesson 00's exercise: part 1 (roles) is a quiz; part 2 sends an event through the real
Kafka and Flink and reads Flink's answer back with a function the check also calls for an
event of its own. The reference solution passes; typical wrong answers (including the
untouched placeholders, and working the answer out with ``message.upper()``) get a hint."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks


def placeholder(topic, event_id):  # the notebook's cell, untouched
    return "?"


def test_lesson_00_reference_passes_and_wrong_answers_get_hints(lab, topic, solution):
    assert checks.lesson_00_roles(solution.roles).ok
    assert_hint(checks.lesson_00_roles({t: "?" for t in solution.roles}))  # the placeholder
    src, dst = topic("l00in"), topic("l00out")
    where = {"send_topic": src, "receive_topic": dst}
    assert_hint(checks.lesson_00_trip(lab, {"id": "?", "message": "?", "sent_ms": 0}, placeholder, **where))
    not_sent = {"id": "not-sent", "message": "hi", "sent_ms": 0}
    unsent = checks.lesson_00_trip(lab, not_sent, placeholder, **where)
    assert_hint(unsent)
    assert "lab.produce" in unsent.hints[0]
    no_job = {"id": "no-job", "message": "hi", "sent_ms": 0}
    lab.produce(src, [no_job], key="id")  # stored in Kafka, but no Flink job to answer
    alone = checks.lesson_00_trip(lab, no_job, placeholder, wait=1, **where)
    assert_hint(alone)
    assert "Flink" in alone.hints[0]
    t_env = lab.table_env()
    lab.kafka_table(t_env, "ex_in", "id STRING, message STRING, sent_ms BIGINT", topic=src)
    lab.kafka_table(t_env, "ex_out", "id STRING, message STRING, shout STRING, sent_ms BIGINT", topic=dst)
    lab.start(t_env.execute_sql("INSERT INTO ex_out SELECT id, message, UPPER(message), sent_ms FROM ex_in"))
    try:
        event = solution.my_event()
        solution.send(lab, event, src)
        result = checks.lesson_00_trip(lab, event, solution.flinks_answer(lab), wait=60, **where)
        assert result.ok, result
        assert lab.read(src)["id"].str.startswith("check-").sum() == 1  # the check's own event, through Kafka
        wrong = checks.lesson_00_trip(lab, event, placeholder, **where)  # sent, Flink's answer not read back
        assert_hint(wrong)
        assert "lab.read" in wrong.hints[0]
        assert_hint(checks.lesson_00_trip(lab, event, "SHOUT", **where))  # a value, not a function
        upper = checks.lesson_00_trip(lab, event, solution.wrong_upper(event), **where)
        assert_hint(upper)  # right for the learner's own event, wrong for the check's: Kafka was never read
        assert "check" in upper.message and "topic" in upper.hints[0]
    finally:
        lab.stop_jobs()
