"""Exercise checks: each lesson ends with an exercise whose answer is checked here.

A check returns a `Result` that shows as a green tick or a red cross with a *hint*
(what to look at, never the answer). ``result.ok`` is what the tests assert; the hidden
reference solutions live in ``tests/solutions/`` and must pass every check.

Each lesson adds its checks below under a heading comment, as functions named
``lesson_NN_<what>(lab, answer) -> Result``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    ok: bool
    message: str
    hints: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "\u2705" if self.ok else "\u274c"
        lines = [f"{mark} {self.message}", *(f"   hint: {h}" for h in self.hints)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#cf222e"
        hints = "".join(f"<li>{h}</li>" for h in self.hints)
        return (
            f"<div style='border-left:4px solid {color};padding:4px 10px'>"
            f"<b style='color:{color}'>{'Correct' if self.ok else 'Not yet'}</b>: {self.message}"
            f"{f'<ul>{hints}</ul>' if hints else ''}</div>"
        )

    def __repr__(self) -> str:
        return str(self)


def passed(message: str) -> Result:
    return Result(True, message)


def failed(message: str, *hints: str) -> Result:
    return Result(False, message, list(hints))


# --- lesson 00 ---------------------------------------------------------------------


def lesson_00_roles(answer: dict[str, str]) -> Result:
    """Sort each task to "kafka" (moving data) or "flink" (processing data)."""
    expected = LESSON_00_TASKS
    if not isinstance(answer, dict):
        return failed("Answer with a dict: task -> 'kafka' or 'flink'.")
    missing = [t for t in expected if t not in answer]
    if missing:
        return failed(f"{len(missing)} task(s) not answered yet.", f"Still to sort: {missing[0]!r}.")
    wrong = [t for t, who in expected.items() if str(answer[t]).strip().lower() != who]
    if wrong:
        return failed(
            f"{len(expected) - len(wrong)} of {len(expected)} right.",
            f"Look again at {wrong[0]!r}: is it moving data, or working something out from it?",
        )
    return passed("All sorted: Kafka moves data, Flink understands it.")


LESSON_00_TASKS: dict[str, str] = {
    "keep every payment for 7 days so it can be re-read": "kafka",
    "deliver each click to both the analytics team and the billing service": "kafka",
    "count clicks per page every minute": "flink",
    "flag an account that pays 10 times in one minute": "flink",
    "let a new service read last week's events from the start": "kafka",
    "join orders with shipments that arrive up to an hour later": "flink",
}


def lesson_00_trip(
    lab,  # noqa: ANN001 - a labkit.Lab
    event,  # noqa: ANN001 - the learner's dict
    shout,  # noqa: ANN001 - the learner's answer
    *,
    send_topic: str = "l00-hello-in",
    receive_topic: str = "l00-hello-out",
    wait: float = 30.0,
) -> Result:
    """Exercise 00, part 2: ``event`` was sent to ``send_topic`` (Kafka stores it), the
    running Flink job answered in ``receive_topic``, and ``shout`` is that answer.

    Waits up to ``wait`` seconds for Flink's answer, so a check run right after sending
    does not fail only because the job has not written it yet.
    """
    import time

    send = f"lab.produce({send_topic!r}, [my_event], key='id')"
    if not isinstance(event, dict) or not {"id", "message"} <= set(event):
        return failed("my_event should be a dict with an id and a message.", f"Fill it in, then: {send}.")
    if str(event["id"]) in ("", "?") or str(event["message"]) in ("", "?"):
        return failed("Give my_event an id of your own and a message.", f"Then send it: {send}.")
    stored = lab.read(send_topic)
    mine = stored[stored["id"] == event["id"]] if "id" in stored else stored.iloc[0:0]
    if mine.empty:
        return failed(
            f"Kafka has no event with id {event['id']!r} in {send_topic!r}: it was not sent (yet).",
            f"Moving data is Kafka's job: {send}.",
        )
    if event["message"] not in set(mine["message"]):
        return failed(
            f"Kafka holds an event with id {event['id']!r}, but its message is {mine['message'].iloc[-1]!r}.",
            "Did you change my_event after sending it? Send it again, or use another id.",
        )
    deadline = time.monotonic() + wait
    while True:
        out = lab.read(receive_topic)
        answers = out[out["id"] == event["id"]] if "id" in out else out.iloc[0:0]
        if not answers.empty or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if answers.empty:
        return failed(
            f"Your event is in Kafka, but Flink wrote no answer to {receive_topic!r} within {wait:.0f} s.",
            "Processing is Flink's job: is the job still running? (job.status should say RUNNING.)",
        )
    flink = answers["shout"].iloc[-1]
    if shout != flink:
        return failed(
            f"Flink's answer for your event is in {receive_topic!r}, but my_shout is {shout!r}.",
            f"Read it back from Kafka: lab.read({receive_topic!r}), the row whose id is {event['id']!r}.",
        )
    offset = int(mine["offset"].iloc[-1])
    return passed(
        f"Kafka stored your event (offset {offset} of {send_topic!r}) and delivered it; Flink "
        f"worked out {flink!r} and wrote it back to Kafka, where you read it."
    )


# --- lessons 05-08 (Flink) -----------------------------------------------------------
# The answers are Flink SQL strings, run by the check itself over the lesson's topic, and
# compared with a pandas computation of the same thing on the events in that topic.

LESSON_05_SCHEMA = "event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT"
LESSON_06_SCHEMA = (
    "event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT, "
    "ev_time AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR ev_time AS ev_time - INTERVAL '1' SECOND"
)


def _run_sql(lab, sql, schema: str, topic: str):
    """(DataFrame, None) or (None, Result explaining why the query did not run)."""
    if not isinstance(sql, str) or not sql.strip():
        return None, failed("No query yet.", 'Write your query as a string: my_sql = "SELECT ..."')
    try:
        return lab.query(sql, {"clicks": schema}, topics={"clicks": topic}), None
    except Exception as exc:  # noqa: BLE001 - show Flink's own complaint
        lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("at ")]
        reason = next((ln for ln in lines if "Exception" in ln), lines[0] if lines else type(exc).__name__)
        return None, failed("Flink could not run that query.", reason.strip()[:300])


def lesson_05_filter(lab, sql, *, topic: str = "l05-clicks") -> Result:
    """Mobile views of product pages: event_id, user_id, page of every click whose device
    is 'mobile' and whose page starts with '/product/'."""
    df, problem = _run_sql(lab, sql, LESSON_05_SCHEMA, topic)
    if problem is not None:
        return problem
    events = lab.read(topic)
    want = events[(events["device"] == "mobile") & events["page"].str.startswith("/product/")]
    if list(df.columns) != ["event_id", "user_id", "page"]:
        return failed(
            f"Your columns are {list(df.columns)}.", "Select exactly event_id, user_id, page - in that order."
        )
    got, expected = set(df["event_id"]), set(want["event_id"])
    if got == expected and len(df) == len(want):
        return passed(f"{len(df)} mobile product views - the same as counting them by hand in pandas.")
    if got > expected:
        return failed(
            f"{len(got - expected)} row(s) too many.", "Both conditions must hold: combine them with AND."
        )
    if got < expected:
        return failed(
            f"{len(expected - got)} row(s) missing.",
            "Are you matching every product page? LIKE '/product/%' matches /product/1, /product/2...",
        )
    return failed("Not the right rows.", "Filter on device = 'mobile' and page LIKE '/product/%'.")


def lesson_06_hop(lab, sql, *, topic: str = "l06-clicks") -> Result:
    """Page views per device in hopping windows of 20 s that slide every 10 s: columns
    window_start, window_end, device, n."""
    from .flink_panels import same_windows, windows_pandas

    df, problem = _run_sql(lab, sql, LESSON_06_SCHEMA, topic)
    if problem is not None:
        return problem
    cols = ["window_start", "window_end", "device", "n"]
    if sorted(df.columns) != sorted(cols):
        return failed(f"Your columns are {list(df.columns)}.",
                      "Return window_start, window_end, device and the count AS n.")
    events = lab.read(topic)
    want = windows_pandas(events, "hop", 20, 10, key="device")
    if same_windows(df, want):
        return passed(f"{len(df)} window rows, the same as pandas computes - each event counted twice.")
    if same_windows(df, windows_pandas(events, "tumble", 20, key="device")) or same_windows(
        df, windows_pandas(events, "tumble", 10, key="device")
    ):
        return failed(
            "Those windows do not overlap.", "A hopping window is HOP(TABLE t, DESCRIPTOR(col), slide, size)."
        )
    if same_windows(df, windows_pandas(events, "hop", 10, 20, key="device")):
        return failed("Slide and size are swapped.", "HOP takes the slide first, then the size.")
    return failed("The counts differ from pandas'.",
                  "Group by window_start, window_end and device, and count with COUNT(*) AS n.")


# --- lessons 01-04 (Kafka moves data) ------------------------------------------------


def lesson_01_produce(lab, topic: str) -> Result:  # noqa: ANN001 - a labkit.Lab
    """Exercise 01: the first 20 of ``events.payments(seed=7)`` in ``topic``, keyed by
    account_id, record timestamp = the event's ``ts``, header ``source=exercise``."""
    from . import events

    expected = list(events.payments(20, seed=7))
    df = lab.read(topic)
    if df.empty:
        return failed(
            f"{topic!r} is empty.",
            "Send each payment with producer.send(...), then call producer.flush() so the "
            "producer does not keep them in its buffer.",
        )
    if len(df) != len(expected):
        extra = ""
        if len(df) > 20:
            extra = " Run the cell that creates the topic (replace=True) again, then send once."
        return failed(f"Found {len(df)} events, expected 20.{extra}", "Use events.payments(20, seed=7).")
    by_id = {e["tx_id"]: e for e in expected}
    if "tx_id" not in df or set(df["tx_id"]) != set(by_id):
        return failed("These are not the first 20 payments of seed 7.", "Use events.payments(20, seed=7).")
    rows = df.to_dict("records")
    if any(r["key"] != by_id[r["tx_id"]]["account_id"] for r in rows):
        return failed(
            "The keys are not the account ids.", "Pass key=payment['account_id'] to producer.send."
        )
    stamps = {r["tx_id"]: int(r["timestamp"].value // 1_000_000) for r in rows}
    if any(stamps[t] != by_id[t]["ts"] for t in stamps):
        return failed(
            "The record timestamps are the send time, not when the payment happened.",
            "Pass timestamp_ms=payment['ts'] to producer.send.",
        )
    if "headers" not in df or any((r.get("headers") or {}).get("source") != "exercise" for r in rows):
        return failed(
            "The header is missing or different.",
            "Headers are a list of (name, bytes) pairs: headers=[('source', b'exercise')].",
        )
    return passed("20 payments, keyed by account, stamped with when they happened, with a header.")


def lesson_02_order(lab, topic: str) -> Result:  # noqa: ANN001 - a labkit.Lab
    """Exercise 02: ``events.deliveries(60, seed=2)`` in ``topic`` so that every order's
    status changes are read back in order."""
    from . import events

    expected = list(events.deliveries(60, seed=2))
    df = lab.read(topic)
    if df.empty:
        return failed(f"{topic!r} is empty.", "Send the 60 deliveries, then producer.flush().")
    if len(df) != len(expected) or "order_id" not in df:
        return failed(
            f"Found {len(df)} events, expected 60 deliveries.",
            "Recreate the topic (run its cell again) and send events.deliveries(60, seed=2) once.",
        )
    spread = df.groupby("order_id")["partition"].nunique()
    if (spread > 1).any():
        order = spread[spread > 1].index[0]
        parts = sorted(df.loc[df["order_id"] == order, "partition"].unique().tolist())
        hint = (
            "Without a key the producer spreads events over partitions, and Kafka keeps order only "
            "inside one partition."
            if df["key"].isna().all()
            else "Which field is the same for all the events that must stay in order?"
        )
        return failed(f"{order}'s events landed in partitions {parts}: they can be read out of order.", hint)
    for order, part in df.sort_values("offset").groupby("order_id"):
        if list(part["step"]) != sorted(part["step"]):
            return failed(
                f"{order}'s statuses are out of order in its partition.",
                "Send the events in the order the generator gives them.",
            )
    if not (df["key"] == df["order_id"]).all():
        return failed(
            f"Each order stays in one partition, but there are only {df['key'].nunique()} distinct keys.",
            "Few keys means few busy partitions. Key by the field that names the thing whose order matters.",
        )
    return passed("Every order lives in one partition, so its status changes are read in order.")


def _lesson_03_done(ends: dict[int, int]) -> dict[int, int]:
    """What the stopped service of exercise 03 committed: half of partition 0, a third of
    partition 1, nothing of partition 2 (one formula, used by the set-up and the checks)."""
    return {0: ends[0] // 2, 1: ends[1] // 3}


def lesson_03_stopped_service(lab, topic: str = "l03-exercise", group: str = "l03-orders") -> dict:  # noqa: ANN001
    """Set up exercise 03: group ``group`` committed offsets in ``topic`` as a service that
    processed part of partitions 0 and 1 and stopped before partition 2 would have.

    It commits chosen offsets (``consumer.commit({tp: OffsetAndMetadata(...)})``, the call
    a consumer makes to commit) instead of running a service, so every run starts from
    the same, known state. Returns the committed offsets.
    """
    from kafka import TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    ends = lab.end_offsets(topic)
    if sorted(ends) != [0, 1, 2] or min(ends.values()) < 3:
        raise ValueError(f"{topic!r} needs 3 partitions with a few events in each, not {ends}")
    done = _lesson_03_done(ends)
    lab.delete_groups(group)  # a re-run starts from the same state
    service = lab.consumer(group_id=group, enable_auto_commit=False)  # commits, never joins
    try:
        service.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in done.items()})
    except KafkaError as exc:  # the group still has a member: the broker refuses an outsider's commit
        raise ValueError(
            f"Group {group!r} cannot be reset while one of its consumers is still open ({exc}): "
            "close() it (or restart the kernel), then run this cell again."
        ) from None
    finally:
        service.close()
    return done


def _lesson_03_state(lab, topic: str, group: str) -> tuple[dict, dict, dict]:  # noqa: ANN001
    """(log end, committed (None: never), log start) per partition, asked of the broker."""
    from kafka import TopicPartition

    ends = lab.end_offsets(topic)
    tps = [TopicPartition(topic, p) for p in ends]
    reader = lab.consumer(group_id=group, enable_auto_commit=False)  # asks, never joins
    try:
        committed = {tp.partition: reader.committed(tp) for tp in tps}
        starts = {tp.partition: o for tp, o in reader.beginning_offsets(tps).items()}
    finally:
        reader.close()
    return ends, committed, starts


def _lesson_03_left(ends: dict[int, int], starts: dict[int, int]) -> int:
    """The stopped service's total lag: the events a restarted one has to process."""
    done = _lesson_03_done(ends)
    return sum(ends[p] - done.get(p, starts[p]) for p in ends)


def _lag(ends: dict, committed: dict, starts: dict) -> dict[int, int]:
    """Lag as this lab's groups see it: never committed = read from the log start
    (``auto_offset_reset="earliest"``), so every event still in the partition counts."""
    return {p: end - (starts[p] if committed[p] is None else committed[p]) for p, end in ends.items()}


def lesson_03_lag(lab, answer, *, topic: str = "l03-exercise", group: str = "l03-orders") -> Result:  # noqa: ANN001
    """Exercise 03, part 1: ``answer`` = the group's lag per partition, as the broker has it now."""
    ends, committed, starts = _lesson_03_state(lab, topic, group)
    want = _lag(ends, committed, starts)
    ask = (
        f"With a consumer of group_id={group!r} (it need not subscribe): "
        f"consumer.end_offsets([TopicPartition({topic!r}, p) for p in (0, 1, 2)]) and "
        "consumer.committed(tp) for each partition."
    )
    if not isinstance(answer, dict) or not answer:
        return failed("Answer with a dict: partition -> lag.", ask)
    got = {getattr(p, "partition", p): lag for p, lag in answer.items()}  # TopicPartition keys are fine
    if set(got) != set(want):
        answered = sorted(got, key=str)
        return failed(f"You answered for partitions {answered}.", f"One entry per partition: {sorted(want)}.")
    if sum(want.values()) == 0 and _lesson_03_left(ends, starts):
        return failed(
            f"Group {group!r} has no lag any more: it has caught up (part 2?).",
            "Re-run the set-up cell to put the stopped service back, then measure its lag.",
        )
    for p in sorted(want):
        if got[p] == want[p]:
            continue
        if committed[p] is None and got[p] == 0:
            hint = (
                "committed() is None: the group never committed here. This lab's consumers then start at "
                "the first event (auto_offset_reset='earliest'), so every event in it is lag."
            )
        elif got[p] == -want[p]:
            hint = "Lag is how far the group is *behind*: log end offset minus committed offset."
        elif got[p] == ends[p]:
            hint = "That is the log end offset: subtract what the group committed."
        elif got[p] == committed[p]:
            hint = "That is the committed offset: lag = log end offset - committed offset."
        else:
            hint = "Lag = log end offset - committed offset, asked of the broker now. " + ask
        return failed(f"Partition {p}: you said {got[p]!r}, the broker says the lag is {want[p]}.", hint)
    return passed(f"Lag {want}: {sum(want.values())} events the group has not processed, as the broker says.")


def lesson_03_catch_up(lab, processed, *, topic: str = "l03-exercise", group: str = "l03-orders") -> Result:  # noqa: ANN001
    """Exercise 03, part 2: a consumer of ``group`` processed ``processed`` events, from
    the group's committed offsets to the log end, and committed: lag 0, nothing repeated."""
    ends, committed, starts = _lesson_03_state(lab, topic, group)
    left = _lag(ends, committed, starts)
    expected = _lesson_03_left(ends, starts)
    if not isinstance(processed, int) or isinstance(processed, bool):
        return failed("processed should be a whole number.", "Count the records your polls returned.")
    if sum(left.values()) == expected:
        if processed == 0:
            return failed(
                f"Group {group!r} still has lag {left}.",
                f"Start a consumer in the group: lab.consumer({topic!r}, group_id={group!r}); poll until its "
                "position reaches the log end of every partition; then consumer.commit() and close().",
            )
        return failed(
            f"You processed {processed} events, but group {group!r} committed nothing new (lag {left}).",
            f"Did your consumer use group_id={group!r}, and call consumer.commit() before close()?",
        )
    if sum(left.values()) > 0:
        return failed(
            f"Group {group!r} still has lag {left}.",
            "Keep polling until consumer.position(tp) equals the log end offset of every partition, "
            "then commit: the group's lag is 0 only when every partition is committed at its end.",
        )
    if processed > expected:
        return failed(
            f"You processed {processed} events, but only {expected} were left to do: some were done twice.",
            "A consumer of the group starts at the group's committed offsets: no seek_to_beginning, "
            "no other group_id. Re-run the set-up cell and try again.",
        )
    if processed < expected:
        return failed(
            f"The lag is 0, but you processed {processed} of the {expected} events left: some were skipped.",
            "A partition the group never committed starts where auto_offset_reset says: with 'latest' "
            "(Kafka's default) its events are skipped. Re-run the set-up cell; keep the lab's 'earliest'.",
        )
    return passed(
        f"{processed} events processed, exactly the lag: resumed from the group's commits, nothing "
        "repeated, nothing skipped, and the group's lag is now 0."
    )


def lesson_04_since(lab, topic: str, since_ms: int, changes_since) -> Result:  # noqa: ANN001
    """Exercise 04: ``changes_since(consumer, since)`` returns each account's change of
    balance (cents) from the events stored at or after ``since``.

    The check hands it a consumer assigned every partition of ``topic`` and watches what
    that consumer reads (its polls and final positions): the records must start at the
    offsets ``offsets_for_times`` gives for ``since`` and go on to the log end. So an
    answer computed in Python from everything, or from a list, fails with a hint even
    when its numbers are right: the exercise is the seek.
    """
    from kafka import TopicPartition

    if not callable(changes_since):
        return failed(
            "Hand over your function itself, not its result.",
            "checks.lesson_04_since(lab, LEDGER, SINCE, changes_since)",
        )
    ends = lab.end_offsets(topic)
    tps = [TopicPartition(topic, p) for p in ends]
    consumer = lab.consumer(enable_auto_commit=False)  # no group: the function picks the positions
    first: dict[int, int] = {}  # partition -> lowest offset the function's polls returned
    read = 0
    poll = consumer.poll

    def watched_poll(*args, **kwargs):  # noqa: ANN002, ANN003 - KafkaConsumer.poll's own
        nonlocal read
        batch = poll(*args, **kwargs)
        for tp, records in batch.items():
            if records and tp.topic == topic:
                first[tp.partition] = min(first.get(tp.partition, records[0].offset), records[0].offset)
                read += len(records)
        return batch

    try:
        consumer.assign(tps)
        found = consumer.offsets_for_times({tp: since_ms for tp in tps})
        consumer.poll = watched_poll  # also what iterating the consumer calls
        try:
            answer = changes_since(consumer, since_ms)
        except Exception as exc:  # noqa: BLE001 - the learner's code: say what it raised
            return failed(
                f"changes_since raised {type(exc).__name__}: {exc}", "Fix that error, then check again."
            )
        positions = {tp.partition: consumer.position(tp) for tp in tps}
    finally:
        consumer.close()
    start = {
        tp.partition: (hit.offset if hit is not None else ends[tp.partition])  # None: nothing since
        for tp, hit in found.items()
    }
    want: dict[str, int] = {}
    for row in lab.read(topic).to_dict("records"):
        if row["offset"] >= start[row["partition"]]:
            want[row["account_id"]] = want.get(row["account_id"], 0) + row["amount_cents"]
    if not isinstance(answer, dict):
        return failed(
            f"changes_since returned {type(answer).__name__}, not a dict.", "Return account_id -> cents."
        )
    got = {str(k): v for k, v in answer.items()}
    seek_hint = (
        "found = consumer.offsets_for_times({tp: since for tp in consumer.assignment()}) gives each "
        "partition's first offset at or after `since`; consumer.seek(tp, found[tp].offset) moves there "
        "before you poll."
    )
    if read == 0:
        if got and got == want:
            return failed(
                "Right numbers, but your consumer read nothing: they did not come from Kafka.",
                "Replay with the consumer you are given: " + seek_hint,
            )
        return failed("Your consumer read nothing yet.", seek_hint)
    early = sorted(p for p in first if first[p] < start[p])
    if early:
        p = early[0]
        return failed(
            f"Your consumer read partition {p} from offset {first[p]}, but the first event at or after "
            f"`since` is at offset {start[p]}: it read events from before the fix"
            + (" (even if you then dropped them in Python)." if got == want else "."),
            seek_hint,
        )
    late = sorted(p for p in first if first[p] > start[p])  # unread partitions: see `behind`
    if late:
        p = late[0]
        return failed(
            f"In partition {p} your consumer started at offset {first[p]}, after {start[p]}: "
            "it missed events.",
            seek_hint,
        )
    behind = sorted(p for p in ends if positions[p] < ends[p])
    if behind:
        p = behind[0]
        return failed(
            f"Your consumer stopped at offset {positions[p]} of partition {p}; the log ends at {ends[p]}.",
            "Poll until consumer.position(tp) reaches the end offset of every partition "
            "(consumer.end_offsets(...), or consume_until_end from section 2).",
        )
    if got == want:
        return passed(
            f"Right: your consumer started at offsets {start} (partition: offset) and read the "
            f"{sum(ends[p] - start[p] for p in ends)} events since then, to the log end."
        )
    if any(isinstance(v, float) for v in got.values()):
        return failed("Some amounts are floats.", "Sum amount_cents as whole numbers (int).")
    if set(got) != set(want) or sum(got.values()) != sum(want.values()):
        return failed(
            "Some events are missing or counted twice.",
            "Add each record's amount_cents once, for every record your consumer polls.",
        )
    return failed("The balances differ.", "Add amount_cents per account_id for the events you replay.")


# --- lesson 09 (fraud detection) -----------------------------------------------------
# The answer is a Flink SQL MATCH_RECOGNIZE query over the table `transactions`
# (see labkit.fraud.run_sql); the check runs it on a fixed hand-made sequence with one
# account per case and compares which accounts alert.

T09 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, ms
LESSON_09_CASES: dict[str, list[tuple[float, int]]] = {  # account -> [(amount, seconds)]
    "x1-two-tiny-then-large": [(0.50, 0), (0.40, 5), (900.00, 10)],
    "x2-one-tiny-only": [(0.50, 0), (900.00, 5)],
    "x3-broken": [(0.50, 0), (0.40, 5), (20.00, 6), (900.00, 10)],
    "x4-too-slow": [(0.50, 0), (0.40, 30), (900.00, 61)],
    "x5-three-tiny": [(0.50, 0), (0.40, 1), (0.30, 2), (800.00, 3)],
    "x6-just-large": [(0.50, 0), (0.40, 2), (500.01, 3)],
    "x7-not-large": [(0.50, 0), (0.40, 2), (500.00, 3)],
}
LESSON_09_ALERTS = {"x1-two-tiny-then-large", "x5-three-tiny", "x6-just-large"}


def lesson_09_rows() -> list[dict]:
    """The transactions `lesson_09_two_tiny` runs an answer on."""
    return [
        {"tx_id": f"{acct}-{i}", "account_id": acct, "amount": amount, "timestamp": T09 + sec * 1000}
        for acct, txs in LESSON_09_CASES.items()
        for i, (amount, sec) in enumerate(txs)
    ]


def lesson_09_two_tiny(lab, answer) -> Result:  # noqa: ANN001 - a labkit.Lab
    """Two transactions under 1.00 in a row, then one over 500.00, all within one minute
    of the first: a MATCH_RECOGNIZE query over `transactions` with an account_id column."""
    from . import fraud

    if not isinstance(answer, str) or "MATCH_RECOGNIZE" not in answer.upper():
        return failed(
            "No query yet.",
            "Start from print(fraud.match_recognize_sql('transactions', 1.00, 500.00, 60_000)) "
            "and change its PATTERN and DEFINE.",
        )
    try:
        df = fraud.run_sql(lesson_09_rows(), answer, lab=lab)
    except Exception as exc:  # noqa: BLE001 - show Flink's own complaint
        lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("at ")]
        reason = next((ln for ln in lines if "Exception" in ln), lines[0] if lines else type(exc).__name__)
        return failed("Flink could not run that query.", reason.strip()[:300])
    if "account_id" not in df.columns:
        return failed(f"Your columns are {list(df.columns)}.", "Keep account_id: PARTITION BY account_id.")
    got = list(df["account_id"]) if len(df) else []
    hints = {
        "x2-one-tiny-only": "It fires after a single tiny charge: the pattern needs two tiny rows before the "
        "large one, e.g. PATTERN (T1 T2 L) with a DEFINE for each.",
        "x3-broken": "A normal transaction between the tiny ones and the large one must break the pattern: "
        "keep the variables in PATTERN next to each other, with no .* or other row in between.",
        "x4-too-slow": "Account x4's large charge comes 61 s after its first tiny one: "
        "add WITHIN INTERVAL '1' MINUTE after the PATTERN.",
        "x7-not-large": "500.00 is not *over* 500.00: use > rather than >=.",
    }
    for acct, hint in hints.items():
        if acct in got:
            return failed(f"Account {acct!r} should not alert.", hint)
    missing = sorted(LESSON_09_ALERTS - set(got))
    if missing:
        return failed(
            f"Account {missing[0]!r} should alert, and does not.",
            "Check each DEFINE: a tiny one is amount < 1.00, a large one amount > 500.00; and "
            "three tiny ones then a large one contain two tiny ones then a large one.",
        )
    if len(got) != len(set(got)):
        return failed(
            "Some accounts alert more than once.",
            "One row per match: ONE ROW PER MATCH and AFTER MATCH SKIP PAST LAST ROW.",
        )
    return passed("Right: two tiny charges, then a large one, within a minute - and nothing else alerts.")


