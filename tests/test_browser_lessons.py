"""Every lesson, run whole ("Run All") in JupyterLab in Chromium, as a learner would.

A lesson passes when every code cell ran, no cell printed an error or anything to stderr,
and no widget still says it is starting or restarting something once the run is over
(`test_browser.run_all_clean`). Lessons 00, 01 and 03 are run whole by their own browser
tests (which then click their widgets), so they are not run twice. A screenshot of each
widget's output goes to .labkit/screenshots/lessons/ (look at them: a widget may be wrong in
ways no text check sees). One private lab for all (test_browser's fixtures, shared by every
browser module), stopped after the last browser test.
"""

from __future__ import annotations

import pytest
from test_browser import jupyter, page, run_all_clean, screenshot, screenshots  # noqa: F401

from labkit import course

pytestmark = pytest.mark.browser

#: Run whole, with clicks, by test_browser.py and test_browser_kafka.py.
OWN_TESTS = {"00", "01", "03"}


@pytest.mark.parametrize(
    "lesson", [x for x in course.LESSONS if x.number not in OWN_TESTS], ids=lambda x: x.number
)
def test_a_lesson_runs_whole_in_the_browser(page, jupyter, lesson: course.Lesson):  # noqa: F811
    run_all_clean(page, jupyter, lesson.file)
    folder = screenshots() / "lessons"
    folder.mkdir(parents=True, exist_ok=True)
    outputs = page.locator(".jp-OutputArea-output:has(.jupyter-widgets)")
    for i in range(min(outputs.count(), 12)):
        outputs.nth(i).scroll_into_view_if_needed()
        outputs.nth(i).screenshot(path=str(folder / f"{lesson.number}-{i:02d}.png"))
    screenshot(page, f"lessons/{lesson.number}-end")
