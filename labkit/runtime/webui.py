"""Flink's Web UI for the learner's browser, and for nobody else: the lab's front door.

The JobManager's REST API asks every caller for the lab's client certificate
(:mod:`labkit.runtime.tls`), which a browser does not have. This small server, started by
``labkit up`` on 127.0.0.1:8081 (the port people know Flink's Web UI by), is how the
learner's browser gets in:

* a **login link** (`login_link`, what ``lab.web_ui`` and ``labkit status`` print) carries
  a key signed with the lab's secret, good for one use within an hour; it sets a session
  cookie (HttpOnly, SameSite=Strict). Without the cookie every page is refused (401), so
  another user of this machine, who cannot read ``.labkit/tls``, is refused;
* **a request from a web page** that is not the Web UI itself is refused (403): a foreign
  ``Origin``, a ``Sec-Fetch-Site`` other than same-origin (a link clicked in JupyterLab is
  a same-site *navigation*, allowed), a ``Host`` other than 127.0.0.1/localhost (DNS
  rebinding);
* it forwards **only what the Web UI reads** (GET) and its *Cancel job* button
  (``PATCH /jobs/<id>``), over mutual TLS. No jar upload, no job submission, whatever the
  cookie: jobs are submitted from the notebook, which holds the certificate.

Run as ``python -m labkit.runtime.webui --port P --upstream https://127.0.0.1:R --tls DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

from . import tls

#: How long a login link works (it also works only once).
LOGIN_TTL_S = 3600
LOGIN_PATH = "/labkit-login"
COOKIE = "labkit-flink-web-ui"
#: What the Web UI may send besides GET: its "Cancel Job" button.
CANCEL = re.compile(r"^/jobs/[0-9a-f]{32}$")
#: Reply headers passed on from Flink (CORS headers are not: this origin needs none).
PASSED_HEADERS = ("Content-Type", "Content-Encoding", "Cache-Control", "ETag", "Last-Modified")

NOT_LOGGED_IN = """<!doctype html><title>Flink's Web UI (labkit)</title>
<h2>Flink's Web UI: open it from your notebook</h2>
<p>This lab's Web UI only answers its learner. Open the link that
<code>lab.web_ui</code> (in a notebook) or <code>labkit status</code> (in a terminal) prints:
each link works once, within an hour, and then this browser stays signed in.</p>
<p>{reason}</p>"""


def _secret(where: Path | None = None) -> bytes:
    return ((where or tls.folder()) / "webui.secret").read_bytes().strip()


def sign(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:40]


def session_value(secret: bytes) -> str:
    """The session cookie's value: derived from the lab's secret, so it needs no storage
    and survives a restart of the front door."""
    return sign(secret, "session")


def login_link(web_ui: str, page: str = "", where: Path | None = None) -> str:
    """A one-use link that signs this browser in to the Web UI at ``web_ui`` (host:port)
    and opens ``page`` (a Web UI route such as ``#/job/running/<id>/overview``)."""
    secret = _secret(where)
    payload = f"{int(time.time()) + LOGIN_TTL_S}.{secrets.token_hex(8)}"
    query = {"key": f"{payload}.{sign(secret, payload)}"}
    if page:
        query["next"] = "/" + page.lstrip("/")
    return f"http://{web_ui}{LOGIN_PATH}?{urllib.parse.urlencode(query)}"


def open_link(flink_rest: str | None, web_ui: str | None, page: str = "") -> str:
    """What a learner clicks to see ``page`` of Flink's Web UI: a login link to the lab's
    front door (``web_ui``, host:port), or Flink's own address on a compose or remote
    cluster, which has no front door; "" when no JobManager is known."""
    if web_ui:
        return login_link(web_ui, page)
    return tls.url(flink_rest, page) if flink_rest else ""


def check_key(secret: bytes, key: str, used: set[str], now: float | None = None) -> str | None:
    """Why a login key is refused, or None when it is good (and now used up)."""
    expires, _, rest = key.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (expires.isdigit() and nonce and signature):
        return "That link is not a Web UI login link."
    if not hmac.compare_digest(signature, sign(secret, f"{expires}.{nonce}")):
        return "That link was not made by this lab."
    if int(expires) < (time.time() if now is None else now):
        return "That link has expired (links work for an hour): ask for a new one."
    if nonce in used:
        return "That link was used already (each works once): ask for a new one."
    used.add(nonce)
    return None


def refusal(
    method: str, path: str, headers: dict[str, str], port: int, cookie: str | None, session: str
) -> tuple[int, str] | None:
    """(status, reason) when a request to the front door on ``port`` must be refused,
    None when it may pass to Flink. Pure, so every rule is tested on its own."""
    origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    if headers.get("Host", "") not in {o.split("//")[1] for o in origins}:
        return 403, "Only http://127.0.0.1 reaches this Web UI (the Host header said otherwise)."
    origin = headers.get("Origin")
    if origin is not None and origin not in origins:
        return 403, f"A page from {origin} may not use this Web UI."
    site, mode = headers.get("Sec-Fetch-Site"), headers.get("Sec-Fetch-Mode")
    navigation = method == "GET" and mode == "navigate" and site == "same-site"
    if site not in (None, "same-origin", "none") and not navigation:
        return 403, "Only the Web UI's own pages may call it (this request came from another site)."
    if path == LOGIN_PATH:
        return None  # the key decides
    if cookie is None or not hmac.compare_digest(cookie, session):
        return 401, "This browser is not signed in."
    if method in ("GET", "HEAD"):
        return (403, "Jar upload is off in the lab: submit jobs from the notebook.") if path.startswith(
            "/jars"
        ) else None
    if method == "PATCH" and CANCEL.match(path):
        return None
    return 403, f"{method} {path} is not open from the browser: submit and change jobs from the notebook."


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def make_app(port: int, upstream: str, where: Path | None = None) -> Any:
    """The tornado application of the front door (``upstream``: Flink's REST, https://)."""
    import tornado.escape
    import tornado.httpclient
    import tornado.web

    secret = _secret(where)
    session = session_value(secret)
    context = tls.client_context(where)
    client = tornado.httpclient.AsyncHTTPClient()
    used: set[str] = set()

    class Door(tornado.web.RequestHandler):
        def _refuse(self, status: int, reason: str) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(NOT_LOGGED_IN.format(reason=tornado.escape.xhtml_escape(reason)))

        def set_default_headers(self) -> None:
            self.set_header("X-Frame-Options", "DENY")  # no clickjacking of the Cancel button
            self.set_header("Content-Security-Policy", "frame-ancestors 'none'")
            self.set_header("Referrer-Policy", "no-referrer")  # login keys stay out of other sites' logs
            self.clear_header("Server")

        async def _handle(self) -> None:
            request = self.request
            refused = refusal(
                request.method or "GET",
                request.path,
                dict(request.headers),
                port,
                self.get_cookie(COOKIE),
                session,
            )
            if refused:
                return self._refuse(*refused)
            if request.path == LOGIN_PATH:
                return self._login()
            response = await client.fetch(
                tornado.httpclient.HTTPRequest(
                    tls.url(upstream, request.uri or "/"),
                    method=request.method or "GET",
                    headers={"Accept": request.headers.get("Accept", "*/*")},
                    body=request.body if request.method == "PATCH" else None,
                    allow_nonstandard_methods=True,
                    ssl_options=context,
                    request_timeout=60,
                    follow_redirects=False,
                    decompress_response=False,
                ),
                raise_error=False,
            )
            if response.code == 599:  # no answer at all
                return self._refuse(502, f"Flink's JobManager does not answer ({response.error}).")
            self.set_status(response.code, response.reason)
            for name in PASSED_HEADERS:
                if name in response.headers:
                    self.set_header(name, response.headers[name])
            self.finish(response.body or b"")

        def _login(self) -> None:
            if self.get_cookie(COOKIE) != session:
                why = check_key(secret, self.get_argument("key", ""), used)
                if why:
                    return self._refuse(401, why)
                self.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
            self.redirect(safe_next(self.get_argument("next", None)))

        # every verb goes through the same rules (`refusal`): a clear answer, never a bare 405
        async def get(self) -> None:
            await self._handle()

        async def head(self) -> None:
            await self._handle()

        async def patch(self) -> None:
            await self._handle()

        async def post(self) -> None:
            await self._handle()

        async def put(self) -> None:
            await self._handle()

        async def delete(self) -> None:
            await self._handle()

        async def options(self) -> None:
            await self._handle()

    return tornado.web.Application([(r"/.*", Door)])


def main(argv: list[str] | None = None) -> None:
    import asyncio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="Flink's REST API, https://127.0.0.1:PORT")
    parser.add_argument("--tls", type=Path, default=None, help="the lab's TLS folder (default: tls.folder())")
    args = parser.parse_args(argv)

    async def serve() -> None:
        app = make_app(args.port, args.upstream, args.tls)
        app.listen(args.port, address="127.0.0.1", xheaders=False)
        print(f"labkit: Flink's Web UI on http://127.0.0.1:{args.port} -> {args.upstream}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
