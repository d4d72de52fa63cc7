"""The Kafka explorer against the real broker: what it shows equals what the admin client
reports at that moment (offsets, sizes, groups, lag), and the message browser shows every
record from the position asked, whatever its bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaConnectionError

from labkit.errors import LabError, UnknownTopic
from labkit.explorer import MessageBrowser, panel, snapshot
from labkit.explorer.panel import Explorer
from labkit.kafka import closing
from labkit.panels.base import FAIL
from labkit.waiting import wait_for


def rows(html_text: str, nth: int = 0) -> list[dict[str, str]]:
    """The ``nth`` HTML table in ``html_text`` as dicts of its cells' text, by column name."""
    table = BeautifulSoup(html_text, "html.parser").find_all("table")[nth]
    head = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
    return [
        dict(zip(head, (td.get_text(" ", strip=True) for td in tr.find_all("td")), strict=True))
        for tr in table.find("tbody").find_all("tr")
    ]


def admin_offsets(lab, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    with closing(lab.admin()) as admin:
        first = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.EARLIEST))
        end = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST))
    return {tp.partition: (first[tp].offset, end[tp].offset) for tp in tps}


def test_offsets_and_sizes_shown_equal_the_admin_clients_answer(lab, topic):
    name = topic("xp-offsets", partitions=3)
    lab.produce(name, [{"n": i} for i in range(40)], key=lambda e: str(e["n"] % 7))
    explorer = Explorer(lab, every=60)
    try:
        snap = explorer.refresh()
        expected = admin_offsets(lab, name, 3)
        assert snap is not None
        assert {p: (s, e) for p, (s, e) in snap.offsets.items() if p[0] == name} == {
            (name, p): v for p, v in expected.items()
        }
        shown = {r["topic"]: r for r in rows(explorer.topics_view.value)}[name]
        assert shown["partitions"] == "3" and shown["messages"] == "40"
        assert shown["offsets (start..end)"] == f"0..{sum(e for _, e in expected.values())}"
        assert shown["cleanup.policy"] == "delete"
        with closing(lab.admin()) as admin:
            dirs = admin.describe_log_dirs()
        on_disk = sum(
            p["partition_size"]
            for broker in dirs
            for d in broker["log_dirs"]
            for t in d["topics"]
            if t["name"] == name
            for p in t["partitions"]
        )
        assert on_disk > 0
        assert int(snap.topics.set_index("topic").loc[name, "size_bytes"]) == on_disk
    finally:
        explorer.stop()


def test_a_compacted_topics_settings_are_shown(lab, topic):
    name = topic("xp-compact", 1, config={"cleanup.policy": "compact", "retention.ms": "3600000"})
    explorer = Explorer(lab, every=60)
    try:
        shown = {r["topic"]: r for r in rows(explorer.topics_view.value)}[name]
        assert shown["cleanup.policy"] == "compact"
        assert shown["retention.ms"] == "1 h"
    finally:
        explorer.stop()


def test_group_lag_shown_equals_end_minus_committed_and_falls_as_the_consumer_catches_up(lab, topic):
    name = topic("xp-lag", partitions=2)
    group = f"{name}-group"
    lab.produce(name, [{"n": i} for i in range(30)], key=lambda e: str(e["n"]))
    consumer = lab.consumer(name, group_id=group, enable_auto_commit=False, max_poll_records=5)
    explorer = Explorer(lab, every=60)
    try:
        read = 0
        while read < 5:  # one small batch, then commit: a lag that is neither 0 nor everything
            read += sum(len(v) for v in consumer.poll(timeout_ms=1000).values())
        consumer.commit()
        snap = explorer.refresh()
        assert snap is not None
        with closing(lab.admin()) as admin:
            committed = admin.list_group_offsets([group])[group]
        ends = admin_offsets(lab, name, 2)
        expected = {
            (name, p): ends[p][1] - committed[TopicPartition(name, p)].offset
            for p in range(2)
            if TopicPartition(name, p) in committed
        }
        assert expected and snap.group_lag(group) == {k: v for k, v in expected.items()} | {
            (name, p): None for p in range(2) if TopicPartition(name, p) not in committed
        }
        total = sum(expected.values())
        summary = {r["group"]: r for r in rows(explorer.groups_view.value, 0)}[group]
        assert summary["state"] == "Stable" and summary["members"] == "1"
        assert summary["total lag"] == str(total)
        per_partition = [r for r in rows(explorer.groups_view.value, 1) if r["group"] == group]
        assert {(r["topic"], int(r["partition"])): r["lag"] for r in per_partition} == {
            k: str(v) for k, v in expected.items()
        } | {(name, p): "-" for p in range(2) if TopicPartition(name, p) not in committed}
        assert all(r["member"] != "none" for r in per_partition)  # the live consumer owns them

        def caught_up() -> bool:
            consumer.poll(timeout_ms=200)
            consumer.commit()
            later = explorer.refresh()
            return later is not None and sum(v or 0 for v in later.group_lag(group).values()) == 0

        wait_for(caught_up, timeout=30, what="the group to catch up")
        assert {r["group"]: r for r in rows(explorer.groups_view.value, 0)}[group]["total lag"] == "0"
    finally:
        consumer.close()
        explorer.stop()
        lab.delete_groups(group)


