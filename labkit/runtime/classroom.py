"""``labkit classroom up``: one secured Kafka for a class, a login of their own for each learner.

A workshop shares one Kafka - the highway every learner's own Flink reads - and must not
let one learner read, change or delete another's work. This is three KRaft nodes (each a
broker and a controller, :mod:`labkit.runtime.secure_kafka`'s SASL_SSL-only brokers) with
Kafka's ``StandardAuthorizer`` on, and:

- SCRAM users ``learner-01`` .. ``learner-NN`` and ``instructor`` (and ``admin``, the
  brokers' own login, which nobody is handed);
- ACLs (Kafka's own, kept in the cluster's metadata): each learner may do everything with
  the topics, consumer groups and transactional ids that start with their prefix
  (``learner-01.``) and may read - not write, not delete - the shared topics
  (``shared.``), which the instructor streams into; nothing else. The instructor may read,
  write and describe every topic and group (the class's lag), but not change users or ACLs;
- one connection profile per learner in ``LABKIT_HOME/classroom/profiles/`` (with their
  ``topic_prefix``, so their lab adds it to the names lessons use) beside a copy of the
  CA: the folder an instructor hands out, one file per learner (the instructor's
  own profile is ``LABKIT_HOME/classroom/instructor.json``, outside it).

Kafka answers a learner who reaches past their prefix with ``TopicAuthorizationFailedError``
or ``GroupAuthorizationFailedError``; a topic they may not see is left out of their topic
list. ``labkit classroom lag`` (`lag`) is the instructor's view: every group's lag, per
learner. Each learner runs their own Flink (the default: nothing of one learner's jobs is
visible to another); no shared Flink is offered.

On one machine the brokers listen on 127.0.0.1 only (tests, a rehearsal); serving a room
over the network is `labkit join`'s work (issue #24, part 4).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LabError
from . import profile as profiles
from . import secure_kafka

if TYPE_CHECKING:
    import pandas as pd
    from kafka import KafkaAdminClient
    from kafka.admin import ACL

#: The classroom cluster: three nodes, ACLs on (``LABKIT_HOME/classroom``, ``classroom-1..3``).
INSTRUCTOR = "instructor"
LAYOUT = secure_kafka.Layout(
    "classroom", nodes=3, acls=True, reset_hint="`labkit classroom reset`", kept=("admin", INSTRUCTOR)
)
#: Topics every learner may read, and only the instructor write.
SHARED_PREFIX = "shared."
SHARED_TOPICS = ("shared.payments", "shared.clicks")
MAX_LEARNERS = 99
PARTITIONS = 3
LEARNER = re.compile(r"learner-\d\d")


def learner_names(n: int) -> list[str]:
    """``learner-01`` .. ``learner-NN``."""
    if not 1 <= n <= MAX_LEARNERS:
        raise LabError(f"A classroom has 1 to {MAX_LEARNERS} learners, not {n}.")
    return [f"learner-{i:02d}" for i in range(1, n + 1)]


def prefix(user: str) -> str:
    """What ``user``'s topics, groups and transactional ids start with (``learner-01.``)."""
    return f"{user}."


@dataclass(frozen=True)
class Classroom:
    """The running classroom cluster: its brokers (`kafka`), its learners, its shared topics."""

    kafka: secure_kafka.SecureKafka
    shared: tuple[str, ...] = SHARED_TOPICS

    @property
    def learners(self) -> tuple[str, ...]:
        return tuple(u for u in self.kafka.users if LEARNER.fullmatch(u))

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def handout(self) -> Path:
        """The folder to hand out: one profile per user and the CA they name."""
        return self.kafka.layout.folder() / "profiles"

    def profile_path(self, user: str) -> Path:
        return self.kafka.profile_path(user)

    def profile(self, user: str) -> profiles.Profile:
        return self.kafka.profile(user)


# --- the ACLs ----------------------------------------------------------------------------


def learner_acls(user: str) -> list[ACL]:
    """What ``user`` may do: everything under their prefix, and read the shared topics."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern
    from kafka.admin import ResourceType as R

    def allow(kind: R, name: str, operation: ACLOperation) -> ACL:
        pattern = ResourcePattern(kind, name, ACLResourcePatternType.PREFIXED)
        return ACL(f"User:{user}", "*", operation, ACLPermissionType.ALLOW, pattern)

    own = [allow(kind, prefix(user), ACLOperation.ALL) for kind in (R.TOPIC, R.GROUP, R.TRANSACTIONAL_ID)]
    shared = [allow(R.TOPIC, SHARED_PREFIX, op) for op in (ACLOperation.READ, ACLOperation.DESCRIBE)]
    return own + shared


def instructor_acls(user: str = INSTRUCTOR) -> list[ACL]:
    """Every topic and group (the wildcard ``*``), and describing the cluster; not ACLs or users."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern
    from kafka.admin import ResourceType as R

    def allow(kind: R, name: str, operation: ACLOperation) -> ACL:
        pattern = ResourcePattern(kind, name, ACLResourcePatternType.LITERAL)
        return ACL(f"User:{user}", "*", operation, ACLPermissionType.ALLOW, pattern)

    every = [allow(kind, "*", ACLOperation.ALL) for kind in (R.TOPIC, R.GROUP, R.TRANSACTIONAL_ID)]
    return [*every, allow(R.CLUSTER, "kafka-cluster", ACLOperation.DESCRIBE)]


def _admin(handle: secure_kafka.SecureKafka) -> KafkaAdminClient:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**profiles.kafka_python_options(handle.profile(secure_kafka.ADMIN)))