def lesson_07_bound(lab, seconds, *, topic: str = "l07-exercise", size: float = 5) -> Result:
    """The smallest whole number of seconds of watermark bound for which the 5 s tumbling
    windows over ``topic`` (events in the order they arrived) drop no event as late.

    Checked exactly: only that whole number passes. A bound that loses nothing but is not
    a whole number (or not the smallest) gets a hint, not a tick."""
    from .flink_panels import watermark_sim

    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return failed("No bound yet.", "Answer with a whole number of seconds, e.g. my_bound = 2.")
    arrived = lab.read(topic).sort_values(["partition", "offset"]).to_dict("records")
    if not arrived:
        return failed(f"{topic!r} is empty.", "Run the cell above the exercise first: it fills the topic.")

    def late(bound: float) -> int:
        return int(watermark_sim(arrived, bound, size)[0]["late"].sum())

    best = next(b for b in range(0, 3600) if late(b) == 0)
    if seconds < 0:
        return failed("A bound cannot be negative.", "The bound is how long the watermark stays behind.")
    if seconds != int(seconds):
        return failed(
            f"{seconds} is not a whole number of seconds.",
            "The question asks for whole seconds: which whole number is the smallest that loses nothing?",
        )
    if late(seconds) > 0:
        return failed(
            f"With {int(seconds)} s, {late(seconds)} event(s) still arrive after their window closed.",
            "Try larger bounds: look at the largest gap between an event's time and the watermark "
            "when it arrived.",
        )
    if seconds > best:
        return failed(
            f"No event is late with {int(seconds)} s - but every result then waits longer than it needs to.",
            "Try smaller bounds: which is the smallest that still loses nothing?",
        )
    return passed(f"{best} s: the smallest bound that loses no event - complete, and as fast as that allows.")


