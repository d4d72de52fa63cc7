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


def lesson_03_lag(lag_fn) -> Result:  # noqa: ANN001 - the learner's function
    """Exercise 03: ``lag_fn(end_offsets, committed) -> {partition: lag}`` where a
    partition the group never committed (None) is read from offset 0."""
    cases = [
        ({0: 10, 1: 5}, {0: 4, 1: 5}, {0: 6, 1: 0}),
        ({0: 7, 1: 3, 2: 0}, {0: 7, 1: None, 2: None}, {0: 0, 1: 3, 2: 0}),
        ({0: 100}, {0: None}, {0: 100}),
    ]
    for ends, committed, want in cases:
        try:
            got = lag_fn(dict(ends), dict(committed))
        except Exception as exc:  # noqa: BLE001 - any error is a hint, not a crash
            if isinstance(exc, TypeError) and "None" in str(exc):
                return failed(
                    f"Your function raised {exc!r}.",
                    "A partition the group never committed has committed offset None: the group "
                    "would start it from the beginning, so all its events are lag.",
                )
            return failed(f"Your function raised {exc!r} for end offsets {ends} and committed {committed}.")
        if got is None:
            return failed("Your function returned None.", "Return a dict: partition -> lag.")
        if not isinstance(got, dict) or set(got) != set(ends):
            return failed(f"For end offsets {ends} you returned {got!r}.", "Return one entry per partition.")
        if got != want:
            wrong = next(p for p in want if got.get(p) != want[p])
            if got.get(wrong) == -want[wrong]:
                hint = "Lag is how far the group is *behind*: end offset minus committed offset."
            elif committed[wrong] is None:
                hint = "Committed None means nothing was processed yet: the lag is every event in it."
            else:
                hint = "Lag = end offset - committed offset, per partition."
            return failed(
                f"Partition {wrong}: end {ends[wrong]}, committed {committed[wrong]}: you said "
                f"{got.get(wrong)}, the lag is {want[wrong]}.",
                hint,
            )
    return passed("Your lag matches for every case, including never-committed partitions.")


def lesson_04_since(lab, topic: str, since_ms: int, answer) -> Result:  # noqa: ANN001
    """Exercise 04: the change of each account's balance (cents) from the events stored
    at or after ``since_ms``, found with ``offsets_for_times`` and ``seek``."""
    from kafka import TopicPartition

    if not isinstance(answer, dict) or not answer:
        return failed(
            "Answer with a dict: account_id -> change in cents.",
            "consumer.offsets_for_times({tp: since for tp in partitions}) tells you where to seek.",
        )
    ends = lab.end_offsets(topic)
    tps = [TopicPartition(topic, p) for p in ends]
    consumer = lab.consumer(enable_auto_commit=False)
    try:
        found = consumer.offsets_for_times({tp: since_ms for tp in tps})
    finally:
        consumer.close()
    start = {
        tp.partition: (hit.offset if hit is not None else ends[tp.partition])  # None: nothing since
        for tp, hit in found.items()
    }
    df = lab.read(topic)
    want: dict[str, int] = {}
    everything: dict[str, int] = {}
    for row in df.to_dict("records"):
        everything[row["account_id"]] = everything.get(row["account_id"], 0) + row["amount_cents"]
        if row["offset"] >= start[row["partition"]]:
            want[row["account_id"]] = want.get(row["account_id"], 0) + row["amount_cents"]
    got = {str(k): v for k, v in answer.items()}
    if got == want:
        return passed(f"Right: replaying from offsets {start} (partition: offset) rebuilds exactly that.")
    if got == everything:
        return failed(
            "That is every event in the topic, not only those since the time mark.",
            "Seek each partition to the offset offsets_for_times returns before reading.",
        )
    if any(isinstance(v, float) for v in got.values()):
        return failed("Some amounts are floats.", "Sum amount_cents as whole numbers (int).")
    if set(got) < set(want) or sum(got.values()) != sum(want.values()):
        return failed(
            "Some events are missing or counted twice.",
            "Read every partition from its own start offset up to the log end (lab.end_offsets).",
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


def lesson_07_bound(lab, seconds, *, topic: str = "l07-clicks", size: float = 5) -> Result:
    """The smallest whole number of seconds of watermark bound for which the 5 s tumbling
    windows over ``topic`` (events in the order they arrived) drop no event as late."""
    from .flink_panels import watermark_sim

    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return failed("No bound yet.", "Answer with a number of seconds, e.g. my_bound = 3.")
    arrived = lab.read(topic).sort_values(["partition", "offset"]).to_dict("records")

    def late(bound: float) -> int:
        return int(watermark_sim(arrived, bound, size)[0]["late"].sum())

    best = next(b for b in range(0, 3600) if late(b) == 0)
    if late(seconds) > 0:
        return failed(
            f"With {seconds} s, {late(seconds)} event(s) still arrive after their window closed.",
            "Look at the largest gap between an event's time and the watermark when it arrived.",
        )
    if seconds > best:
        return failed(
            f"No event is late with {seconds} s - but every result then waits longer than it needs to.",
            "Try smaller bounds: which is the smallest that still loses nothing?",
        )
    return passed(f"{best} s: the smallest bound that loses no event - complete, and as fast as that allows.")


def lesson_08_totals(lab, answer, *, payments: str = "l08-payments", totals: str = "l08-totals") -> Result:
    """Each account's final balance, read from the at-least-once output ``totals`` (which
    holds duplicates after the failure): a dict account_id -> total."""
    from .flink_panels import running_totals

    if not isinstance(answer, dict) or not answer:
        return failed("No answer yet.", "Answer with a dict: account_id -> final total.")
    truth = running_totals(lab.read(payments).to_dict("records"))
    got = {str(k): round(float(v), 2) for k, v in answer.items()}
    if got == truth:
        return passed("Exactly right, despite the duplicates: the last running total per account wins.")
    if set(got) != set(truth):
        return failed(f"{len(truth)} accounts expected, you have {len(got)}.", "One entry per account_id.")
    out = lab.read(totals)
    summed = out.groupby("account_id")["amount"].sum() if "amount" in out else {}
    if got == {k: round(v, 2) for k, v in dict(summed).items()}:
        return failed(
            "Those sums count the replayed payments twice.",
            "Each output record already carries the running total: keep the last one per account.",
        )
    return failed(
        "Not the final balances.", "Sort by offset and keep the last `total` of each account_id."
    )
