"""What a Kafka cluster holds right now, as plain tables: the explorer's data, no widgets.

`snapshot(admin)` asks the brokers, through kafka-python's admin client, what the Kafka
UIs show (kafbat/kafka-ui, Redpanda Console): brokers and the active controller; topics
with their partitions, log start and end offsets, size on disk and retention settings;
each partition's leader, replicas and in-sync replicas (ISR); consumer groups with their
state, members, assignment, committed offsets and lag per partition. One `Snapshot` is one
moment: its tables agree with each other (the lag is computed from the same end offsets
the topics table shows).

About ten requests per snapshot, however many topics: one metadata request for all topics,
one ListOffsets per leader for the start and one for the end offsets, one DescribeLogDirs
and one ListGroups per broker, one DescribeConfigs for all topics (only the settings
shown), one DescribeGroups and one OffsetFetch per group coordinator. An idle refresh
(nothing moved) skips the sizes and settings (see `snapshot`).

Two things the admin client says that a beginner would misread, and how they are shown:

* A dead broker is missing from ``describe_cluster`` but still named in the replica lists
  of its partitions: `Snapshot.brokers` lists it with ``alive=False`` (a broker the
  cluster expects back), and its partitions show it out of the ISR.
* In KRaft, the ``controller_id`` a client is told is just some broker (clients may not
  talk to controllers, KIP-590); the active controller is the leader of the metadata quorum
  (``describe_metadata_quorum``), which is what `Snapshot.controller` is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, OffsetSpec
from kafka.errors import ClusterAuthorizationFailedError

from ..errors import LabError

#: Sizes on disk and topic settings are asked at least this often (else only on a change).
SLOW_EVERY_S = 10.0
#: How long one leader may take to give its partitions' offsets.
OFFSETS_TIMEOUT_MS = 2000
#: The topic settings the explorer shows (the rest are in ``kafka-configs.sh --describe``).
SETTINGS = ("cleanup.policy", "retention.ms", "retention.bytes")

TOPIC_COLUMNS = ["topic", "partitions", "replication", "messages", "start", "end", "size_bytes", *SETTINGS]
PARTITION_COLUMNS = ["topic", "partition", "leader", "replicas", "isr", "start", "end", "size_bytes"]
BROKER_COLUMNS = ["broker", "address", "alive", "controller", "leaders", "replicas"]
GROUP_COLUMNS = ["group", "state", "members", "topics", "lag"]
LAG_COLUMNS = ["group", "topic", "partition", "member", "committed", "end", "lag"]


@dataclass
class Snapshot:
    """One moment of the cluster, as tables (pandas DataFrames, one row per thing).

    * ``brokers``: broker id, address (host:port, "" for a dead one), alive, controller
      (the active KRaft controller), how many partitions it leads and holds a replica of;
    * ``topics``: partitions, replication factor, messages (end - start: what is still
      stored; compaction and transactions leave gaps, so it can be fewer), the summed
      start/end offsets, size on disk (all replicas) and `SETTINGS`;
    * ``partitions``: leader (None: offline), replicas, ISR, start/end offsets, size of the
      leader's copy;
    * ``groups``: state (Stable, Empty, PreparingRebalance...), members, topics, total lag;
    * ``lag``: per group and partition, the member that owns it now, the committed offset
      (None: nothing committed yet), the end offset and the lag (end - committed).
    """

    taken: float
    brokers: pd.DataFrame
    topics: pd.DataFrame
    partitions: pd.DataFrame
    groups: pd.DataFrame
    lag: pd.DataFrame
    controller: int | None = None
    cluster_id: str = ""
    errors: list[str] = field(default_factory=list)
    # what a next snapshot may reuse (see `snapshot`)
    offsets: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict, repr=False)
    replica_sizes: dict[tuple[str, int, int], int] = field(default_factory=dict, repr=False)
    settings: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    slow_taken: float = 0.0
    # the login may not describe the cluster (a learner on a classroom's Kafka): not asked again
    quorum_refused: bool = False

    def end_offsets(self, topic: str) -> dict[int, int]:
        """``{partition: end offset}`` of ``topic`` at this moment."""
        rows = self.partitions[self.partitions.topic == topic]
        return {int(r.partition): int(r.end) for r in rows.itertuples() if r.end is not None}

    def group_lag(self, group: str) -> dict[tuple[str, int], int | None]:
        """``{(topic, partition): lag}`` of ``group`` (None where it committed nothing)."""
        rows = self.lag[self.lag.group == group]
        return {
            (r.topic, int(r.partition)): (None if pd.isna(r.lag) else int(r.lag)) for r in rows.itertuples()
        }


def snapshot(
    admin: Any, *, consumer: Any = None, previous: Snapshot | None = None, internal: bool = False
) -> Snapshot:
    """Ask the cluster behind ``admin`` (a ``KafkaAdminClient``) what it holds now.

    ``consumer`` (a ``KafkaConsumer`` with no group), when given, asks for the log start and
    end offsets: the same ListOffsets requests, at half the CPU (it keeps its metadata).
    ``previous`` (the last snapshot) lets an idle refresh skip the two slow questions: sizes
    on disk are asked again only when some offset moved, settings when the topics changed,
    and both at least every `SLOW_EVERY_S` seconds. ``internal=True`` also lists Kafka's own
    topics (``__consumer_offsets``...). Raises kafka-python's errors when the cluster cannot
    answer. (Plain lists until the end: pandas per topic would cost more than asking.)
    """
    taken = time.time()
    cluster = admin.describe_cluster()
    described = [t for t in admin.describe_topics() if internal or not t["name"].startswith("__")]
    names = [t["name"] for t in described]
    parts = _partitions(described)
    errors: list[str] = []
    offsets = _offsets(admin, consumer, parts, previous, errors)
    fresh = previous is None or taken - previous.slow_taken >= SLOW_EVERY_S
    sizes = previous.replica_sizes if previous is not None else {}
    if fresh or previous is None or offsets != previous.offsets:
        sizes = _replica_sizes(admin, _alive(cluster), sizes, errors) if parts else {}
    settings = previous.settings if previous is not None else {}
    if fresh or previous is None or sorted(settings) != sorted(names):
        settings = _settings(admin, names)
    for p in parts:
        p["start"], p["end"] = offsets.get((p["topic"], p["partition"]), (None, None))
        p["size_bytes"] = _leader_size(sizes, p)
    quorum_refused = previous is not None and previous.quorum_refused
    controller = None
    if not quorum_refused:
        try:
            controller = _active_controller(admin, errors)
        except ClusterAuthorizationFailedError:  # the instructor's to see, not a learner's
            quorum_refused = True
    brokers = _brokers(cluster, parts, controller)
    topics = _topics(parts, settings, _disk_sizes(sizes))
    try:
        groups, lag = _groups(admin, parts, _alive(cluster))
    except Exception as exc:  # noqa: BLE001 - a group coordinator down: its groups as last seen
        errors.append(f"consumer groups: no answer ({type(exc).__name__}); last known ones shown")
        groups = previous.groups if previous is not None else pd.DataFrame(columns=GROUP_COLUMNS)
        lag = previous.lag if previous is not None else pd.DataFrame(columns=LAG_COLUMNS)
    partitions = pd.DataFrame(parts, columns=PARTITION_COLUMNS)
    partitions["leader"] = partitions["leader"].astype(object).where(partitions["leader"].notna(), None)
    return Snapshot(
        taken,
        brokers,
        topics,
        partitions,
        groups,
        lag,
        controller,
        cluster.get("cluster_id") or "",
        errors,
        offsets=offsets,
        replica_sizes=sizes,
        settings=settings,
        slow_taken=taken if fresh else previous.slow_taken if previous is not None else taken,
        quorum_refused=quorum_refused,
    )


def _offsets(
    admin: Any, consumer: Any, parts: list[dict], previous: Snapshot | None, errors: list[str]
) -> dict[tuple[str, int], tuple[int, int]]:
    """``{(topic, partition): (log start, end)}``, asked of each leader separately and briefly
    (`OFFSETS_TIMEOUT_MS`): a broker that has just died is still the leader in the metadata
    until the controller notices, and must not stall the whole refresh. Its partitions keep
    their last known offsets (the errors say so); one never known is left out."""
    by_leader: dict[int | None, list[TopicPartition]] = {}
    for p in parts:
        by_leader.setdefault(p["leader"], []).append(TopicPartition(p["topic"], p["partition"]))
    known = previous.offsets if previous is not None else {}
    offsets: dict[tuple[str, int], tuple[int, int]] = {}
    for leader, tps in sorted(by_leader.items(), key=lambda item: -1 if item[0] is None else item[0]):
        try:
            if leader is None:
                raise LabError(f"{len(tps)} partitions have no leader (offline)")
            if consumer is not None:
                first = consumer.beginning_offsets(tps, timeout_ms=OFFSETS_TIMEOUT_MS)
                end = consumer.end_offsets(tps, timeout_ms=OFFSETS_TIMEOUT_MS)
                found = {(tp.topic, tp.partition): (first[tp], end[tp]) for tp in tps}
            else:
                first = admin.list_partition_offsets(
                    dict.fromkeys(tps, OffsetSpec.EARLIEST), timeout_ms=OFFSETS_TIMEOUT_MS
                )
                end = admin.list_partition_offsets(
                    dict.fromkeys(tps, OffsetSpec.LATEST), timeout_ms=OFFSETS_TIMEOUT_MS
                )
                found = {(tp.topic, tp.partition): (first[tp].offset, end[tp].offset) for tp in tps}
        except Exception as exc:  # noqa: BLE001 - one leader down: the rest of the picture stands
            who = "" if leader is None else f"broker {leader} (leader of {len(tps)} partitions): "
            errors.append(f"{who}no offsets ({type(exc).__name__}: {exc}); last known ones shown")
            found = {k: known[k] for k in ((tp.topic, tp.partition) for tp in tps) if k in known}
        offsets.update(found)
    return offsets


def _partitions(described: list[dict]) -> list[dict]:
    """One dict per partition (`PARTITION_COLUMNS`), sorted by topic and partition."""
    rows = []
    for t in sorted(described, key=lambda t: t["name"]):
        for p in sorted(t["partitions"], key=lambda p: p["partition_index"]):
            leader = p["leader_id"]
            rows.append(
                {
                    "topic": t["name"],
                    "partition": p["partition_index"],
                    "leader": None if leader < 0 else leader,
                    "replicas": list(p["replica_nodes"]),
                    "isr": sorted(p["isr_nodes"]),
                    "start": 0,
                    "end": 0,
                    "size_bytes": 0,
                }
            )
    return rows


def _alive(cluster: dict) -> list[int]:
    """The brokers that answer (a dead one is asked nothing: its request would only time out)."""
    return sorted(b["broker_id"] for b in cluster.get("brokers") or [] if not b.get("is_fenced"))


def _replica_sizes(
    admin: Any, brokers: list[int], known: dict[tuple[str, int, int], int], errors: list[str]
) -> dict[tuple[str, int, int], int]:
    """``{(topic, partition, broker): bytes}`` for every replica ``brokers`` hold, asked of each
    broker alone (one that has just died keeps its last known sizes; the errors say so)."""
    sizes: dict[tuple[str, int, int], int] = {}
    for broker in brokers:
        try:
            answer = admin.describe_log_dirs(brokers=[broker])
        except Exception as exc:  # noqa: BLE001 - a broker down: the others still answer
            errors.append(f"broker {broker}: no sizes ({type(exc).__name__}); last known ones shown")
            sizes.update({k: v for k, v in known.items() if k[2] == broker})
            continue
        for log_dir in answer[0].get("log_dirs") or []:
            for t in log_dir.get("topics") or []:
                for p in t["partitions"]:
                    sizes[(t["name"], p["partition_index"], broker)] = p["partition_size"]
    return sizes


def _leader_size(sizes: dict[tuple[str, int, int], int], p: dict) -> int:
    """A partition's size: its leader's copy (a partition without a leader: its largest)."""
    leader = sizes.get((p["topic"], p["partition"], p["leader"]))
    held = [sizes.get((p["topic"], p["partition"], b), 0) for b in p["replicas"]]
    return leader if leader is not None else max(held, default=0)


def _disk_sizes(sizes: dict[tuple[str, int, int], int]) -> dict[str, int]:
    """Bytes on disk per topic, summed over every replica on every live broker."""
    totals: dict[str, int] = {}
    for (topic, _, _), size in sizes.items():
        totals[topic] = totals.get(topic, 0) + size
    return totals


def _settings(admin: Any, topics: list[str]) -> dict[str, dict[str, str]]:
    """`SETTINGS` of each topic, its own value or the broker's default."""
    if not topics:
        return {}
    wanted = dict.fromkeys(SETTINGS)
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, dict(wanted)) for t in topics]
    described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    return {t: {k: v.get("value") for k, v in configs.items()} for t, configs in described.items()}


