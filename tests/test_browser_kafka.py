"""Lessons 01 and 03 in a real browser: the panels that work from a background thread
(live stream, consumer group) must update the page while the kernel is idle.

Reuses the JupyterLab and Chromium fixtures of test_browser.py (skipped without chromium),
including its check that `labkit down` leaves no kernel behind.
"""

from __future__ import annotations

import pytest
from test_browser import jupyter, open_and_run_all, page, screenshot  # noqa: F401

pytestmark = pytest.mark.browser


STATUS = ".widget-html:has-text('read back from')"
NOT_YET = ".jp-OutputArea-output b:text-is('Not yet')"  # the check's verdict, not the lesson text


def test_lesson_01_stream_panel_updates_live_in_the_browser(page, jupyter):  # noqa: F811
    open_and_run_all(page, jupyter, "01_events.ipynb")
    page.locator(NOT_YET).first.wait_for(timeout=240_000)  # the exercise check ran
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

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
    page.wait_for_timeout(2500)
    screenshot(page, "lesson01-stream-running")
    running = status.inner_text()
    page.get_by_role("button", name="Stop").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')]"
        ".some(e => e.innerText.includes('read back from') && e.innerText.includes('stopped'))",
        timeout=30_000,
    )
    assert running != before and "running" in running


def test_lesson_03_add_consumer_from_the_browser(page, jupyter):  # noqa: F811
    open_and_run_all(page, jupyter, "03_consumer_groups.ipynb")
    page.locator(NOT_YET).first.wait_for(timeout=240_000)
    page.get_by_role("button", name="Add consumer").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')]"
        ".some(e => e.innerText.includes('1 consumer(s) in group'))",
        timeout=30_000,
    )
    # the owners table (drawn by the monitor thread) names the consumer once it has joined
    page.get_by_text("consumer-3", exact=False).first.wait_for(timeout=60_000)
    screenshot(page, "lesson03-group-live")
    page.get_by_role("button", name="Stop all").first.click()
