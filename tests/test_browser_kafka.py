"""Lessons 01 and 03 in a real browser: the panels that work from a background thread
(live stream, consumer group) must update the page while the kernel is idle.

Reuses the JupyterLab and Chromium fixtures of test_browser.py (skipped without chromium):
one private lab for all the browser modules, stopped after the last browser test with the
check that `labkit down` leaves none of its processes behind.
"""

from __future__ import annotations

import re

import pytest
from test_browser import jupyter, page, run_all_clean, screenshot  # noqa: F401

pytestmark = pytest.mark.browser


STATUS = ".widget-html:has-text('read back from')"
GROUP_STATUS = ".widget-html:has-text('consumer(s) in group')"


def test_lesson_01_stream_panel_updates_live_in_the_browser(page, jupyter):  # noqa: F811
    run_all_clean(page, jupyter, "01_events.ipynb")

    status = page.locator(STATUS).first
    status.scroll_into_view_if_needed()
    before = status.inner_text()
    page.get_by_role("button", name="Start").first.click()
    page.wait_for_function(
        "(before) => { const el = [...document.querySelectorAll('.widget-html')]"
        ".find(e => e.innerText.includes('read back from'));"
        " return el && el.innerText.includes('running') && el.innerText !== before; }",
        arg=before,
        timeout=30_000,
    )
    screenshot(page, "lesson01-stream-running")
    running = status.inner_text()
    page.get_by_role("button", name="Stop").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')]"
        ".some(e => e.innerText.includes('read back from') && e.innerText.includes('stopped'))",
        timeout=30_000,
    )
    assert running != before and "running" in running


def _processed(text: str) -> int:
    """The "processed N distinct" count of lesson 03's group status line."""
    found = re.search(r"processed (\d+) distinct", text)
    assert found, f"no processed count in the group status: {text!r}"
    return int(found.group(1))


def test_lesson_03_add_consumer_from_the_browser(page, jupyter):  # noqa: F811
    # textContent, not innerText: JupyterLab renders far-away cells lazily (CSS
    # content-visibility), and the innerText of a cell that is not rendered is empty
    run_all_clean(page, jupyter, "03_consumer_groups.ipynb")
    status = page.locator(GROUP_STATUS).first
    status.scroll_into_view_if_needed()
    processed_before = _processed(status.text_content())  # what the notebook's own consumers did

    page.get_by_role("button", name="Add consumer").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')]"
        ".some(e => e.textContent.includes('1 consumer(s) in group'))",
        timeout=30_000,
    )
    # the explorer's Groups tab (under the panel) names the consumer once it owns partitions
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html table')]"
        ".some(t => [...t.querySelectorAll('td')].some(d => d.textContent.startsWith('consumer-3 ')))",
        timeout=60_000,
    )
    # ... and it processes the events the panel's producer keeps sending
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('.widget-html')].some(e => {"
        " const m = e.textContent.match(/processed (\\d+) distinct/); return m && +m[1] > before; })",
        arg=processed_before,
        timeout=60_000,
    )
    status.scroll_into_view_if_needed()
    screenshot(page, "lesson03-group-live")

    page.get_by_role("button", name="Stop all").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')]"
        ".some(e => e.textContent.includes('0 consumer(s) in group'))",
        timeout=60_000,
    )
    stopped = status.text_content().strip()
    assert stopped.startswith("0 consumer(s) in group"), stopped
    assert _processed(stopped) > processed_before, stopped
