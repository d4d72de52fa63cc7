"""Key lessons in a real browser: JupyterLab in Chromium, widgets clicked like a learner would.

Runs JupyterLab through `labkit lab` on a private cluster (own LABKIT_HOME) with copies
of the notebooks (so autosave never touches the repo), runs all cells, then types into
and clicks the real widgets. Needs Debian's `chromium`; skipped without it unless
LABKIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser is a failure.
Screenshots go to .labkit/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from labkit import cluster, paths

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is not installed (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """A JupyterLab started by `labkit lab` on a private cluster; yields its base URL."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    env = {**os.environ, "LABKIT_HOME": str(tmp / "home"), "LABKIT_CACHE": str(paths.cache())}
    env.pop("LABKIT_PORT", None)
    port = cluster.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labkit.cli",
            "lab",
            "--no-browser",
            "--port",
            str(port),
            "--notebooks",
            str(root),
            "--",
            "--IdentityProvider.token=",
            "--expose-app-in-browser",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp / 'settings'}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "jupyter.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api", timeout=2) as r:
                json.loads(r.read())
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp / "jupyter.log").read_text()[-3000:])
            time.sleep(0.5)
    yield base
    # everything the lab started: JupyterLab, its kernels, their JVMs and Python workers
    family = psutil.Process(proc.pid).children(recursive=True)
    assert family, "expected JupyterLab and a kernel to be running"
    subprocess.run([sys.executable, "-m", "labkit.cli", "down"], env=env, capture_output=True, timeout=60)
    proc.wait(20)
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"left behind after labkit down: {[p.name() for p in alive]}"


@pytest.fixture
def page(jupyter):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!(k && k.status === 'idle' && w.content && w.content.widgets.length > 1);
}"""


def open_and_run_all(page, base: str, notebook: str) -> None:
    """Open a notebook, wait for its kernel, start "Run All" (without waiting for it)."""
    page.goto(f"{base}/lab/tree/{notebook}?reset", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def screenshot(page, name: str) -> Path:
    out = paths.home() / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def test_lesson_00_runs_and_its_panel_answers_a_click(page, jupyter):
    open_and_run_all(page, jupyter, "00_welcome.ipynb")
    # the cell that sends two events from code, then the exercise check at the end
    page.get_by_text("KAFKA MOVES, FLINK THINKS", exact=False).first.wait_for(timeout=180_000)
    page.get_by_text("Not yet", exact=False).first.wait_for(timeout=60_000)
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    # the widget is live in the browser: type a message, press the button, see Flink's answer
    box = page.locator(".widget-text input").first
    box.scroll_into_view_if_needed()
    box.fill("sent from the browser")
    box.press("Enter")
    page.get_by_role("button", name="Send an event").click()
    page.get_by_text("SENT FROM THE BROWSER", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("end to end", exact=False).first.scroll_into_view_if_needed()
    screenshot(page, "lesson00-panel")
    assert page.locator(".widget-html:has-text('end to end')").count() >= 1
