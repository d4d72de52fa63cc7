"""Predict, then run: the learner commits to a guess before the cell that shows the answer.

    guess = predict("How many of the 300 events will a brand-new group read?",
                    choices=["none", "the 300", "only events sent from now on"])
    guess                      # the learner picks and presses "Lock in"
    ...                        # the cell that shows what really happens
    guess.reveal("the 300", why="a new group starts where auto_offset_reset says: earliest here")

A number is asked with ``number=True`` (and ``low``/``high``, a widget value out of range is
refused with a message, not clamped); ``reveal`` then says how far off the guess was. A
guess can be changed until it is locked in, never after: the point is to commit before
seeing. Under a run-all (CI, or a learner pressing "run all") nothing is locked in and
``reveal`` says so next to the answer; nothing waits for a click.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .base import FAIL, OK, Panel


class Verdict(str):
    """What `Prediction.reveal` says: plain text, shown as HTML where a cell ends with it."""

    html: str

    def __new__(cls, text: str, shown: str) -> Verdict:
        made = super().__new__(cls, text)
        made.html = shown
        return made

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.html


class Prediction(Panel):
    """A question, a way to answer it, and a "Lock in" button; `reveal` compares."""

    def __init__(
        self,
        question: str,
        choices: Sequence[str] = (),
        *,
        number: bool = False,
        low: float | None = None,
        high: float | None = None,
        unit: str = "",
    ) -> None:
        import ipywidgets as w

        if bool(choices) == number:
            raise ValueError("give choices=[...] or number=True (one of the two)")
        self.question, self.choices, self.number = question, list(choices), number
        self.low, self.high, self.unit = low, high, unit
        self.locked: Any = None  # the guess once locked in
        self.answer: Any = None
        if number:
            self.input: Any = w.FloatText(value=0, description="My guess:", layout=w.Layout(width="14em"))
        else:
            self.input = w.RadioButtons(options=self.choices, value=None, layout=w.Layout(width="auto"))
        self.lock_button = w.Button(description="Lock in", button_style="primary", icon="lock")
        self.lock_button.on_click(lambda _b: self.lock())
        self.status = w.HTML("<i>Pick your answer, then lock it in before you run the next cell.</i>")
        self.result = w.HTML("")
        self.widget = w.VBox(
            [
                w.HTML(f"<b>Predict:</b> {html.escape(question)}"),
                w.HBox([self.input, self.lock_button]),
                self.status,
                self.result,
            ]
        )

    def lock(self) -> Any:
        """Lock in what the widget holds now (what the button does). Returns the guess, or
        None with a message in the widget if there is nothing valid to lock in."""
        if self.locked is not None:
            return self.locked
        value = self.input.value
        problem = self._problem(value)
        if problem:
            self.status.value = f"{FAIL} {html.escape(problem)}"
            return None
        self.locked = float(value) if self.number else value
        self.input.disabled = self.lock_button.disabled = True
        self.status.value = (
            f"{OK} Locked in: <b>{html.escape(self._show(self.locked))}</b>. Now run the next cell."
        )
        return self.locked

    def _problem(self, value: Any) -> str:
        if not self.number:
            return "" if value in self.choices else "Pick one of the answers first."
        if self.low is not None and value < self.low:
            return f"{self._show(value)} is below {self._show(self.low)}: no answer can be that small."
        if self.high is not None and value > self.high:
            return f"{self._show(value)} is above {self._show(self.high)}: no answer can be that large."
        return ""

    def _show(self, value: Any) -> str:
        if self.number and isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"{value}{' ' + self.unit if self.unit else ''}"

    def reveal(self, answer: Any, why: str = "") -> Verdict:
        """Say the answer next to the locked-in guess (in the widget, and as the returned
        text, which a cell shows). ``answer`` is one of the choices, or a number."""
        if not self.number and answer not in self.choices:
            raise ValueError(f"{answer!r} is not one of the choices {self.choices}")
        self.answer = answer
        told = f"the answer is {self._show(answer)}"
        if self.locked is None:
            verdict = f"You did not lock in a guess; {told}."
            self.status.value = "<i>The answer is out: no guess can be locked in now.</i>"
        elif self.number:
            off = float(answer) - self.locked
            verdict = (
                f"{OK} You guessed {self._show(self.locked)}: exactly right."
                if off == 0
                else f"You guessed {self._show(self.locked)}; {told} (off by {self._show(abs(off))})."
            )
        elif self.locked == answer:
            verdict = f"{OK} You guessed {self._show(self.locked)}: right."
        else:
            verdict = f"{FAIL} You guessed {self._show(self.locked)}; {told}."
        self.input.disabled = self.lock_button.disabled = True
        shown = verdict + (f" <i>Why:</i> {html.escape(why)}" if why else "")
        self.result.value = shown
        return Verdict(verdict.replace(OK, "✓").replace(FAIL, "✗") + (f" Why: {why}" if why else ""), shown)

    def __repr__(self) -> str:
        return f"Predict: {self.question}"


def predict(question: str, choices: Sequence[str] = (), **number: Any) -> Prediction:
    """A `Prediction` widget: show it, let the learner lock in a guess, then `reveal`.
    ``number`` takes `Prediction`'s ``number=True, low=, high=, unit=``."""
    return Prediction(question, choices, **number)
