"""What every panel shares: one base class, one way to draw, one way to stop.

* `Panel`: displays as its ``widget`` (an ipywidgets container) and has ``stop()``; a panel
  with a background thread calls ``self.started()`` so `stop_all` can stop it when a lesson
  is re-run in the same kernel. (Not ``running``: lesson 01's stream panel answers
  "is it running?" with a ``running`` property.)
* `new_figure`: a matplotlib figure not attached to pyplot (no inline double display,
  safe to build in a thread).
* `render(fig, target)`: the one way a picture reaches a widget. It replaces the
  ``Output``'s outputs with the figure as PNG; it never uses ``with out:``, which captures
  by the *current* message and so misroutes output from a thread or a button callback.
  ``target=None`` (outside a notebook, in tests) only closes the figure. `render_frame`
  does the same for a table.
* `Picture`: what a drawing function returns, so a cell ending in it shows the PNG (and a
  one-line summary where there are no images), whatever matplotlib backend is active.
* `live_table`: a table that redraws in place (`lab.tail`), printing rows outside a notebook.
* `Pace`: when a live view (the explorer, a job view) refreshes: often while what it shows
  changes, less often while nothing does, at once after each cell the learner runs.
"""

from __future__ import annotations

import base64
import contextlib
import io
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

OK = "<span style='color:#1a7f37'>&#x25CF;</span>"  # a green dot: renders without emoji fonts
FAIL = "<span style='color:#cf222e'>&#x25CF;</span>"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (widgets can render), False in a terminal or a test."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def new_figure(width: float = 7.5, height: float = 2.8, rows: int = 0, **subplots: Any) -> Figure:
    """A figure not attached to pyplot: nothing displays it twice, and a thread may draw it.

    ``rows`` > 0 also adds that many axes stacked vertically (``fig.axes``)."""
    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    if rows:
        fig.subplots(rows, 1, squeeze=False, **subplots)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG, trimmed to what is drawn."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def render(fig: Figure, target: Any | None, summary: str = "") -> None:
    """Show ``fig`` in ``target`` (an ``ipywidgets.Output``), replacing what it showed.

    Safe from any thread. ``summary`` is the text a text-only front end (or a test reading
    ``target.outputs``) sees instead of the image.
    """
    try:
        if target is not None:
            png = base64.b64encode(png_bytes(fig)).decode()
            data = {"image/png": png, "text/plain": summary or "<figure>"}
            target.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
    finally:
        _forget(fig)


def render_frame(df: pd.DataFrame, target: Any | None) -> None:
    """Show a table in ``target`` (an ``ipywidgets.Output``), replacing what it showed."""
    if target is not None:
        data = {"text/html": df.to_html(index=False), "text/plain": df.to_string(index=False)}
        target.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


class Picture:
    """A finished figure with a one-line text summary: a cell ending in it shows the PNG in a
    notebook (any matplotlib backend, pyplot or not) and the summary elsewhere. ``figure`` is
    the matplotlib figure itself; the PNG is made when first asked for."""

    def __init__(self, fig: Figure, summary: str) -> None:
        self.figure = fig
        self.summary = summary
        self._png: bytes | None = None

    @property
    def png(self) -> bytes:
        if self._png is None:
            self._png = png_bytes(self.figure)
        return self._png

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode()

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return self.summary


def show(fig: Figure, target: Any | None, summary: str) -> Picture:
    """Render ``fig`` into ``target`` when there is one; return it as a `Picture` either way
    (what a drawing function returns, so a cell ending in it shows the picture)."""
    if target is not None:
        render(fig, target, summary)
    return Picture(fig, summary)


@contextlib.contextmanager
def live_table(title: str, last: int = 10) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Yield a ``show(df)`` function that redraws the newest ``last`` rows in place (in a
    notebook), or prints each new row once (anywhere else)."""
    if not in_notebook():
        seen = 0

        def show_text(df: pd.DataFrame) -> None:
            nonlocal seen
            for _, row in df.iloc[seen:].iterrows():
                print(f"{title}: {row.to_dict()}")
            seen = len(df)

        yield show_text
        return

    import ipywidgets as widgets
    from IPython.display import display

    header = widgets.HTML(f"<b>{title}</b>: waiting for events...")
    out = widgets.Output()
    display(widgets.VBox([header, out]))

    def show_rows(df: pd.DataFrame) -> None:
        header.value = f"<b>{title}</b>: {len(df)} events"
        render_frame(df.tail(last), out)

    yield show_rows


class Pace:
    """How often a live view refreshes: every ``every`` seconds while what it shows changes;
    while nothing does, twice as long each time, up to ``slowest``; and at once after each
    cell the learner runs (IPython's ``post_run_cell`` event), so what a cell changed shows
    without waiting. An open view over an idle lab then costs the kernel little CPU."""

    def __init__(self, every: float, slowest: float) -> None:
        self.every, self.slowest = every, max(every, slowest)
        self.interval = every
        self._wake = threading.Event()
        self._shell: Any = None
        if in_notebook():
            from IPython import get_ipython

            self._shell = get_ipython()
            self._shell.events.register("post_run_cell", self._after_cell)

    def _after_cell(self, result: Any = None) -> None:
        self.now()

    def now(self) -> None:
        """Refresh now, and often again (a cell ran, the learner clicked something)."""
        self.interval = self.every
        self._wake.set()

    def changed(self, changed: bool) -> None:
        """After a refresh: did what the view shows change?"""
        self.interval = self.every if changed else min(self.interval * 2, self.slowest)

    def wait(self) -> None:
        """Sleep until the next refresh is due, or until `wake`."""
        self._wake.wait(self.interval)
        self._wake.clear()

    def wake(self) -> None:
        """End the current `wait` now (a stop, a cell run)."""
        self._wake.set()

    def close(self) -> None:
        """No more waiting, no more cell events."""
        self._wake.set()
        if self._shell is not None:
            with contextlib.suppress(ValueError):  # already unregistered
                self._shell.events.unregister("post_run_cell", self._after_cell)
            self._shell = None

    def __str__(self) -> str:
        return f"every {self.every:g} s, up to {self.slowest:g} s while nothing changes"


def _forget(fig: Figure) -> None:
    """A figure made through pyplot stays in pyplot's list (and memory) until closed."""
    if getattr(fig, "number", None) is not None:  # only pyplot's figures have a number
        import matplotlib.pyplot as plt  # only then: importing pyplot picks a GUI backend

        plt.close(fig)


class Panel:
    """A lesson's widget group: displays as ``widget``; ``stop()`` ends its background work."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)  # noqa: SLF001 - ipywidgets' display hook

    def started(self) -> None:
        """Record that this panel now has background work (a thread, a Flink job)."""
        _RUNNING.add(self)

    def stop(self) -> None:
        """Stop background work; panels with threads or jobs override this."""
        _RUNNING.discard(self)


#: Panels whose background work may still be running in this kernel (see `stop_all`).
_RUNNING: weakref.WeakSet[Panel] = weakref.WeakSet()


def stop_all() -> None:
    """Stop every panel still running in this kernel.

    A lesson's set-up cell calls this first: re-running a notebook in the same kernel
    would otherwise leave the previous run's producers and consumers going, writing into
    the freshly recreated topics and joining the same consumer groups.
    """
    for panel in list(_RUNNING):
        panel.stop()
    _RUNNING.clear()
