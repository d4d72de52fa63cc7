"""What every panel shares (`labkit.panels.base`): the one way a figure or a table reaches a
widget, the `Picture` a drawing function returns, `live_table` outside a notebook, and
`stop_all`. No broker, no Flink."""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd

from labkit.panels.base import Panel, Picture, live_table, new_figure, render, render_frame, stop_all


def test_render_replaces_what_the_output_shows_with_a_png_and_its_summary():
    out = widgets.Output()
    for n in (1, 2):
        fig = new_figure(3, 2, rows=2)
        assert len(fig.axes) == 2
        render(fig, out, f"picture {n}")
        assert len(out.outputs) == 1  # replaced, never appended
    data = out.outputs[0]["data"]
    assert data["text/plain"] == "picture 2" and data["image/png"]
    render(new_figure(), None)  # outside a notebook: nothing to show, no error


def test_render_frame_shows_a_table_as_html_and_text():
    out = widgets.Output()
    render_frame(pd.DataFrame({"partition": [0, 1], "lag": [3, 0]}), out)
    data = out.outputs[0]["data"]
    assert "<table" in data["text/html"] and "partition" in data["text/plain"]


def test_a_picture_shows_as_png_in_a_notebook_and_as_its_summary_elsewhere():
    pic = Picture(new_figure(3, 2), "three events")
    assert pic._repr_png_().startswith(b"\x89PNG") and repr(pic) == "three events"
    assert pic.base64 and pic.figure is not None


def test_live_table_prints_each_new_row_once_outside_a_notebook(capsys):
    with live_table("tail t") as show:
        show(pd.DataFrame({"n": [1]}))
        show(pd.DataFrame({"n": [1, 2]}))
    assert capsys.readouterr().out.splitlines() == ["tail t: {'n': 1}", "tail t: {'n': 2}"]


def test_stop_all_stops_every_started_panel_once():
    stopped = []

    class Busy(Panel):
        def __init__(self) -> None:
            self.widget = widgets.HTML("busy")

        def stop(self) -> None:
            stopped.append(self)
            super().stop()

    a, b = Busy(), Busy()
    a.started()
    b.started()
    stop_all()
    stop_all()  # nothing left running: nobody is stopped twice
    assert sorted(map(id, stopped)) == sorted([id(a), id(b)])


def test_a_pace_slows_down_while_nothing_changes_and_speeds_up_at_once():
    import threading
    import time

    from labkit.panels.base import Pace

    pace = Pace(0.05, 0.2)
    assert pace.interval == 0.05
    pace.changed(False)
    pace.changed(False)
    assert pace.interval == 0.2  # doubled twice: 0.1, then 0.2 (the slowest)
    pace.changed(False)
    assert pace.interval == 0.2
    pace.changed(True)
    assert pace.interval == 0.05  # something changed: often again
    pace.changed(False)
    pace.now()  # a cell ran, or the learner clicked: now, and often again
    assert pace.interval == 0.05
    t0 = time.monotonic()
    pace.wait()  # now() had set the wake-up: no sleep
    assert time.monotonic() - t0 < 0.05
    pace.interval = 30.0
    threading.Timer(0.1, pace.wake).start()
    t0 = time.monotonic()
    pace.wait()
    assert time.monotonic() - t0 < 10  # woken, not the 30 s
    pace.close()
    assert "every 0.05 s, up to 0.2 s while nothing changes" == str(pace)
