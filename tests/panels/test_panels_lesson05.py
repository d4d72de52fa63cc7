"""Lesson 05's job panel (`labkit.panels.lesson05`), driven with a stand-in job: no Flink."""

from __future__ import annotations

from labkit.panels.lesson05 import JobPanel


class FakeJob:
    def __init__(self):
        self.status = "RUNNING"
        self.job_id = "abcdef0123456789"
        self.started = 0.0

    def stop(self):
        self.status = "CANCELED"


def test_job_panel_start_and_stop_buttons():
    jobs = []
    panel = JobPanel(lambda: jobs.append(FakeJob()) or jobs[-1], "demo")
    assert "not started" in panel.status.value and panel.stop_button.disabled
    panel.start_button.click()
    assert len(jobs) == 1 and "RUNNING" in panel.status.value and panel.start_button.disabled
    panel.start_button.click()  # a running job is not started twice
    assert len(jobs) == 1
    panel.stop_button.click()
    assert jobs[0].status == "CANCELED" and "CANCELED" in panel.status.value
    assert not panel.start_button.disabled
