"""The health panel: what `labkit status` says, inside a notebook, with a link to Flink's Web UI.

    lab.health()        # Kafka version, brokers and controller; Flink version, TaskManagers,
                        # slots and running jobs; memory per process; a Refresh button
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from . import cluster


def lines() -> list[str]:
    """The status lines (shared with `labkit status`)."""
    from .cli import describe

    st = cluster.status()
    if st["backend"] is None:
        return ["not running: `labkit up` (or labkit.connect()) starts it"]
    return describe(st)


def render() -> str:
    st = cluster.status()
    rows = "".join(
        f"<tr><td style='padding-right:1em'><b>{html.escape(k.strip())}</b></td><td>{html.escape(v.strip())}</td></tr>"
        for k, _, v in (line.partition(":") for line in lines())
    )
    web = (st.get("flink") or {}).get("web_ui")
    link = f"<p>Flink Web UI: <a href='{web}' target='_blank'>{web}</a></p>" if web else ""
    return f"<table>{rows}</table>{link}"


class HealthPanel:
    """An HTML view of the lab's status and a Refresh button (`.widget` to display)."""

    def __init__(self) -> None:
        self.view = widgets.HTML(render())
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = widgets.VBox([self.view, self.refresh_button])

    def refresh(self) -> None:
        self.view.value = render()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
