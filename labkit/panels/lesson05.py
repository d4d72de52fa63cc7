"""Lesson 05's panel ("Flink's first job"): Start / Stop buttons and a status line for one job.

The SQL stays in the lesson: `JobPanel` gets a function that starts the job. What the
JobManager says about a job (its tasks, failures, the REST API behind the Web UI) is the
lab's: `lab.tasks(job)`, `lab.failures(job)`, `lab.flink_api(path)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .base import Panel


class JobPanel(Panel):
    """Start / Stop buttons and a status line for one streaming job.

    ``start`` is a function that starts the job and returns a `labkit.flink.Job` (e.g.
    ``lambda: lab.start(t_env.execute_sql("INSERT ..."))``), so the SQL stays in the lesson.
    """

    def __init__(self, start: Callable[[], Any], title: str = "Flink job") -> None:
        self._start = start
        self.job: Any = None
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.refresh_button = widgets.Button(description="Status", icon="refresh")
        self.status = widgets.HTML(f"<b>{title}</b>: not started")
        self.title = title
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox(
            [widgets.HBox([self.start_button, self.stop_button, self.refresh_button]), self.status]
        )

    def start(self) -> None:
        if self.job is not None and self.job.status in ("RUNNING", "CREATED", "INITIALIZING"):
            return
        self.status.value = f"<b>{self.title}</b>: starting..."
        self.job = self._start()
        self.start_button.disabled, self.stop_button.disabled = True, False
        deadline = time.monotonic() + 20  # CREATED / INITIALIZING -> RUNNING takes a moment
        while self.job.status in ("CREATED", "INITIALIZING") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.refresh()

    def stop(self) -> None:
        if self.job is None:
            return
        self.job.stop()  # cancels the job and waits until it has ended
        self.start_button.disabled, self.stop_button.disabled = False, True
        self.refresh()

    def refresh(self) -> str:
        state = self.job.status if self.job is not None else "not started"
        color = {"RUNNING": "#1a7f37", "FAILED": "#cf222e"}.get(state, "#57606a")
        extra = ""
        if self.job is not None:
            extra = f" &middot; job {self.job.job_id[:8]} &middot; up {time.time() - self.job.started:.0f} s"
        self.status.value = f"<b>{self.title}</b>: <span style='color:{color}'>{state}</span>{extra}"
        return state