def test_a_group_with_no_member_shows_empty_and_who_reads_nothing(lab, topic):
    name = topic("xp-empty")
    group = f"{name}-group"
    lab.produce(name, [{"n": i} for i in range(4)])
    consumer = lab.consumer(name, group_id=group, enable_auto_commit=False)
    wait_for(lambda: sum(len(v) for v in consumer.poll(timeout_ms=500).values()) > 0, "a first read", 30)
    consumer.commit()
    consumer.close()
    try:
        with closing(lab.admin()) as admin:
            snap = snapshot(admin)
        row = snap.groups.set_index("group").loc[group]
        assert row.state == "Empty" and row.members == 0
        assert set(snap.lag[snap.lag.group == group].member) == {""}
    finally:
        lab.delete_groups(group)


def test_the_browser_shows_json_pretty_other_bytes_as_bytes_and_drops_nothing(lab, topic):
    name = topic("xp-bytes")
    producer = lab.producer()
    values = [{"card": "c1", "amount": 12.5}, b"\xff\x00raw", "plain text, not JSON", None, b"[1, 2]"]
    for value in values:
        producer.send(name, value, key="k", headers=[("source", b"test"), ("bin", b"\x00\x01")])
    producer.flush()
    producer.close()
    browser = MessageBrowser(lab)
    try:
        page = browser.open(name, 0, "beginning")
        assert list(page.offset) == [0, 1, 2, 3, 4]
        assert list(page.format) == ["json", "bytes", "bytes", "null", "json"]
        assert json.loads(page.value[0]) == values[0] and "\n" in page.value[0]  # pretty-printed
        assert page.value[1] == repr(b"\xff\x00raw")
        assert page.value[2] == repr(b"plain text, not JSON")
        assert page.value[3] == "null"
        assert page.headers[0] == {"source": "test", "bin": "\x00\x01"}
        assert set(page.key) == {"k"}
    finally:
        browser.close()


def test_the_browser_opens_at_the_beginning_the_end_an_offset_and_a_time(lab, topic):
    name = topic("xp-positions")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [{"n": i, "at": (t0 + timedelta(minutes=i)).isoformat()} for i in range(50)]
    lab.produce(name, events, timestamp="at")
    browser = MessageBrowser(lab, page=20)
    try:
        assert list(browser.open(name, 0, "beginning").offset) == list(range(20))
        assert list(browser.more().offset) == list(range(20, 40))
        assert list(browser.more().offset) == list(range(40, 50))
        assert browser.more().empty  # the end of the log
        assert list(browser.open(name, 0, "end").offset) == list(range(30, 50))
        assert list(browser.open(name, 0, 45).offset) == list(range(45, 50))
        assert list(browser.open(name, 0, t0 + timedelta(minutes=7, seconds=30)).offset)[:3] == [8, 9, 10]
        assert list(browser.open(name, 0, "2026-01-01T00:12:00Z").offset)[0] == 12
        assert browser.open(name, 0, "2030-01-01").empty  # nothing that late: wait at the end
        lab.produce(name, [{"n": 50}])
        tail = wait_for(lambda: browser.tail().pipe(lambda df: df if len(df) else None), "the new record", 20)
        assert list(tail.offset) == [50]
        assert browser.open(name, 0, 9999).empty
        with pytest.raises(LabError, match="Offsets start at 0"):
            browser.open(name, 0, -1)
        with pytest.raises(LabError, match="partitions \\[0\\], not 3"):
            browser.open(name, 3, "beginning")
        with pytest.raises(UnknownTopic, match="No topic 'no-such-topic-xp'"):
            browser.open("no-such-topic-xp", 0)
        with pytest.raises(LabError, match="give 'beginning', 'end', an offset or a time"):
            browser.open(name, 0, "yesterday-ish")
    finally:
        browser.close()