#: The lesson's job restarts a failed task every second for up to two minutes: long enough
#: for a killed TaskManager to be replaced on a busy laptop (the lab cluster's own default,
#: fixed-delay 10 x 1 s, can run out while a new TaskManager's JVM starts).
LESSON_08_RESTARTS = {
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "120",
    "restart-strategy.fixed-delay.delay": "1 s",
}


def lesson_08_exactly_once(  # noqa: ANN001 - a labkit.Lab
    lab,
    interval,
    sink_options,
    *,
    payments: str = "l08-ex-payments",
    totals: str = "l08-ex-totals",
    n: int = 120,
) -> Result:
    """Run the lesson's running-total job (Flink SQL: one count and sum per account) with
    the learner's checkpoint ``interval`` and Kafka sink options, kill its TaskManager
    halfway through the payments, and check what a ``read_committed`` reader sees: each
    account's running count 1, 2, 3, ... exactly once (none twice, none missing) and the
    right final totals.

    What the answer itself shows wrong (no checkpoints, at-least-once, balances instead of
    a configuration) gets its hint before anything runs: an at-least-once run may by chance
    write no duplicates, and must not pass. What Flink rejects is shown in Flink's words.
    A run takes ~30-60 s (a TaskManager restarts); the TaskManager is back when it returns.
    """
    if interval is None and not sink_options:
        return failed(
            "No answer yet.",
            "Set my_checkpoint_interval (a duration such as '500 ms') and my_sink_options "
            "(the Kafka sink's options).",
        )
    if _lesson_08_looks_like_balances(interval) or _lesson_08_looks_like_balances(sink_options):
        return failed(
            "Those look like the balances themselves, not a job's configuration.",
            "The check works the balances out itself, by running your job and killing its TaskManager: "
            "answer with the checkpoint interval and the sink's options.",
        )
    if not isinstance(sink_options, dict):
        return failed("my_sink_options must be a dict of Kafka sink options.", "e.g. {'sink.xxx': 'value'}")
    other = sorted(str(k) for k in sink_options if not str(k).startswith("sink."))
    if other:
        return failed(
            f"{other[0]!r} is not one of the sink's options.",
            "Only the options starting with 'sink.' are yours here; the check sets the topic, formats "
            "and servers.",
        )
    guarantee = str(sink_options.get("sink.delivery-guarantee", "")).strip().lower()
    if guarantee in ("", "at-least-once", "none"):
        default = "is not set, and the connector's default is 'at-least-once'"
        said = f"is {guarantee!r}" if guarantee else default
        return failed(
            f"The sink's delivery guarantee {said}.",
            "After a crash such a sink writes again what it wrote since the last checkpoint (section 4's "
            "duplicates) - even if one run happens to write none. Which guarantee uses Kafka transactions?",
        )
    if interval is None:
        return failed(
            "No checkpoint interval: Flink's default is no checkpoints at all.",
            "Without checkpoints a restarted job has no state to restore, and an exactly-once sink "
            "commits its Kafka transactions only when a checkpoint completes.",
        )
    ms = _lesson_08_ms(interval)
    if ms is None:
        return failed(f"Flink would not read {interval!r} as a duration.", "Write it like '2 s' or '500 ms'.")
    if ms < 10:
        return failed(f"{interval!r} is below Flink's smallest checkpoint interval, 10 ms.", "Try seconds.")
    if ms > 20_000:
        return failed(
            f"{interval} between checkpoints: read_committed readers would see each result up to that late.",
            "The check waits about 30 s for results: choose a few seconds.",
        )
    return _lesson_08_run(lab, str(interval), ms, sink_options, payments, totals, n)


