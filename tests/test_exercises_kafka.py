"""The Kafka lessons' exercises (00-04; lesson 00's part 2 also runs a Flink job): the hidden
reference solutions pass their checks, and typical wrong answers (including the untouched
placeholder) get a hint instead."""

from __future__ import annotations

import time
import uuid

import pytest
from solutions import load as solution

from labkit import checks, events


def assert_hint(result: checks.Result) -> None:
    assert not result.ok
    assert result.hints, f"a wrong answer must come with a hint: {result}"


@pytest.fixture
def kept_topic(lab):
    """Topics for lesson 01's payments, stamped 2026-01-01: like the lesson's, they keep
    events for ever (``retention.ms=-1``), or Kafka's time-based retention (7 days by
    default, judged by the records' timestamps) would delete them within seconds."""
    made: list[str] = []

    def make(prefix: str, partitions: int = 1) -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(lab.create_topic(name, partitions=partitions, config={"retention.ms": "-1"}))
        return name

    yield make
    lab.delete_topic(*made)


def test_lesson_00_reference_passes_and_wrong_answers_get_hints(lab, topic):
    """Part 1 (roles) is a quiz; part 2 sends an event through the real Kafka and Flink."""
    sol = solution("lesson_00")
    assert checks.lesson_00_roles(sol.roles).ok
    assert_hint(checks.lesson_00_roles({t: "?" for t in sol.roles}))  # the placeholder
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
        my_event, my_shout = sol.trip(lab, src, dst)
        result = checks.lesson_00_trip(lab, my_event, my_shout, **where)
        assert result.ok, result
        wrong = checks.lesson_00_trip(lab, my_event, "?", **where)  # sent, but Flink's answer not read back
        assert_hint(wrong)
        assert "lab.read" in wrong.hints[0]
    finally:
        lab.stop_jobs()


def test_lesson_01_reference_passes_and_wrong_answers_get_hints(lab, kept_topic):
    sol = solution("lesson_01")
    empty = kept_topic("l01ex", partitions=2)
    assert_hint(checks.lesson_01_produce(lab, empty))  # the untouched placeholder
    right = kept_topic("l01ex", partitions=2)
    sol.answer(lab, right)
    result = checks.lesson_01_produce(lab, right)
    assert result.ok, result
    wrong = kept_topic("l01ex", partitions=2)
    sol.wrong_no_timestamp(lab, wrong)
    result = checks.lesson_01_produce(lab, wrong)
    assert_hint(result)
    assert "timestamp_ms" in result.hints[0]


def test_lesson_02_reference_passes_and_wrong_answers_get_hints(lab, topic):
    sol = solution("lesson_02")
    assert_hint(checks.lesson_02_order(lab, topic("l02ex", partitions=4)))
    right = topic("l02ex", partitions=4)
    sol.answer(lab, right)
    result = checks.lesson_02_order(lab, right)
    assert result.ok, result
    wrong = topic("l02ex", partitions=4)
    sol.wrong_key_by_status(lab, wrong)
    result = checks.lesson_02_order(lab, wrong)
    assert_hint(result)
    assert "partitions" in result.message


def lesson_03_state(lab, topic) -> tuple[str, str]:
    """Exercise 03's starting point on a fresh topic and group: the stopped service."""
    name, group = topic("l03ex", partitions=3), f"test-l03-{uuid.uuid4().hex[:8]}"
    lab.produce(name, events.clicks(300, seed=8), key="user_id")
    checks.lesson_03_stopped_service(lab, name, group)
    return name, group


def test_lesson_03_reference_passes_and_wrong_answers_get_hints(lab, topic):
    sol = solution("lesson_03")
    name, group = lesson_03_state(lab, topic)
    where = {"topic": name, "group": group}
    assert_hint(checks.lesson_03_lag(lab, {}, **where))  # the placeholder
    none = checks.lesson_03_lag(lab, sol.wrong_none(lab, name, group), **where)
    assert_hint(none)
    assert "None" in none.hints[0] and "earliest" in none.hints[0]
    measured = sol.lag(lab, name, group)
    result = checks.lesson_03_lag(lab, measured, **where)
    assert result.ok, result
    assert_hint(checks.lesson_03_catch_up(lab, 0, **where))  # the placeholder: nothing done yet
    processed = sol.catch_up(lab, name, group)
    assert processed == sum(measured.values())  # exactly the lag measured in part 1
    result = checks.lesson_03_catch_up(lab, processed, **where)
    assert result.ok, result
    caught_up = checks.lesson_03_lag(lab, measured, **where)  # measuring again after part 2
    assert_hint(caught_up)
    assert "set-up" in caught_up.hints[0]