def _topics(parts: list[dict], settings: dict[str, dict[str, str]], disk: dict[str, int]) -> pd.DataFrame:
    by_topic: dict[str, list[dict]] = {}
    for p in parts:
        by_topic.setdefault(p["topic"], []).append(p)
    rows = []
    for topic, mine in by_topic.items():
        own = settings.get(topic, {})
        known = [p for p in mine if p["end"] is not None]
        starts, ends = sum(p["start"] for p in known), sum(p["end"] for p in known)
        rows.append(
            {
                "topic": topic,
                "partitions": len(mine),
                "replication": max(len(p["replicas"]) for p in mine),
                "messages": ends - starts,
                "start": starts,
                "end": ends,
                "size_bytes": disk.get(topic, sum(p["size_bytes"] for p in mine)),
                **{k: own.get(k) for k in SETTINGS},
            }
        )
    return pd.DataFrame(rows, columns=TOPIC_COLUMNS)


def _brokers(cluster: dict, parts: list[dict], controller: int | None) -> pd.DataFrame:
    listed = {b["broker_id"]: f"{b['host']}:{b['port']}" for b in cluster.get("brokers") or []}
    alive = {b: listed[b] for b in _alive(cluster)}  # a fenced broker is listed, but dead to the cluster
    named = {b for p in parts for b in p["replicas"]} | set(listed)
    rows = []
    for broker in sorted(set(alive) | named):
        rows.append(
            {
                "broker": broker,
                "address": listed.get(broker, ""),
                "alive": broker in alive,
                "controller": broker == controller,
                "leaders": sum(p["leader"] == broker for p in parts),
                "replicas": sum(broker in p["replicas"] for p in parts),
            }
        )
    return pd.DataFrame(rows, columns=BROKER_COLUMNS)


