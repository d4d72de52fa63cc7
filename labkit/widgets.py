"""Live pictures: small building blocks that work in a notebook and degrade to text.

Everything here draws into an ``ipywidgets.Output`` when running under IPython, and
prints plain text otherwise (CLI, tests), so the same helper serves both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pandas as pd


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


@contextlib.contextmanager
def live_table(title: str, last: int = 10) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Yield a ``show(df)`` function that redraws the newest ``last`` rows in place."""
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

    def show(df: pd.DataFrame) -> None:
        header.value = f"<b>{title}</b>: {len(df)} events"
        with out:
            out.clear_output(wait=True)
            display(df.tail(last))

    yield show
