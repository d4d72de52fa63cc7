"""What the panel tests share: whether a panel's ``Output`` shows a picture."""

from __future__ import annotations

import pytest


@pytest.fixture
def shows_picture():
    """``shows_picture(out)``: True when the ``ipywidgets.Output`` shows a PNG (drawn by `render`)."""

    def check(out) -> bool:
        return bool(out.outputs) and "image/png" in out.outputs[0]["data"]

    return check
