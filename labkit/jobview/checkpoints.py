"""A job's checkpoints as the job view shows them: a summary of ``/jobs/:id/checkpoints``,
and each operator's state in the last completed one (``/checkpoints/details/:cid``).

Pure data from REST answers; the asking is `labkit.jobview.snapshot`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: A checkpoint's id and each vertex's state in it (bytes).
StateOf = tuple[Any, dict[str, int]]


def summary(stats: dict) -> dict[str, Any]:
    """The counts, the last completed checkpoint and the one restored, from ``/jobs/:id/checkpoints``."""
    counts = stats.get("counts", {})
    latest = stats.get("latest") or {}
    done = latest.get("completed") or {}
    restored = latest.get("restored") or {}
    failed = latest.get("failed") or {}
    return {
        "completed": int(counts.get("completed", 0)),
        "failed": int(counts.get("failed", 0)),
        "in_progress": int(counts.get("in_progress", 0)),
        "restored": int(counts.get("restored", 0)),
        "last_id": done.get("id"),
        "last_duration_ms": done.get("end_to_end_duration"),
        "last_size_bytes": done.get("checkpointed_size", done.get("state_size")),
        "last_completed_ms": done.get("latest_ack_timestamp"),
        "restored_id": restored.get("id"),
        "restored_ms": restored.get("restore_timestamp"),
        "restored_path": restored.get("external_path"),
        "restored_savepoint": restored.get("is_savepoint"),
        "failed_id": failed.get("id"),
        "failed_reason": first_line(failed.get("failure_message")),
    }


def first_line(message: Any, limit: int = 160) -> str | None:
    """A failed checkpoint's reason as one short line (Flink's message may hold a stack trace).
    "1 failed" alone worries a learner; "Checkpoint Coordinator is suspending." - the one in
    flight when the job was cancelled - does not."""
    lines = str(message or "").strip().splitlines()
    if not lines:
        return None
    line = lines[0].strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def state_per_vertex(
    stats: dict, ids: set[str], known: StateOf | None, details: Callable[[Any], dict]
) -> StateOf:
    """Each vertex's state in the last completed checkpoint (bytes), asked (``details``) only
    when that checkpoint is new: a checkpoint's figures never change once it has completed.
    Details that name other operators than the job's (``ids``) are another job's checkpoint
    with the same id, which Flink's REST answers from a cache until its copy of this job
    catches up (up to 3 s): ignored, and asked again at the next refresh."""
    known = known or (None, {})
    done = (stats.get("latest") or {}).get("completed") or {}
    if done.get("id") is None or done.get("id") == known[0]:
        return known
    tasks = details(done["id"]).get("tasks", {})
    if not tasks or not set(tasks) <= ids:
        return known
    return done["id"], {v: int(t.get("state_size") or 0) for v, t in tasks.items()}
