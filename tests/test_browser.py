"""Key lessons in a real browser: JupyterLab in Chromium, widgets clicked like a learner would.

Runs JupyterLab through `labkit lab` on a private lab (own LABKIT_HOME: its own Kafka and
Flink, see privatelab.py) with copies of the notebooks (so autosave never touches the repo),
runs all cells, then types into and clicks the real widgets. One such lab, JupyterLab and
Chromium serve the browser tests of this module, test_browser_kafka.py and
test_browser_lessons.py (tests/shared.py: started by the first, stopped after the last).
At the end `labkit down` must leave no JupyterLab, kernel, JVM or Flink worker of that lab
running; whatever fails on the way, the lab is stopped. Needs Debian's `chromium`; skipped
without it unless LABKIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser is a failure.
Screenshots go to .labkit/screenshots/ in the checkout (LABKIT_SCREENSHOTS moves them).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from privatelab import PrivateLab, wait_for
from shared import Shared

from labkit.runtime.net import free_port

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
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STDERR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("LABKIT_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is not installed (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@dataclass
class Jupyter:
    """A running JupyterLab: its URL, the notebooks opened in it so far, and the shutting
    down of earlier tests' kernels under way (`close_kernels`)."""

    url: str
    lab: PrivateLab
    opened: list[str] = field(default_factory=list)
    closing: threading.Thread | None = None
    closing_failed: list[BaseException] = field(default_factory=list)

    def close_kernels(self) -> None:
        """Shut down the kernels running now (those of earlier tests), in the background: a
        kernel takes 2-3 s to stop, while the next notebook opens. The one started next is
        not among them. Waits for the previous round first, and fails if it failed."""
        self.wait_kernels_closed()
        sessions = _jupyter_api(self.url, "sessions")
        if sessions:
            self.closing = threading.Thread(
                target=self._close, args=([s["id"] for s in sessions],), name="close-kernels", daemon=True
            )
            self.closing.start()

    def _close(self, ids: list[str]) -> None:
        try:
            _delete_sessions(self.url, ids)
        except BaseException as exc:  # noqa: BLE001 - raised in the test thread by wait_kernels_closed
            self.closing_failed.append(exc)

    def wait_kernels_closed(self) -> None:
        if self.closing is not None:
            self.closing.join(120)
            assert not self.closing.is_alive(), "shutting down the earlier tests' kernels took over 120 s"
            self.closing = None
        if self.closing_failed:
            raise self.closing_failed.pop()


def _jupyter_api(url: str, what: str) -> Any:
    with urllib.request.urlopen(f"{url}/api/{what}", timeout=30) as r:
        return json.loads(r.read())


def _delete_sessions(url: str, ids: list[str]) -> None:
    """Shut down these sessions (and their kernels) through JupyterLab's REST API. Its XSRF
    check wants the ``_xsrf`` cookie its page sets, sent back as a header (as JupyterLab's
    own requests do)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{url}/lab", timeout=30).close()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    for sid in ids:
        req = urllib.request.Request(f"{url}/api/sessions/{sid}", method="DELETE")
        req.add_header("X-XSRFToken", xsrf)
        opener.open(req, timeout=60).close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api", timeout=2) as r:
            return bool(json.loads(r.read()))
    except (OSError, ValueError):
        return False


def _jupyter(tmp_path_factory) -> Iterator[Jupyter]:
    """`labkit lab` (cluster + JupyterLab) on a private lab; stopped with `labkit down` at the
    end, which must leave none of that lab's processes behind."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    # the lab's home in a folder `nobody` may pass through: as root, lessons 09b and 10 run
    # PostgreSQL as `nobody` (it refuses root), and pytest's own tmp folders are closed (0700)
    home = Path(tempfile.mkdtemp(prefix="labkit-browser-"))
    lab = PrivateLab(home)
    port = free_port()
    log = tmp / "jupyter.log"
    args = ["lab", "--no-browser", "--port", str(port), "--notebooks", str(root), "--"]
    args += ["--IdentityProvider.token=", "--expose-app-in-browser"]
    args += [
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
    ]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.cli", *args],
            env=lab.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Jupyter(f"http://127.0.0.1:{port}", lab)
    seen: list[str] = []
    try:
        try:
            wait_for(lambda: proc.poll() is not None or _answers(server.url), "JupyterLab to answer", 180)
        except AssertionError:
            pytest.fail("JupyterLab did not start within 180 s:\n" + log.read_text()[-3000:])
        if proc.poll() is not None:
            pytest.fail(f"`labkit lab` exited with {proc.returncode}:\n" + log.read_text()[-3000:])
        yield server
        server.wait_kernels_closed()
        seen = [" ".join(p.cmdline()) for p in lab.processes()]
    finally:
        try:
            lab.stop()  # `labkit down`; kills and fails on whatever of this lab is still alive
        finally:
            if proc.poll() is None:  # `labkit lab` waits on JupyterLab, stopped above
                proc.kill()
            proc.wait(30)
            shutil.rmtree(home, ignore_errors=True)
    if server.opened:
        # the check above is not vacuous: a kernel (with its client JVM) was running
        assert any("ipykernel" in cmd for cmd in seen), f"no kernel among the lab's processes: {seen}"