def _lesson_08_looks_like_balances(answer) -> bool:  # noqa: ANN001
    """A dict of account -> number, a pandas object or a list of rows: a result, not options."""
    if hasattr(answer, "to_dict") or isinstance(answer, (list, tuple)):
        return True
    if isinstance(answer, dict) and answer:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in answer.values()) or any(
            str(k).startswith("acct-") for k in answer
        )
    return False


def _lesson_08_ms(interval) -> float | None:  # noqa: ANN001
    """A Flink duration ('2 s', '500ms', '1 min', a bare number: milliseconds) in ms, or None."""
    import re

    units = {"ms": 1, "millis": 1, "s": 1000, "sec": 1000, "second": 1000, "seconds": 1000}
    units.update({"m": 60_000, "min": 60_000, "minute": 60_000, "minutes": 60_000, "h": 3_600_000})
    if isinstance(interval, bool) or not isinstance(interval, (str, int)):
        return None
    found = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(interval).lower())
    if not found or found.group(2) not in {"", *units}:
        return None
    return int(found.group(1)) * units.get(found.group(2) or "ms", 1)


def _lesson_08_committed(lab, topic: str) -> list[dict]:  # noqa: ANN001
    """Every record of ``topic`` (one partition) that a read_committed reader sees, in order."""
    import time

    from kafka import TopicPartition

    from .kafka import closing

    with closing(lab.consumer(isolation_level="read_committed", enable_auto_commit=False)) as reader:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        reader.seek_to_beginning(tp)
        end = reader.end_offsets([tp])[tp]  # for read_committed: the last stable offset
        rows, deadline = [], time.monotonic() + 30
        while reader.position(tp) < end and time.monotonic() < deadline:
            rows += [r.value for r in reader.poll(200).get(tp, []) if r.value is not None]
    return rows


