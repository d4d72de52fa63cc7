"""The explorer on lesson 04b's three brokers: leaders, replicas and ISR shown equal what the
metadata says at that moment, and killing a broker changes the picture (and restarting it
changes it back)."""

from __future__ import annotations

import pandas as pd

from labkit import replication
from labkit.explorer import brokers
from labkit.runtime import trio as trio_processes
from labkit.waiting import wait_for


def shown(snap) -> pd.DataFrame:
    parts = snap.partitions[["topic", "partition", "leader", "replicas", "isr"]].copy()
    parts["replicas"] = parts.replicas.map(sorted)
    return parts.reset_index(drop=True)


def test_killing_a_broker_of_the_trio_changes_the_picture_and_its_return_changes_it_back(lab):
    trio = replication.start(quiet=True)
    explorer = None
    try:
        topic = trio.create_topic("xp-isr", partitions=3, replace=True, replication_factor=3)
        full = lambda d: d.leader.notna().all() and (d.isr.map(len) == 3).all()  # noqa: E731
        trio.wait_for(topic, full, "full ISRs", 30)
        explorer = trio.explore(every=60)
        snap = explorer.refresh()
        assert snap is not None
        assert shown(snap).query("topic == @topic").reset_index(drop=True).equals(trio.leaders(topic))
        assert list(snap.brokers.broker) == [1, 2, 3] and snap.brokers.alive.all()
        assert snap.controller == trio_processes.CONTROLLER  # the KRaft quorum's leader
        assert explorer.brokers_line.value.startswith("brokers up [1, 2, 3], down [], controller 1")
        pictures = explorer.pictures

        partition, victim = trio.leader_to_kill(topic)
        trio.kill(victim)

        def without_victim():
            later = explorer.refresh()
            if later is None:
                return None
            isr_free = all(victim not in isr for isr in later.partitions.isr)
            down = not later.brokers.set_index("broker").loc[victim, "alive"]
            return later if isr_free and down else None

        later = wait_for(without_victim, f"broker {victim} to leave every ISR", 60)
        now = trio.leaders(topic)
        assert shown(later).query("topic == @topic").reset_index(drop=True).equals(now)
        assert victim not in set(later.partitions.leader)  # its partitions have new leaders
        assert int(later.brokers.set_index("broker").loc[victim, "replicas"]) == 3  # still named
        assert f"down [{victim}]" in explorer.brokers_line.value
        assert "replicas out of the ISR" in explorer.brokers_line.value
        assert explorer.pictures > pictures
        assert f"{len(later.brokers) - 1} of 3 brokers up" in explorer.header.value
        row = later.partitions.query("topic == @topic and partition == @partition").iloc[0]
        assert brokers.cell(row, victim) == "behind" and brokers.cell(row, int(row.leader)) == "leader"

        trio.restart(victim)
        def all_back():
            s = explorer.refresh()
            return s if s is not None and all(len(isr) == 3 for isr in s.partitions.isr) else None

        back = wait_for(all_back, f"broker {victim} back in every ISR", 90)
        assert back.brokers.alive.all()
        assert shown(back).query("topic == @topic").reset_index(drop=True).equals(trio.leaders(topic))
    finally:
        if explorer is not None:
            explorer.stop()
        trio.stop(quiet=True)
