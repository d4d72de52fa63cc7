"""Lesson 00's health panel (`labkit.panels.lesson00`), driven from code as a learner would click it."""

from __future__ import annotations

from labkit.panels.lesson00 import HealthPanel, two_questions


def test_clicking_send_round_trips_an_event_through_flink(lab, topic):
    src, dst = topic("l00in"), topic("l00out")
    t_env = lab.table_env()
    lab.kafka_table(t_env, "i", "id STRING, message STRING, sent_ms BIGINT", topic=src)
    lab.kafka_table(t_env, "o", "id STRING, shout STRING", topic=dst)
    lab.start(t_env.execute_sql("INSERT INTO o SELECT id, UPPER(message) FROM i"))
    try:
        panel = HealthPanel(lab, send_topic=src, receive_topic=dst)
        assert src in panel.topics.value and "Kafka" in panel.status.value
        panel.message.value = "abc"
        panel.send.click()  # runs in a background thread, like a real click
        panel.thread.join(90)
        assert len(panel.trips) == 1, panel.result.value
        assert panel.trips[0]["answer"]["shout"] == "ABC"
        assert "end to end" in panel.result.value
        # the refresh after the trip counts the event now stored in the topic
        assert f"<code>{src}</code></td><td>1</td>" in panel.topics.value
        # the same trip beside the memory trick, read back from both topics
        seen = two_questions(lab, panel.trips[0], src, dst)
        assert seen.kafka_kept_it_as_sent and seen.stored == panel.trips[0]["sent"]
        assert (seen.partition, seen.offset, seen.answer_offset, seen.flink_made) == (0, 0, 0, "ABC")
        shown = seen._repr_html_()
        assert "Where does the data go?" in shown and "What should we do with the data?" in shown
        assert "exactly as sent" in repr(seen) and "<code>" not in repr(seen)
    finally:
        lab.stop_jobs()


def test_a_trip_with_no_flink_job_times_out_with_a_clear_message(lab, topic):
    panel = HealthPanel(lab, send_topic=topic("l00in"), receive_topic=topic("l00out"))
    try:
        panel.send_event(timeout=1.5)
    except TimeoutError as exc:
        assert "is the job running?" in str(exc)
    else:
        raise AssertionError("expected a timeout")
