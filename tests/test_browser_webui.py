"""Flink's Web UI in a real browser: the learner's link opens it, a web page cannot use it.

Chromium (Debian's, driven by Playwright) opens ``lab.web_ui`` on the suite's lab and sees
Flink's dashboard. Then the same browser, signed in, visits a page of another site
(``evil.example``, mapped to 127.0.0.1 by Chromium's host resolver, served here) and of
another local port, whose scripts send the drive-by requests to the Web UI: a jar upload,
a job submission, a read. The front door must refuse each (403, seen on the network), and
the page must read nothing. Skipped without chromium unless LABKIT_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser, screenshot

from labkit.runtime.net import free_port

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html><title>a page on the web</title><body><pre id="out">running</pre><script>
const ui = "http://%(web)s";
const sneaky = {mode: "no-cors", credentials: "include"};
const said = [];
async function tryIt(name, run) {
  try {
    const r = await run();
    said.push(name + ": " + r.type + " " + r.status + " " + (await r.text()).slice(0, 60));
  } catch (e) { said.push(name + ": refused (" + e.name + ")"); }
}
(async () => {
  const jar = new FormData();
  jar.append("jarfile", new Blob(["PK not a jar"]), "hi.jar");
  await tryIt("upload", () => fetch(ui + "/jars/upload", {method: "POST", body: jar, ...sneaky}));
  await tryIt("run", () => fetch(ui + "/jars/x_hi.jar/run?entry-class=Hi", {method: "POST", ...sneaky}));
  const graph = new FormData();
  graph.append("file_0", new Blob(["a JobGraph"]), "job.graph");
  await tryIt("jobs", () => fetch(ui + "/jobs", {method: "POST", body: graph, ...sneaky}));
  await tryIt("read", () => fetch(ui + "/overview", {credentials: "include"}));
  document.getElementById("out").textContent = said.join("\\n") + "\\ndone";
})();
</script></body>"""


@pytest.fixture(scope="module")
def attacker_site(lab) -> Iterator[int]:
    """A web server on another local port serving the attacking page."""
    page = (ATTACK % {"web": lab.flink_web_ui}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"]
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield chromium.new_context(viewport={"width": 1400, "height": 900})
        finally:
            chromium.close()


def test_the_learners_link_opens_flinks_web_ui_and_other_sites_are_refused(lab, browser, attacker_site):
    page = browser.new_page()
    page.goto(lab.web_ui, timeout=60_000)
    # Flink's dashboard, rendered from the REST API behind the front door
    page.get_by_text("Available Task Slots").first.wait_for(timeout=60_000)
    assert page.url.startswith(f"http://{lab.flink_web_ui}/")
    screenshot(page, "flink-web-ui")
    assert "Submit New Job" not in page.content()  # web.submit.enable: false

    for origin in (f"http://evil.example:{attacker_site}", f"http://127.0.0.1:{attacker_site}"):
        seen: list[tuple[str, int]] = []

        def note(response, seen=seen):
            if lab.flink_web_ui in response.url:
                seen.append((f"{response.request.method} {response.url}", response.status))

        attacker = browser.new_page()
        attacker.on("response", note)
        attacker.goto(f"{origin}/", timeout=30_000)
        attacker.wait_for_function("() => document.getElementById('out').textContent.endsWith('done')")
        said = attacker.inner_text("#out")
        # the front door answered every request, and refused each one
        statuses = {what.split("?")[0].replace(f"http://{lab.flink_web_ui}", ""): s for what, s in seen}
        # (Chromium reports no response for a read that then fails CORS)
        assert statuses.pop("GET /overview", 403) == 403, (origin, seen, said)
        assert statuses == {"POST /jars/upload": 403, "POST /jars/x_hi.jar/run": 403, "POST /jobs": 403}, (
            origin,
            seen,
            said,
        )
        # and the page read nothing (no-cors replies are opaque; the read failed CORS)
        assert "read: refused (TypeError)" in said, said
        assert "flink-version" not in said
        attacker.close()

    # the learner's own tab still works, signed in
    page.reload()
    page.get_by_text("Available Task Slots").first.wait_for(timeout=60_000)
