"""The status panel: what `labkit status` says, inside a notebook, with a link to Flink's Web UI.

    lab.health()        # Kafka version, brokers and controller; Flink version, TaskManagers,
                        # slots and running jobs; the SQL Gateway's version and address;
                        # memory per process; a Refresh button

`status_html` is the same text as an HTML table, with a green or red dot on the row of each
service (Kafka, Flink, the SQL Gateway); lesson 00's health panel shows it too.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..runtime.status import brokers_up, describe, status
from .base import FAIL, OK, Panel


def lines(st: dict) -> list[str]:
    """The status lines (shared with `labkit status`)."""
    if st["backend"] is None:
        return ["lab: not running - `labkit up` (or labkit.connect()) starts it"]
    return describe(st)


def answering(st: dict) -> dict[str, bool]:
    """Which services answer, by the label of their line (the rows that get a dot): a
    learner sees at a glance which one `labkit up` has to restart. A service the backend
    does not have (no SQL Gateway) gets no dot."""
    if st["backend"] is None:
        return {}
    kafka, flink, gateway = st.get("kafka"), st.get("flink"), st.get("sql_gateway")
    brokers, expected = brokers_up(st)
    found = {"kafka": bool(st["running"] and kafka and "error" not in kafka and brokers >= expected)}
    if flink is not None:
        found["flink"] = "error" not in flink and bool(flink["taskmanagers"])
    if gateway is not None:
        found["sql gateway"] = "error" not in gateway
    return found


def status_html(st: dict | None = None) -> str:
    """The lab's status (or ``st``) as an HTML table plus a link to Flink's Web UI."""
    st = status() if st is None else st
    dots = answering(st)

    def dot(label: str) -> str:
        return "" if label not in dots else OK if dots[label] else FAIL

    rows = "".join(
        f"<tr><td>{dot(k.strip())}</td><td style='padding-right:1em'><b>{html.escape(k.strip())}</b></td>"
        f"<td>{html.escape(v.strip())}</td></tr>"
        for k, _, v in (line.partition(":") for line in lines(st))
    )
    web = (st.get("flink") or {}).get("web_ui")
    link = f"<p>Flink Web UI: <a href='{web}' target='_blank'>{web}</a></p>" if web else ""
    return f"<table>{rows}</table>{link}"


class StatusPanel(Panel):
    """An HTML view of the lab's status and a Refresh button (`.widget` to display)."""

    def __init__(self) -> None:
        self.view = widgets.HTML(status_html())
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox([self.view, self.refresh_button])

    def refresh(self) -> None:
        self.view.value = status_html()