def test_the_messages_tab_driven_from_code_shows_an_offset_then_tails(lab, topic):
    name = topic("xp-tab", partitions=2)
    lab.produce(name, [{"n": i} for i in range(10)], key=lambda e: "same")  # all in one partition
    explorer = Explorer(lab, every=0.5)
    try:
        explorer.topic.value = name
        partition = next(p for p, (_, end) in admin_offsets(lab, name, 2).items() if end == 10)
        assert list(explorer.partition.options) == [0, 1]
        explorer.partition.value = partition
        explorer.start_at.value = "offset"
        explorer.offset.value = 6
        explorer.show_button.click()
        shown = rows(explorer.messages_view.value)
        assert [int(r["offset"]) for r in shown] == [6, 7, 8, 9]
        assert "offsets 6-9 shown" in explorer.where.value
        explorer.follow.value = True
        lab.produce(name, [{"n": 10}], key=lambda e: "same")
        wait_for(lambda: "10" in [r["offset"] for r in rows(explorer.messages_view.value)], "the tail", 20)
        explorer.start_at.value = "time"
        explorer.time.value = "not a time"
        explorer.show_button.click()  # a button does not raise: it says so above the table
        assert FAIL in explorer.where.value and "start=&#x27;not a time&#x27;" in explorer.where.value
        with pytest.raises(LabError, match="not a time"):
            explorer.show_messages()
        explorer.time.value = ""
        with pytest.raises(LabError, match="Type a time first"):
            explorer.show_messages()
    finally:
        explorer.stop()


def test_pause_stops_refreshing_and_stop_ends_the_thread(lab):
    explorer = Explorer(lab, every=0.5)
    try:
        wait_for(lambda: explorer.refreshes >= 2, timeout=20, what="two refreshes")
        explorer.pause.value = True
        assert "paused" in explorer.header.value
        paused_at = explorer.refreshes
        # the thread wakes every 0.5 s; several wake-ups later it still has not refreshed
        wakeups = explorer.wakeups
        wait_for(lambda: explorer.wakeups >= wakeups + 3, timeout=20, what="three wake-ups")
        assert explorer.refreshes == paused_at
        explorer.pause.value = False
        wait_for(lambda: explorer.refreshes > paused_at, timeout=20, what="refreshing again")
    finally:
        explorer.stop()
    assert not explorer.thread.is_alive()


def test_a_broker_that_stops_answering_is_one_line_in_the_header(lab, monkeypatch):
    explorer = Explorer(lab, every=60)
    try:
        before = explorer.snap

        def no_answer(*args, **kwargs):
            raise KafkaConnectionError("the broker closed the connection")

        monkeypatch.setattr(panel, "snapshot", no_answer)
        assert explorer.refresh() is None
        assert FAIL in explorer.header.value
        header = explorer.header.value
        assert "Not refreshed:</b> KafkaConnectionError" in header
        assert "the broker closed the connection" in header
        assert explorer.snap is before  # the last picture stays, marked as old
        monkeypatch.undo()
        assert explorer.refresh() is not None and "Not refreshed" not in explorer.header.value
    finally:
        explorer.stop()


def test_idle_refreshes_draw_no_picture_and_send_no_new_html(lab):
    explorer = Explorer(lab, every=60)
    try:
        topics, groups, pictures = explorer.topics_view.value, explorer.groups_view.value, explorer.pictures
        explorer.refresh()
        explorer.refresh()
        assert explorer.pictures == pictures == 1
        assert explorer.topics_view.value is topics and explorer.groups_view.value is groups
    finally:
        explorer.stop()


def test_bad_arguments_are_clear_errors(lab):
    with pytest.raises(LabError, match="between every 0.5 and 60"):
        lab.explore(every=0)
    with pytest.raises(LabError, match="one of topics, messages, groups, brokers"):
        lab.explore("lag")


def test_it_opens_on_the_tab_asked_for(lab):
    explorer = lab.explore("Groups", every=60)
    try:
        assert explorer.tabs.selected_index == 2 and explorer.tabs.get_title(2) == "Groups"
    finally:
        explorer.stop()
