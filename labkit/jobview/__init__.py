"""A live view of one Flink job in a notebook: ``lab.job_view(job)`` or ``job.view()``.

* :mod:`.snapshot` - one moment of a job from Flink's REST API, pure data (`snapshot`, `JobSnapshot`);
* :mod:`.graph` - the job graph as a picture (`draw`), and what it shows (`picture_key`);
* :mod:`.panel` - `JobView`, the widget with its refreshing thread;
* :mod:`.bench` - how long a refresh of a 6-operator job takes (`refresh_ms`).

The panel (ipywidgets) is imported only when a view is asked for.
"""

from __future__ import annotations

from .snapshot import JobGone, JobManagerDown, JobSnapshot, snapshot

__all__ = ["JobGone", "JobManagerDown", "JobSnapshot", "snapshot"]