#: One JupyterLab (on one private lab) for the browser tests of all the browser modules:
#: started by the first, stopped after the last (tests/shared.py).
JUPYTER = Shared("jupyter", _jupyter)


@pytest.fixture
def jupyter(tmp_path_factory) -> Jupyter:
    """The shared JupyterLab (`JUPYTER`). The kernels of earlier tests are shut down as this
    test starts (the lab stays, like a learner who closed the other notebooks), so no
    earlier notebook's threads, client JVM or jobs take this one's CPU, memory or slots.
    The last test's kernel runs on: `labkit down` must stop it."""
    server = JUPYTER.get(tmp_path_factory)
    server.close_kernels()
    return server


def _chromium() -> Iterator[Any]:
    """Playwright's driver and one headless Chromium, for every test with a `page`."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


#: One Chromium for every test with a `page` (launched once: ~2 s a test saved).
CHROMIUM_BROWSER = Shared("page", _chromium)


@pytest.fixture
def page(jupyter: Jupyter):
    """A new page in a new browser context (no cookies or storage of an earlier test) of the
    shared Chromium."""
    context = CHROMIUM_BROWSER.get().new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!(k && k.status === 'idle' && w.content && w.content.widgets.length > 1);
}"""


def open_and_run_all(page, jupyter: Jupyter, notebook: str) -> None:
    """Open a notebook, wait for its kernel, start "Run All" (without waiting for it)."""
    jupyter.opened.append(notebook)
    page.goto(f"{jupyter.url}/lab/tree/{notebook}?reset", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


#: Run All is over: the kernel is idle, no cell waits ([*]) and every code cell has run (or
#: one failed); with every error and stderr output of the notebook (from its model, so cells
#: JupyterLab has not rendered count too).
RUN_STATE = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
    if (!k) return null;
    const cells = [...w.content.model.cells].filter(c => c.type === 'code');
    const bad = [];
    cells.forEach((c, i) => c.outputs.toJSON().forEach(o => {
        if (o.output_type === 'error') bad.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
        if (o.output_type === 'stream' && o.name === 'stderr') bad.push(`code cell ${i} stderr: ${o.text}`);
    }));
    const ran = cells.filter(c => c.executionCount !== null).length;
    const queued = [...w.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
    return {idle: k.status === 'idle' && !queued, ran: ran, cells: cells.length, bad: bad};
}"""
#: The texts of the widgets' HTML parts, in page order.
WIDGET_TEXTS = """() => [...document.querySelectorAll('.jp-OutputArea-output .widget-html')]
    .map(e => e.textContent)"""
#: A widget that still says it is starting or restarting something once the run is over.
STALE = re.compile(r"(?i)\b(re)?starting\b[^.]*(\.\.\.|…)|restarting the Flink job")


def run_all_clean(page, jupyter: Jupyter, notebook: str, timeout_s: float = 600) -> None:
    """Open ``notebook``, Run All, and wait until every cell ran; fail on any error or stderr
    output, or a widget left saying it is (re)starting something."""
    open_and_run_all(page, jupyter, notebook)
    over = "!!s && (s.bad.length > 0 || (s.idle && s.ran === s.cells))"
    page.wait_for_function(
        f"() => {{ const s = ({RUN_STATE})(); return {over}; }}", polling=1000, timeout=timeout_s * 1000
    )
    state = page.evaluate(RUN_STATE)
    assert not state["bad"], f"{notebook}:\n" + "\n".join(state["bad"])[:4000]
    assert state["ran"] == state["cells"], state
    stale = [t for t in page.evaluate(WIDGET_TEXTS) if STALE.search(t)]
    assert not stale, f"{notebook}: widgets still busy after the run: {stale}"


def screenshots() -> Path:
    """Where screenshots go (LABKIT_SCREENSHOTS, else .labkit/screenshots in the checkout)."""
    return Path(os.environ.get("LABKIT_SCREENSHOTS") or ROOT / ".labkit" / "screenshots")


def screenshot(page, name: str) -> Path:
    path = screenshots() / f"{name}.png"  # name may hold a folder: "lessons/05-end"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)
    return path


def test_lesson_00_runs_and_its_panel_answers_a_click(page, jupyter):
    run_all_clean(page, jupyter, "00_welcome.ipynb")

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


#: The new notebook (found by its tab's title, not by focus) has a kernel connected and idle.
NEW_NOTEBOOK_READY = """(title) => {
    const app = window.jupyterapp;
    const w = app && [...app.shell.widgets('main')].find(w => w.title.label === title);
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!(k && k.connectionStatus === 'connected' && k.status === 'idle'
              && w.node.querySelector('.cm-content'));
}"""
#: The rows of the live table the %%flink_sql cell draws: {word: count}, from what the page shows.
LIVE_ROWS = """() => {
    const table = [...document.querySelectorAll('.widget-html table')].pop();
    if (!table) return null;
    const cells = r => [...r.querySelectorAll('td')].map(d => d.textContent);
    return [...table.querySelectorAll('tbody tr')].map(cells);
}"""


def type_and_run(page, code: str) -> None:
    """Type ``code`` into the notebook's last cell (as pasted: no auto-indent) and run it."""
    editor = page.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content")
    editor.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")


def test_a_sql_cell_typed_in_a_new_notebook_updates_in_place_then_stops(page, jupyter):
    jupyter.opened.append("Untitled.ipynb")
    page.goto(f"{jupyter.url}/lab?reset", timeout=60_000)
    ready = "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:create-new')"
    page.wait_for_function(ready, timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:create-new', {kernelName: 'python3'})")
    page.wait_for_function(NEW_NOTEBOOK_READY, arg="Untitled.ipynb", polling=250, timeout=120_000)
    type_and_run(
        page,
        "import labkit\nlab = labkit.connect(quiet=True)\nlab.create_topic('b-words', replace=True)\n"
        "lab.produce('b-words', [{'word': w} for w in 'to be or not to be'.split()])",
    )
    type_and_run(
        page,
        "%%flink_sql\nCREATE TABLE words (word STRING) WITH (\n"
        "  'connector' = 'kafka', 'topic' = 'b-words',\n"
        "  'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',\n"
        "  'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n"
        "SELECT word, COUNT(*) AS n FROM words GROUP BY word",
    )
    counts = lambda: {w: int(n) for w, n in (page.evaluate(LIVE_ROWS) or [])}  # noqa: E731
    wait_for(lambda: counts() == {"to": 2, "be": 2, "or": 1, "not": 1}, "the live counts in the page", 120)
    first = page.evaluate(LIVE_ROWS)
    type_and_run(page, "lab.produce('b-words', [{'word': 'to'}] * 3 + [{'word': 'be'}])")
    wait_for(lambda: counts() == {"to": 5, "be": 3, "or": 1, "not": 1}, "the counts to update", 60)
    # in place: the same four rows in the same order, only the numbers changed
    assert [row[0] for row in page.evaluate(LIVE_ROWS)] == [row[0] for row in first]
    header = page.locator(".widget-html:has-text('changes')").last
    assert "RUNNING" in header.text_content()
    header.scroll_into_view_if_needed()
    screenshot(page, "sql-cell-live")
    page.get_by_role("button", name="Stop").last.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-html')].some(e => e.textContent.includes('CANCELED'))",
        timeout=60_000,
    )
    screenshot(page, "sql-cell-stopped")
    assert page.locator(STDERR_OUTPUT).count() == 0


def new_notebook(page, jupyter: Jupyter) -> None:
    """Open JupyterLab, make a new notebook and wait until its kernel is ready."""
    page.goto(f"{jupyter.url}/lab?reset", timeout=60_000)
    ready = "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:create-new')"
    page.wait_for_function(ready, timeout=60_000)
    create = "window.jupyterapp.commands.execute('notebook:create-new', {kernelName: 'python3'})"
    title = page.evaluate(f"async () => (await {create}).context.path")
    jupyter.opened.append(title)
    page.wait_for_function(NEW_NOTEBOOK_READY, arg=title, polling=250, timeout=120_000)


#: The rows of the last HTML table (in a widget) whose header has ``column``: lists of cell texts.
TABLE_WITH = """(column) => {
    const has = t => [...t.querySelectorAll('th')].some(th => th.textContent.trim() === column);
    const tables = [...document.querySelectorAll('.widget-html table')].filter(t =>
        has(t) && t.offsetParent !== null);
    const table = tables.pop();
    if (!table) return null;
    const head = [...table.querySelectorAll('thead th')].map(th => th.textContent.trim());
    return [...table.querySelectorAll('tbody tr')].map(r =>
        Object.fromEntries([...r.querySelectorAll('td')].map((d, i) => [head[i], d.textContent.trim()])));
}"""


def test_the_explorer_browses_to_an_offset_and_shows_a_groups_lag_fall(page, jupyter):
    new_notebook(page, jupyter)
    type_and_run(
        page,
        "import labkit\nlab = labkit.connect(quiet=True)\nlab.create_topic('b-explore', replace=True)\n"
        "lab.delete_groups('b-explore-group')\n"
        "lab.produce('b-explore', [{'n': i} for i in range(30)])\n"
        "reader = lab.consumer('b-explore', group_id='b-explore-group', enable_auto_commit=False,"
        " max_poll_records=10)\n"
        "def read_some():\n"
        "    while not reader.poll(timeout_ms=1000): pass\n"
        "    reader.commit()\n"
        "read_some()",
    )
    type_and_run(page, "explorer = lab.explore(every=1)\nexplorer")
    page.locator(".lm-TabBar-tab:has-text('Messages')").last.wait_for(timeout=120_000)
    page.locator(".lm-TabBar-tab:has-text('Messages')").last.click()
    page.locator(".widget-dropdown:visible select").first.select_option("b-explore")
    page.locator(".widget-toggle-button:visible:has-text('offset')").first.click()
    offset = page.locator(".widget-inline-hbox:visible:has(label:text-is('offset')) input").first
    offset.fill("25")
    offset.press("Enter")
    page.get_by_role("button", name="Show").last.click()
    offsets = lambda: [r["offset"] for r in page.evaluate(TABLE_WITH, "offset") or []]  # noqa: E731
    wait_for(lambda: offsets() == ["25", "26", "27", "28", "29"], "the page from offset 25", 60)
    page.locator(".widget-html:visible:has-text('offsets 25-29 shown')").first.wait_for(timeout=10_000)
    screenshot(page, "explorer-messages")

    page.locator(".lm-TabBar-tab:has-text('Groups')").last.click()
    lag = lambda: {r["group"]: r["total lag"] for r in page.evaluate(TABLE_WITH, "total lag") or []}  # noqa: E731
    wait_for(lambda: lag().get("b-explore-group") == "20", "the group's lag (20) in the page", 60)
    screenshot(page, "explorer-groups-lag-20")
    type_and_run(page, "read_some()")
    wait_for(lambda: lag().get("b-explore-group") == "10", "the lag to fall to 10", 60)
    type_and_run(page, "read_some()")
    wait_for(lambda: lag().get("b-explore-group") == "0", "the lag to fall to 0", 60)
    screenshot(page, "explorer-groups-lag-0")
    page.locator(".lm-TabBar-tab:has-text('Brokers')").last.click()
    page.locator(".widget-html:visible:has-text('brokers up [1]')").first.wait_for(timeout=30_000)
    screenshot(page, "explorer-brokers")
    type_and_run(page, "explorer.stop(); reader.close()")
    assert page.locator(STDERR_OUTPUT).count() == 0


def test_a_job_view_shows_records_flow_through_a_running_job(page, jupyter):
    new_notebook(page, jupyter)
    type_and_run(
        page,
        "import labkit\nlab = labkit.connect(quiet=True)\nlab.create_topic('b-jobview', replace=True)",
    )
    type_and_run(
        page,
        "%%flink_sql -o job\nCREATE TABLE jv_src (n INT) WITH (\n"
        "  'connector' = 'kafka', 'topic' = 'b-jobview',\n"
        "  'properties.bootstrap.servers' = '{lab.flink_bootstrap_servers}',\n"
        "  'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n"
        "CREATE TABLE jv_sink (k INT, c BIGINT) WITH ('connector' = 'blackhole');\n"
        "INSERT INTO jv_sink SELECT n % 3, COUNT(*) FROM jv_src GROUP BY n % 3",
    )
    type_and_run(page, "view = job.view(every=1)\nview")
    operators = lambda: page.evaluate(TABLE_WITH, "records in") or []  # noqa: E731
    wait_for(lambda: len(operators()) >= 2, "the job's operators in the page", 120)
    counted = lambda: max(int(r["records in"].replace(",", "")) for r in operators())  # noqa: E731
    assert counted() == 0
    type_and_run(page, "lab.produce('b-jobview', [{'n': i} for i in range(50)])")
    wait_for(lambda: counted() == 50, "50 records into the aggregation, in the page", 90)
    type_and_run(page, "lab.produce('b-jobview', [{'n': i} for i in range(25)])")
    wait_for(lambda: counted() == 75, "25 more", 90)
    page.locator(".widget-html:visible:has-text('RUNNING')").first.scroll_into_view_if_needed()
    screenshot(page, "job-view-records-flow")
    assert page.locator(".widget-html:visible a:has-text('Web UI')").count() >= 1
    type_and_run(page, "view.stop(); job.stop()")
    assert page.locator(STDERR_OUTPUT).count() == 0