def _lesson_08_run(  # noqa: ANN001 - a labkit.Lab
    lab, interval: str, ms: float, sink_options: dict, payments: str, totals: str, n: int
) -> Result:
    """`lesson_08_exactly_once` once the answer looks like a configuration: run, kill, read."""
    import collections
    import time

    from . import events
    from .flink_panels import running_totals, wait_until_running

    sent = list(events.payments(n, seed=81, accounts=4))
    truth = running_totals(sent)
    counts = collections.Counter(p["account_id"] for p in sent)
    for topic in (payments, totals):
        lab.create_topic(topic, partitions=1, replace=True)
    t_env = lab.table_env()
    t_env.get_config().set("execution.checkpointing.interval", interval)
    for key, value in LESSON_08_RESTARTS.items():
        t_env.get_config().set(key, value)
    schema = "account_id STRING, amount DECIMAL(10, 2), tx_id STRING"
    lab.kafka_table(t_env, "payments", schema, topic=payments)
    options = {
        "connector": "upsert-kafka",
        "topic": totals,
        "properties.bootstrap.servers": lab.flink_bootstrap_servers,
        "key.format": "json",
        "value.format": "json",
        **{str(k): str(v) for k, v in sink_options.items()},
    }
    body = ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())
    try:
        t_env.execute_sql(
            "CREATE TABLE totals (account_id STRING, payments BIGINT, total DECIMAL(12, 2), "
            f"PRIMARY KEY (account_id) NOT ENFORCED) WITH (\n  {body}\n)"
        )
        result = t_env.execute_sql(
            "INSERT INTO totals SELECT account_id, COUNT(*), SUM(amount) FROM payments GROUP BY account_id"
        )
    except Exception as exc:  # noqa: BLE001 - Flink's own words are the hint
        return failed(f"Flink rejected the job: {_flink_reason(exc)}", "Which option does Flink ask for?")
    job = lab.start(result, "l08-exercise")
    killed = None
    try:
        wait_until_running(lab, job, timeout=120)
        half = n // 2
        lab.produce(payments, sent[:half], key="account_id")
        wait = 30 + 2 * ms / 1000
        deadline = time.monotonic() + wait
        while len(_lesson_08_committed(lab, totals)) < half and time.monotonic() < deadline:
            time.sleep(0.3)
        seen = len(_lesson_08_committed(lab, totals))
        if seen < half:
            return failed(
                f"After {wait:.0f} s a read_committed reader sees {seen} of the first {half} results.",
                f"An exactly-once sink's results become visible when a checkpoint completes: "
                f"see the job's checkpoints at {job.checkpoints_ui}",
            )
        killed = lab.kill_taskmanager()  # halfway through the payments
        lab.produce(payments, sent[half:], key="account_id")
        lab.start_taskmanager()
        restored = lab.wait_restored(job, after=killed["killed_at"], timeout=180)
        back = time.time() - killed["killed_at"]

        def done(rows: list[dict]) -> bool:
            last = {r["account_id"]: r["payments"] for r in rows}
            return all(last.get(acct) == c for acct, c in counts.items())

        deadline = time.monotonic() + 60 + 2 * ms / 1000
        rows = _lesson_08_committed(lab, totals)
        while not done(rows) and time.monotonic() < deadline:
            time.sleep(0.3)
            rows = _lesson_08_committed(lab, totals)
    finally:
        job.stop()
        if killed is not None:
            lab.start_taskmanager()  # the cluster as it was (a no-op if it already is)
    for acct, c in sorted(counts.items()):
        seq = [r["payments"] for r in rows if r["account_id"] == acct]
        twice = sorted(k for k, v in collections.Counter(seq).items() if v > 1)
        if twice:
            return failed(
                f"{acct}: a read_committed reader saw the running count(s) {twice[:5]} more than once.",
                "Which guarantee hides from read_committed readers what was written before the crash?",
            )
        if seq != list(range(1, c + 1)):
            return failed(
                f"{acct}: a read_committed reader saw {len(seq)} of its {c} results.",
                f"Were they committed? See the job's checkpoints at {job.checkpoints_ui}",
            )
    final = {acct: round(float(t), 2) for acct, t in ((r["account_id"], r["total"]) for r in rows)}
    if final != truth:
        return failed("Every result once, but the final totals are off.", "Is the sink's key the account?")
    return passed(
        f"Exactly once through a TaskManager kill: {len(rows)} results for {n} payments, each seen once by "
        f"read_committed, every total right. Restored from checkpoint {restored['id']}; running again "
        f"{back:.0f} s after the kill."
    )