def test_lesson_03_kafkas_default_reset_skips_events_and_gets_the_hint(lab, topic):
    sol = solution("lesson_03")
    name, group = lesson_03_state(lab, topic)
    where = {"topic": name, "group": group}
    skipped = checks.lesson_03_catch_up(lab, sol.wrong_latest(lab, name, group), **where)
    assert_hint(skipped)
    assert "skipped" in skipped.message and "latest" in skipped.hints[0]


def test_lesson_03_reading_in_another_group_gets_the_hint(lab, topic):
    sol = solution("lesson_03")
    name, group = lesson_03_state(lab, topic)
    elsewhere = sol.catch_up(lab, name, group + "-other")  # reads everything, commits elsewhere
    result = checks.lesson_03_catch_up(lab, elsewhere, topic=name, group=group)
    assert_hint(result)
    assert "group_id" in result.hints[0]


def test_lesson_03_set_up_again_with_a_consumer_still_open_says_so(lab, topic):
    name, group = lesson_03_state(lab, topic)
    left_open = lab.consumer(name, group_id=group)
    try:
        deadline = time.monotonic() + 30
        while not left_open.assignment() and time.monotonic() < deadline:
            left_open.poll(timeout_ms=200)
        with pytest.raises(ValueError, match="still open"):
            checks.lesson_03_stopped_service(lab, name, group)
    finally:
        left_open.close()
    assert checks.lesson_03_stopped_service(lab, name, group)  # closed: the set-up works again


def test_lesson_04_reference_passes_and_wrong_answers_get_hints(lab, kept_topic):
    sol = solution("lesson_04")
    name = kept_topic("l04ex", partitions=3)
    txs = list(events.ledger(90, seed=9))
    lab.produce(name, txs, key="account_id", timestamp="ts")  # the records carry the transactions' times
    since = txs[30]["ts"]
    expected: dict[str, int] = {}
    for tx in txs:
        if tx["ts"] >= since:
            expected[tx["account_id"]] = expected.get(tx["account_id"], 0) + tx["amount_cents"]

    assert_hint(checks.lesson_04_since(lab, name, since, lambda consumer, since: {}))  # the placeholder
    result = checks.lesson_04_since(lab, name, since, sol.changes_since)
    assert result.ok, result
    assert_hint(checks.lesson_04_since(lab, name, since, expected))  # a dict, not the function


def test_lesson_04_rejects_right_numbers_without_a_seek(lab, kept_topic):
    """Reading everything (and filtering in Python) or summing lab.read() gives the right
    numbers; the check still fails, with a hint naming offsets_for_times and seek."""
    sol = solution("lesson_04")
    name = kept_topic("l04ex", partitions=3)
    txs = list(events.ledger(90, seed=9))
    lab.produce(name, txs, key="account_id", timestamp="ts")
    since = txs[30]["ts"]

    everything = checks.lesson_04_since(lab, name, since, sol.wrong_read_everything)
    assert_hint(everything)
    assert "from before the fix" in everything.message and "offsets_for_times" in everything.hints[0]
    python_only = checks.lesson_04_since(lab, name, since, sol.wrong_pure_python(lab, name))
    assert_hint(python_only)
    assert "read nothing" in python_only.message and "seek" in python_only.hints[0]


@pytest.mark.parametrize("placeholder", [None, [], "x", {"x": 1}])
def test_lesson_03_odd_answers_do_not_crash(lab, topic, placeholder):
    name, group = lesson_03_state(lab, topic)
    assert_hint(checks.lesson_03_lag(lab, placeholder, topic=name, group=group))
    assert_hint(checks.lesson_03_catch_up(lab, placeholder, topic=name, group=group))


def test_lesson_04b_reference_passes_and_wrong_answers_get_hints(lab):
    """Live, on a replication trio beside the suite's lab: the check kills a leader while
    producing with the answer's settings (lesson 04b)."""
    from labkit import replication

    sol = solution("lesson_04b")
    trio = replication.start(quiet=True)
    try:
        assert_hint(checks.lesson_04b_durable(trio, None, None, None))  # the placeholder
        assert_hint(checks.lesson_04b_durable(trio, 4, 2, "all"))
        result = checks.lesson_04b_durable(trio, **sol.ANSWER)
        assert result.ok, result
        two = checks.lesson_04b_durable(trio, **sol.WRONG_TWO_COPIES)  # writes refused once a broker dies
        assert_hint(two)
        assert "writes failed" in two.message and "min.insync.replicas=2" in two.hints[0]
    finally:
        trio.stop(quiet=True)
