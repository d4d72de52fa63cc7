"""Lesson 01's exercise: ``forward(source, target)`` is called on events the learner never
saw. The reference solution passes; the untouched placeholder, a forward that loses a part
of each record (key, timestamp, headers), and the old exercise's one ``lab.produce(...)``
get a hint that names no answer."""

from __future__ import annotations

from exercises import assert_hint

from labkit import checks


def test_lesson_01_reference_passes_and_wrong_answers_get_hints(lab, solution, scratch_topics):
    def placeholder(source, target):  # the notebook's cell, untouched
        """Move every event."""

    assert_hint(checks.lesson_01_produce(lab, placeholder))
    assert_hint(checks.lesson_01_produce(lab, None))  # not a function
    result = checks.lesson_01_produce(lab, solution.forward(lab))
    assert result.ok, result
    assert checks.lesson_01_produce(lab, solution.forward(lab), seed=7).ok  # whatever the events
    no_time = checks.lesson_01_produce(lab, solution.wrong_no_timestamp(lab))
    assert_hint(no_time)
    assert "timestamp" in no_time.hints[0] and "r.timestamp" not in no_time.hints[0]
    no_headers = checks.lesson_01_produce(lab, solution.wrong_no_headers(lab))
    assert_hint(no_headers)
    assert "headers" in no_headers.message
    no_key = checks.lesson_01_produce(lab, solution.wrong_no_key(lab))
    assert_hint(no_key)
    assert "keys" in no_key.message
    old = checks.lesson_01_produce(lab, solution.wrong_old_exercise(lab))
    assert_hint(old)
    assert "source" in old.hints[0]
    assert len(scratch_topics) == 2 * 7 and all(t.startswith("l01-check-") for t in scratch_topics)
    scratch_topics.wait_gone()  # the check tidies up its topics