def _grant(admin: KafkaAdminClient, acls: list[ACL]) -> None:
    """Create ``acls`` (creating one that exists changes nothing); a clear error if Kafka refuses one."""
    failed = admin.create_acls(acls).get("failed") or []  # kafka-python 3.0: the errors alone
    if failed:
        raise LabError(f"Kafka refused {len(failed)} of the classroom's {len(acls)} ACLs: {failed[0]}")


def _create_shared(admin: KafkaAdminClient, topics: tuple[str, ...]) -> None:
    from kafka.admin import NewTopic

    missing = [t for t in topics if t not in set(admin.list_topics())]
    if missing:
        admin.create_topics([NewTopic(t, PARTITIONS, 3) for t in missing])


# --- starting, stopping ------------------------------------------------------------------


def layout(host: str | None = None) -> secure_kafka.Layout:
    """The classroom's `LAYOUT` on ``host`` - the address its brokers serve on: 127.0.0.1 (one
    machine) unless given, or unless the classroom was started on another (remembered in
    its folder, ``host``), so that other machines' brokers can join (`join_bundle`)."""
    saved = LAYOUT.folder() / "host"
    host = host or (saved.read_text().strip() if saved.is_file() else None)
    return dataclasses.replace(LAYOUT, host=host) if host else LAYOUT


def start(
    learners: int, shared: tuple[str, ...] = SHARED_TOPICS, quiet: bool = True, host: str | None = None
) -> Classroom:
    """The classroom cluster with ``learners`` learners, started if it is not running (users,
    CA and log folders made the first time), its ACLs and shared topics in place. Needs the
    lab's state (`labkit up`), where its brokers are recorded: `labkit down` stops them.
    ``host``: the address to serve on instead of 127.0.0.1 (this machine's address on the
    room's network: every listener still wants TLS and a login)."""
    bad = [t for t in shared if not t.startswith(SHARED_PREFIX)]
    if bad:
        raise LabError(f"A shared topic's name starts with {SHARED_PREFIX!r} (the learners' ACL): not {bad}.")
    names = learner_names(learners)
    if host is not None:
        _check_host(host)
    chosen = layout(host)
    running = secure_kafka.current_cluster(layout())
    if running is not None and running.layout.host != chosen.host:
        raise LabError(
            f"The classroom serves on {running.layout.host}, not {chosen.host}: `labkit classroom down`, "
            "then up again on the new address."
        )
    handle = secure_kafka.start_cluster(chosen, [INSTRUCTOR, *names], quiet)
    if chosen.host != LAYOUT.host:
        (LAYOUT.folder() / "host").write_text(chosen.host + "\n")
    else:
        (LAYOUT.folder() / "host").unlink(missing_ok=True)
    for user in handle.users:  # a learner's lab adds their prefix to every name a lesson uses
        if LEARNER.fullmatch(user):
            mine = handle.profile(user)
            named = dataclasses.replace(
                mine, topic_prefix=prefix(user), shared_prefix=SHARED_PREFIX, ca_file=Path("ca.crt")
            )
            profiles.write(handle.profile_path(user), named)
    admin = _admin(handle)
    try:
        acls = instructor_acls()
        for user in handle.users:
            if LEARNER.fullmatch(user):
                acls += learner_acls(user)
        _grant(admin, acls)
        _create_shared(admin, shared)
    finally:
        admin.close()
    return Classroom(handle, shared)


def current() -> Classroom | None:
    """The running classroom (every node alive), or None."""
    handle = secure_kafka.current_cluster(layout())
    return Classroom(handle) if handle else None


def stop() -> bool:
    """Stop its brokers (users, topics and ACLs stay); True if any was running."""
    return secure_kafka.stop_cluster(layout())


def reset() -> None:
    """Stop it and delete everything: users, passwords, profiles, ACLs, topics."""
    secure_kafka.reset_cluster(layout())


# --- the instructor's view -----------------------------------------------------------------


def lag(room: Classroom, user: str = INSTRUCTOR) -> pd.DataFrame:
    """Every consumer group's lag, per learner, read as ``user`` (a learner sees only their
    own groups: Kafka lists no other to them): the explorer's group table
    (`labkit.explorer.cluster.snapshot`: group, state, members, topics, lag) with the
    ``learner`` who owns each group first (empty: a group outside every learner's prefix)."""
    from kafka import KafkaAdminClient

    from ..explorer.cluster import snapshot

    admin = KafkaAdminClient(**profiles.kafka_python_options(room.profile(user)))
    try:
        taken = snapshot(admin)  # offsets asked of each leader by the admin client
    finally:
        admin.close()
    missing = [e for e in taken.errors if "no offsets" in e]  # the quorum's state is not needed here
    if missing:
        raise LabError(f"The classroom's lag is incomplete: {'; '.join(missing)}")
    groups = taken.groups
    owner = groups["group"].map(lambda g: g.split(".", 1)[0] if LEARNER.fullmatch(g.split(".", 1)[0]) else "")
    groups.insert(0, "learner", owner)
    return groups.sort_values(["learner", "group"], ignore_index=True)


def _check_host(host: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise LabError(f"The classroom serves on an IP address of this machine, not {host!r}.") from None


def join_bundle(address: str) -> Path:
    """The folder another machine at ``address`` copies to add its broker to the running
    classroom (`labkit join`): `labkit.runtime.secure_kafka.join_bundle`. It holds the
    brokers' own login: hand it over as a secret."""
    return secure_kafka.join_bundle(layout(), address)