def _flink_reason(exc: Exception) -> str:
    """The most specific line of a (Java) exception: its last 'Caused by', else its first line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by: ")]
    text = (causes or lines or [type(exc).__name__])[-1 if causes else 0]
    return text.split(": ", 1)[1] if text.count(": ") and text.split(": ", 1)[0].count(".") else text


# --- lesson 04b ----------------------------------------------------------------------


def lesson_04b_durable(  # noqa: ANN001 - a labkit.replication.Trio
    trio, replication_factor, min_insync_replicas, acks, *, topic: str = "l04b-exercise"
) -> Result:
    """A topic on the trio that keeps accepting writes while any one broker is down, and
    acknowledges a write only once it is on at least two brokers. Checked live: the topic
    is created with these settings, a leader is killed while producing, and every
    acknowledged event is counted back (see `labkit.replication.drill`)."""
    from .replication import drill

    if replication_factor is None or min_insync_replicas is None or acks is None:
        return failed(
            "Fill in the three settings first.",
            "replication_factor and min_insync_replicas are whole numbers; acks is 0, 1 or 'all'.",
        )
    if not isinstance(replication_factor, int) or not 1 <= replication_factor <= 3:
        return failed(f"replication_factor={replication_factor!r}?", "The trio has 3 brokers: 1 to 3 copies.")
    if not isinstance(min_insync_replicas, int) or not 1 <= min_insync_replicas <= replication_factor:
        return failed(
            f"min_insync_replicas={min_insync_replicas!r}?",
            "It counts copies in sync, the leader included: from 1 up to the replication factor.",
        )
    if acks not in (0, 1, "all", -1):
        return failed(f"acks={acks!r}?", "kafka-python takes acks=0, 1 or 'all'.")
    if acks == 0:
        return failed(
            "With acks=0 the producer never hears back, so nothing is ever acknowledged - or known lost.",
            "Which acks makes the leader wait for the in-sync replicas?",
        )
    print(
        f"creating {topic} (replication factor {replication_factor}, min.insync.replicas "
        f"{min_insync_replicas}), producing with acks={acks!r} and killing a leader (about 30 s)..."
    )
    got = drill(
        trio, topic, replication_factor=replication_factor, min_insync_replicas=min_insync_replicas, acks=acks
    )
    seen = (
        f"Broker {got['killed']} killed mid-produce: {got['acknowledged']} of {got['sent']} acknowledged, "
        f"{len(got['missing'])} acknowledged ones missing, {len(got['duplicates'])} duplicated."
    )
    if got["missing"]:
        return failed(seen, "Acknowledged writes were lost: who acknowledged them, with how many copies?")
    refused = got["sent"] - got["acknowledged"]
    if refused:
        errors = ", ".join(f"{n} x {e}" for e, n in got["errors"].items())
        if replication_factor == 1:
            hint = "With one copy, the partitions on the dead broker had no leader at all: more copies."
        else:
            left = replication_factor - 1
            hint = (
                f"With one broker down, {left} cop{'y is' if left == 1 else 'ies are'} left: fewer than "
                f"min.insync.replicas={min_insync_replicas}, so acks=all writes are refused."
            )
        return failed(f"{seen} {refused} writes failed ({errors}).", hint)
    if acks not in ("all", -1):
        return failed(
            f"{seen} Nothing lost this time - by luck.",
            "acks=1: the leader acknowledges before any follower has the event. Which acks waits for them?",
        )
    if min_insync_replicas < 2:
        return failed(
            f"{seen} Nothing lost this time.",
            "min.insync.replicas=1 lets the leader acknowledge alone once its followers fall out of the ISR.",
        )
    return passed(f"{seen} Every write kept going through the failure, and none was lost.")


# --- lesson 10 ---------------------------------------------------------------------

LESSON_10_TOOLS: dict[str, str] = {
    "keep every order event for 30 days so that three teams can read them at their own pace": "kafka",
    "count each user's clicks per minute inside an existing Java service, topic in, topic out, no cluster": (
        "kafka streams"
    ),
    "find accounts with three failed logins and then a password change, within 5 minutes": "flink",
    "join a Kafka stream with files in a data lake and write the result to a database": "flink",
    "let a new fraud rule re-read last week's payments": "kafka",
    "keep a running total per customer in a microservice, scaled by starting more copies of it": (
        "kafka streams"
    ),
}

_LESSON_10_WHY = {
    "kafka": "Is anything worked out here, or are events only kept and delivered?",
    "kafka streams": "Kafka in, Kafka out, inside an application you run yourself: which tool is a library?",
    "flink": "Does it need a pattern (MATCH_RECOGNIZE) or a source or sink that is not Kafka?",
}


def lesson_10_tools(answer: dict[str, str]) -> Result:
    """Each task to "kafka" (moving data), "kafka streams" (processing Kafka topics inside
    your own application) or "flink" (the full engine)."""
    expected = LESSON_10_TOOLS
    if not isinstance(answer, dict):
        return failed("Answer with a dict: task -> 'kafka', 'kafka streams' or 'flink'.")
    given = {t: str(v).strip().lower().replace("-", " ").replace("_", " ") for t, v in answer.items() if v}
    missing = [t for t in expected if t not in given]
    if missing:
        return failed(f"{len(missing)} task(s) not answered yet.", f"Still to choose: {missing[0]!r}.")
    unknown = [t for t in expected if given[t] not in ("kafka", "kafka streams", "flink")]
    if unknown:
        return failed(
            f"{given[unknown[0]]!r} is not one of the three tools.",
            "Use 'kafka', 'kafka streams' or 'flink'.",
        )
    wrong = [t for t, tool in expected.items() if given[t] != tool]
    if wrong:
        return failed(
            f"{len(expected) - len(wrong)} of {len(expected)} right.",
            f"Look again at {wrong[0]!r}. {_LESSON_10_WHY[expected[wrong[0]]]}",
        )
    return passed(
        "All right: Kafka moves data, Kafka Streams processes it inside your app, Flink is the engine."
    )


def lesson_10_windows(lab, rows, *, window_s: int, topic: str = "l10-clicks") -> Result:  # noqa: ANN001
    """How many (user, window) rows a tumbling count with ``window_s``-second windows
    gives for the clicks in ``topic`` (the closing clicks, ``closer-*``, left out)."""
    if rows is None or isinstance(rows, bool) or not isinstance(rows, (int, float)):
        return failed("No prediction yet.", "Answer with a number of rows, e.g. my_prediction = 120.")
    if not isinstance(window_s, int) or not 1 <= window_s <= 50:
        return failed(f"WINDOW_S is {window_s!r}.", "Pick a whole number of seconds from 1 to 50.")
    clicks = lab.read(topic)
    clicks = clicks[~clicks["event_id"].astype(str).str.startswith("closer-")]
    size = window_s * 1000
    truth = int(clicks.assign(w=clicks["ts"] // size).groupby(["user_id", "w"]).ngroups)
    if rows == truth:
        return passed(
            f"{truth} rows with {window_s} s windows: one per user and window with at least one click."
        )
    if rows == len(clicks):
        return failed(
            f"{rows} is the number of clicks, not of rows.",
            "A row is one user in one window, however many times they clicked in it.",
        )
    return failed(
        f"Not {rows}.",
        "Floor each click's ts to its window (ts // (WINDOW_S * 1000)), then count distinct "
        "(user_id, window) pairs.",
    )
