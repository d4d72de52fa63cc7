"""The explorer's figures for ``make bench`` (:mod:`labkit.bench` prints them with the rest).

* a refresh with 50 topics x 4 partitions and 10 consumer groups: a *full* one (sizes and
  settings asked too, as after a change) and an idle one (nothing moved);
* the message browser opening a partition at an offset, up to its first page, with a new
  consumer each time (the first Show of an explorer) and with the one it keeps;
* a real notebook kernel's CPU while an explorer and a job view are open on an idle lab.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from ..kafka import closing
from ..kernels import started_kernel
from ..waiting import wait_for
from .cluster import snapshot
from .messages import MessageBrowser

if TYPE_CHECKING:
    from ..lab import Lab

TOPICS, PARTITIONS, GROUPS, EVENTS, REPEATS = 50, 4, 10, 40, 15
#: Seconds the kernel's CPU is measured (after the panels' first refreshes).
IDLE_SECONDS = 30


def _ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def make_cluster(lab: Lab) -> list[str]:
    """50 topics of 4 partitions with a few events each, and 10 groups that committed."""
    names = [
        lab.create_topic(f"bench-xp-{i:02d}", partitions=PARTITIONS, replace=True) for i in range(TOPICS)
    ]
    producer = lab.producer()
    for name in names:
        for n in range(EVENTS):
            producer.send(name, {"n": n}, key=str(n))
    producer.flush()
    producer.close()
    for g in range(GROUPS):
        group = f"bench-xp-group-{g}"
        lab.delete_groups(group)
        consumer = lab.consumer(names[g], group_id=group, enable_auto_commit=False)

        def read(c: Any = consumer) -> int:
            return sum(len(v) for v in c.poll(timeout_ms=500).values())

        wait_for(read, f"group {group} to read", 60)
        consumer.commit()
        consumer.close()
    return names


def refresh_and_browse(lab: Lab) -> dict[str, Any]:
    """The refresh and first-page figures (ms): lists of `REPEATS` measurements each."""
    names = make_cluster(lab)
    with closing(lab.admin()) as admin, closing(lab.consumer(enable_auto_commit=False)) as offsets:
        first = snapshot(admin, consumer=offsets)
        assert len(first.topics) >= TOPICS and len(first.groups) >= GROUPS
        full = [_ms(lambda: snapshot(admin, consumer=offsets)) for _ in range(REPEATS)]
        idle = [_ms(lambda: snapshot(admin, consumer=offsets, previous=first)) for _ in range(REPEATS)]
    fresh, kept = [], []
    browser = MessageBrowser(lab)
    try:
        for i in range(REPEATS):
            new = MessageBrowser(lab)
            fresh.append(_ms(lambda n=new, i=i: n.open(names[i], i % PARTITIONS, 3)))
            new.close()
            kept.append(_ms(lambda i=i: browser.open(names[i], i % PARTITIONS, 3)))
    finally:
        browser.close()
    return {"refresh_full_ms": full, "refresh_idle_ms": idle, "page_fresh_ms": fresh, "page_kept_ms": kept}


def idle_job_sql(lab: Lab) -> str:
    """A ``%%flink_sql`` cell whose INSERT job reads a topic nobody writes to (an idle job).
    Kafka's address (and a secured Kafka's login) is ``{lab.flink_kafka_connection}``, which
    the cell fills from the kernel's ``lab``: no login is written into the kernel's code."""
    topic = lab.create_topic("bench-idle", partitions=2, replace=True)
    return (
        "CREATE TABLE idle_src (n INT) WITH ('connector' = 'kafka', 'topic' = '"
        + topic
        + "', {lab.flink_kafka_connection}, 'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n"
        "CREATE TABLE idle_sink (n INT) WITH ('connector' = 'blackhole');\n"
        "INSERT INTO idle_sink SELECT n FROM idle_src WHERE n > 0"
    )


KERNEL_SETUP = """
import labkit, time
lab = labkit.connect(quiet=True)
from IPython.display import display
job = get_ipython().run_cell_magic('flink_sql', '', '''{sql}''')
explorer = lab.explore()
view = lab.job_view(job)
display(explorer, view)
"""
KERNEL_CHECK = (
    "assert explorer.refreshes >= 3 and explorer.thread.is_alive() and view.refreshes >= 3, 'not live'"
)
KERNEL_STOP = "explorer.stop(); view.stop(); job.stop()"


def idle_kernel_cpu(lab: Lab, sql: str) -> dict[str, Any]:
    """A real kernel shows an explorer and the job view of ``sql``'s job (an INSERT reading
    a topic nobody writes to) while nothing happens: its CPU, as % of one core."""
    import psutil

    with started_kernel() as (manager, client):
        quiet = lambda msg: None  # noqa: E731 - the cells' outputs are not wanted here
        run = lambda code: client.execute_interactive(code, timeout=180, output_hook=quiet)  # noqa: E731
        reply = run(KERNEL_SETUP.format(sql=sql))
        assert reply["content"]["status"] == "ok", reply["content"]
        kernel = psutil.Process(manager.provisioner.process.pid)
        wait_for(lambda: run(KERNEL_CHECK)["content"]["status"] == "ok", "the panels' first refreshes", 60)
        before, t0 = kernel.cpu_times(), time.monotonic()
        time.sleep(IDLE_SECONDS)  # the measurement itself: the kernel is left alone meanwhile
        after, elapsed = kernel.cpu_times(), time.monotonic() - t0
        run(KERNEL_STOP)
    used = (after.user + after.system) - (before.user + before.system)
    return {"cpu_percent": 100 * used / elapsed, "seconds": elapsed}


def summary(raw: dict[str, Any]) -> dict[str, float | None]:
    """Medians (ms) of `refresh_and_browse`'s lists."""
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {k: med(v) for k, v in raw.items()}
