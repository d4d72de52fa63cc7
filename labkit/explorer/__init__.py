"""The Kafka explorer (``lab.explore()``): topics, messages, consumer groups and brokers, live.

* :mod:`labkit.explorer.cluster` - `snapshot`: what the cluster holds now, as tables;
* :mod:`labkit.explorer.messages` - `MessageBrowser`: one partition read from the beginning,
  the end, an offset or a time, a page at a time, and followed live;
* :mod:`labkit.explorer.brokers` - the picture of which broker leads and holds each partition;
* :mod:`labkit.explorer.panel` - `Explorer`, the widget (read-only: it never writes to Kafka).
"""

from __future__ import annotations

from .cluster import Snapshot, snapshot
from .messages import MessageBrowser

__all__ = ["MessageBrowser", "Snapshot", "snapshot"]
