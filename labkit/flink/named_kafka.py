"""PyFlink's DataStream Kafka builders on a shared (classroom) Kafka, as a lesson writes them.

A lesson builds a ``KafkaSource`` by hand (lesson 05); on a learner's lab (a connection
profile with a topic prefix) `name_datastream_kafka` makes those builders add the
profile's login and the learner's names - what `labkit.sql.statements.add_connection` and
`rename_options` do for a ``%%flink_sql`` table. Called by ``labkit.connect()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lab import Lab


#: The lab whose names and login PyFlink's Kafka builders use (`name_datastream_kafka`).
_NAMING: dict[str, Lab | None] = {"lab": None}
#: Whether PyFlink's Kafka builders are wrapped already (once per process).
_WRAPPED: list[bool] = []


def name_datastream_kafka(lab: Lab | None) -> None:
    """On a shared (classroom) Kafka - ``lab`` has a connection profile - make the DataStream
    API's Kafka builders reach it as a lesson writes them, as `labkit.sql.statements.add_connection`
    does for a ``%%flink_sql`` table: ``KafkaSource.builder().set_bootstrap_servers(...)`` (and
    ``KafkaSink``'s) also gets the profile's TLS and login (`FlinkHelpers.kafka_client_properties`,
    a property the lesson sets afterwards still wins), and the topics, group id, transactional-id
    prefix and record serializer's topic a lesson names are the learner's own (`kafka_name`).
    Lesson 05 builds a ``KafkaSource`` by hand; unchanged, it reads ``learner-01.l05-clicks``.

    PyFlink's builder classes are wrapped once per process; with ``lab`` None (a lab's own
    Kafka) the wrappers pass everything through unchanged."""
    _NAMING["lab"] = lab
    if lab is None or _WRAPPED:
        return  # no PyFlink import for a lab of its own; wrapped already: they read _NAMING
    _WRAPPED.append(True)
    from pyflink.datastream.connectors import kafka as connector

    def wrap(cls: type, method: str, change: Callable[..., tuple]) -> None:
        original = getattr(cls, method)

        def wrapper(self: Any, *args: Any) -> Any:
            current = _NAMING["lab"]
            result = original(self, *(change(current, *args) if current is not None else args))
            if current is not None and method == "set_bootstrap_servers":
                for key, value in current.kafka_client_properties().items():
                    self.set_property(key, value)
            return result

        wrapper.__doc__ = original.__doc__
        setattr(cls, method, wrapper)

    same = lambda _lab, *args: args  # noqa: E731 - the address itself is kept
    renamed = lambda lab_, *names: tuple(lab_.kafka_name(n) for n in names)  # noqa: E731
    for cls in (connector.KafkaSourceBuilder, connector.KafkaSinkBuilder):
        wrap(cls, "set_bootstrap_servers", same)
    wrap(connector.KafkaSourceBuilder, "set_topics", renamed)
    wrap(connector.KafkaSourceBuilder, "set_group_id", renamed)
    wrap(connector.KafkaSinkBuilder, "set_transactional_id_prefix", renamed)
    wrap(connector.KafkaRecordSerializationSchemaBuilder, "set_topic", renamed)