def _active_controller(admin: Any, errors: list[str]) -> int | None:
    """The KRaft quorum's leader: the controller that is acting now. Raises
    ``ClusterAuthorizationFailedError`` for a login that may not ask (a classroom's learner:
    Kafka logs each refusal, so the explorer stops asking)."""
    try:
        quorum = admin.describe_metadata_quorum()
        leader = quorum["topics"][0]["partitions"][0]["leader_id"]
    except ClusterAuthorizationFailedError:
        raise
    except Exception as exc:  # noqa: BLE001 - shown, not fatal: the rest of the picture stands
        errors.append(f"the metadata quorum did not answer: {exc}")
        return None
    return None if leader < 0 else int(leader)


def _groups(admin: Any, parts: list[dict], brokers: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    listed = admin.list_groups(broker_ids=brokers)
    ids = sorted(g["group_id"] for g in listed if g.get("protocol_type") in ("consumer", ""))
    if not ids:
        return pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=LAG_COLUMNS)
    described = admin.describe_groups(ids)
    committed = admin.list_group_offsets(ids)
    ends = {(p["topic"], p["partition"]): p["end"] for p in parts if p["end"] is not None}
    groups, lag = [], []
    for group in ids:
        info = described.get(group) or {}
        owner = _owners(info)
        offsets = {(tp.topic, tp.partition): om.offset for tp, om in (committed.get(group) or {}).items()}
        watched = sorted(set(offsets) | set(owner))
        total = 0
        for topic, partition in watched:
            if (topic, partition) not in ends:
                continue  # a deleted topic's old commits
            done = offsets.get((topic, partition))
            done = None if done is None or done < 0 else done
            behind = None if done is None else max(ends[(topic, partition)] - done, 0)
            total += behind or 0
            row = (
                group,
                topic,
                partition,
                owner.get((topic, partition), ""),
                done,
                ends[(topic, partition)],
                behind,
            )
            lag.append(row)
        groups.append(
            {
                "group": group,
                "state": info.get("group_state", ""),
                "members": len(info.get("members") or []),
                "topics": ", ".join(sorted({t for t, _ in watched if (t, _) in ends})),
                "lag": total,
            }
        )
    lag_df = pd.DataFrame(lag, columns=LAG_COLUMNS)
    for column in ("committed", "lag"):
        lag_df[column] = lag_df[column].astype(object).where(lag_df[column].notna(), None)
    return pd.DataFrame(groups, columns=GROUP_COLUMNS), lag_df


def _owners(group: dict) -> dict[tuple[str, int], str]:
    """``{(topic, partition): member}``: who in the group reads each partition now."""
    owner = {}
    for member in group.get("members") or []:
        name = f"{member.get('client_id', '')} {member.get('client_host', '')}".strip() or member["member_id"]
        assignment = member.get("member_assignment") or {}
        for assigned in assignment.get("assigned_partitions") or []:
            for partition in assigned["partitions"]:
                owner[(assigned["topic"], partition)] = name
    return owner
