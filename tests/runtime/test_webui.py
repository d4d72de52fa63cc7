"""Only the learner reaches Flink: the REST API asks for the lab's certificate, and the Web
UI's front door (labkit/runtime/webui.py) refuses web pages and other users.

The attacks are the ones a page open in the learner's browser can send to 127.0.0.1
without a preflight (a multipart `POST /jars/upload`, then `POST /jars/<id>/run`; a
multipart `POST /jobs`), and a request from another user of this machine. Each is sent
for real to the suite's lab and must be refused; next to them, the ways in that must keep
working (the Web UI's pages and its Cancel button, labkit's REST calls, job submission).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from labkit.runtime import tls, webui
from labkit.runtime.net import free_port

SECRET = b"a-test-secret"
SESSION = webui.session_value(SECRET)
PORT = 8081
SAME = {"Host": f"127.0.0.1:{PORT}"}


# --- the rules, one by one (pure) ---------------------------------------------------------


def refused(method="GET", path="/overview", cookie=SESSION, **headers):
    return webui.refusal(method, path, {**SAME, **headers}, PORT, cookie, SESSION)


def test_a_signed_in_browser_reads_every_page_and_may_cancel_a_job():
    assert refused() is None
    assert refused(path="/") is None
    fetch = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert refused(path="/jobs/overview", **fetch) is None
    assert refused("PATCH", "/jobs/" + "a" * 32, Origin=f"http://127.0.0.1:{PORT}") is None
    assert refused(Host=f"localhost:{PORT}") is None


def test_a_link_clicked_in_jupyterlab_is_a_same_site_navigation_and_passes():
    nav = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}
    assert refused(path=webui.LOGIN_PATH, cookie=None, **nav) is None
    assert refused(path="/", **nav) is None
    # the same site may not call it from a script, nor post to it
    assert refused(**{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"})[0] == 403
    assert refused("PATCH", "/jobs/" + "a" * 32, **nav)[0] == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:8888"},  # another port is another origin
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
        {"Host": "evil.example:8081"},  # DNS rebinding
        {"Host": "127.0.0.1:9999"},
    ],
)
def test_a_request_from_another_page_or_host_is_refused_even_with_the_cookie(headers):
    status, reason = refused("POST", "/jars/upload", **headers)
    assert status == 403 and reason
    assert refused(**headers)[0] == 403


def test_without_the_cookie_nothing_but_the_login_page_answers():
    assert refused(cookie=None)[0] == 401
    assert refused(cookie="forged")[0] == 401
    assert refused(path="/", cookie=None)[0] == 401
    assert refused(path=webui.LOGIN_PATH, cookie=None) is None


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/jars/upload"),
        ("POST", "/jars/abc_hi.jar/run"),
        ("GET", "/jars"),
        ("POST", "/jobs"),  # a JobGraph with jars: the second door web.submit.enable leaves open
        ("DELETE", "/jars/abc_hi.jar"),
        ("PATCH", "/jobs/not-a-job-id"),
        ("POST", "/jobs/" + "a" * 32 + "/savepoints"),
        ("PUT", "/overview"),
    ],
)
def test_no_submission_or_change_passes_even_for_the_learner(method, path):
    status, reason = refused(method, path, Origin=f"http://127.0.0.1:{PORT}")
    assert status == 403 and "notebook" in reason


def test_a_login_key_works_once_and_within_its_hour():
    used: set[str] = set()
    payload = f"{int(time.time()) + 60}.abcd"
    key = f"{payload}.{webui.sign(SECRET, payload)}"
    assert webui.check_key(SECRET, key, used) is None
    assert "used" in webui.check_key(SECRET, key, used)
    assert "expired" in webui.check_key(SECRET, key, set(), now=time.time() + 120)
    assert "not made by this lab" in webui.check_key(b"another-lab", key, set())
    assert "not a Web UI login link" in webui.check_key(SECRET, "nonsense", set())


def test_after_signing_in_the_browser_goes_to_a_page_of_this_server_only():
    assert webui.safe_next("/#/job/running/x/overview") == "/#/job/running/x/overview"
    for elsewhere in (None, "", "//evil.example/", "http://evil.example/", "evil", "/\\evil.example"):
        assert webui.safe_next(elsewhere) == "/"


def test_flink_options_never_show_the_password():
    shown = tls.shown({"security.ssl.rest.keystore-password": "s3cret", "rest.port": "1"})
    assert shown == {"security.ssl.rest.keystore-password": "******", "rest.port": "1"}


def test_addresses_with_and_without_tls():
    assert tls.host_port("https://127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert tls.host_port("flink:8081") == ("flink", 8081)
    assert tls.url("flink:8081", "/overview") == "http://flink:8081/overview"
    assert tls.url("https://127.0.0.1:1/", "jobs") == "https://127.0.0.1:1/jobs"
    assert tls.is_tls("https://127.0.0.1:1") and not tls.is_tls("127.0.0.1:1")


# --- for real, on the suite's lab -----------------------------------------------------------

#: How a TLS server that wants a client certificate refuses a client without one.
HANDSHAKE_REFUSED = (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)
HI_JAR = b"PK\x03\x04 not really a jar, never meant to run"


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        "Content-Type: application/x-java-archive\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def send(address: str, method: str, path: str, body: bytes | None = None, headers=None, context=None):
    """One request exactly as given (http.client adds nothing a browser would not);
    (status, reply headers, body)."""
    host, port = tls.host_port(address)
    conn = (
        http.client.HTTPSConnection(host, port, timeout=10, context=context)
        if tls.is_tls(address)
        else http.client.HTTPConnection(host, port, timeout=10)
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def no_certificate() -> ssl.SSLContext:
    """What a browser or another user has: it trusts the lab's server but has no client key."""
    return ssl.create_default_context(cafile=str(tls.folder() / "rest.crt"))


@pytest.fixture(scope="module")
def signed_in(lab):
    """A cookie jar signed in through a fresh login link, as a browser would be."""
    link = urllib.parse.urlsplit(lab.web_ui)
    status, headers, _ = send(lab.flink_web_ui, "GET", f"{link.path}?{link.query}")
    assert status == 302, status
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0]


def test_the_lab_speaks_tls_to_flink_and_the_web_ui_is_its_own_address(lab):
    assert tls.is_tls(lab.flink_rest) and lab.flink_web_ui.startswith("127.0.0.1:")
    assert lab.flink_rest != f"https://{lab.flink_web_ui}"
    assert (tls.folder().stat().st_mode & 0o777) == 0o700
    for name in tls.FILES:
        assert ((tls.folder() / name).stat().st_mode & 0o777) == 0o600, name
    conf = Path(os.environ["LABKIT_HOME"]) / "flink" / "conf" / "config.yaml"
    assert (conf.stat().st_mode & 0o777) == 0o600  # it holds the keystore's password


def test_cross_origin_jar_upload_and_run_are_refused(lab, signed_in):
    body, kind = multipart("jarfile", "hi.jar", HI_JAR)
    evil = {"Origin": "http://evil.example", "Content-Type": kind}
    # at the Web UI, with and without the learner's cookie (a browser sends it along)
    for cookie in ({}, {"Cookie": signed_in}):
        status, headers, _ = send(lab.flink_web_ui, "POST", "/jars/upload", body, {**evil, **cookie})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        run = {"Origin": "http://evil.example", "Content-Type": "text/plain", **cookie}  # a "simple" request
        status, _, _ = send(lab.flink_web_ui, "POST", "/jars/x_hi.jar/run?entry-class=Hi", b"", run)
        assert status == 403
    # at Flink's REST port itself: no TLS handshake without the lab's certificate
    for context in (no_certificate(), ssl._create_unverified_context()):  # noqa: SLF001 - curl -k
        with pytest.raises(HANDSHAKE_REFUSED):
            send(lab.flink_rest, "POST", "/jars/upload", body, evil, context=context)
    # plain HTTP to it only gets a redirect to https://, where the handshake above fails
    status, headers, _ = send(lab.flink_rest.replace("https://", ""), "POST", "/jars/upload", body, evil)
    assert status == 301 and headers["location"].startswith("https://")


def test_jar_upload_is_off_even_with_the_certificate(lab):
    body, kind = multipart("jarfile", "hi.jar", HI_JAR)
    status, _, reply = send(
        lab.flink_rest, "POST", "/jars/upload", body, {"Content-Type": kind}, context=tls.client_context()
    )
    # web.submit.enable: false - Flink refuses the upload, and has no jar handlers at all
    assert (status, reply) == (400, b'{"errors":["POST request not allowed"]}')
    for method, path in (("GET", "/jars"), ("POST", "/jars/x_hi.jar/run")):
        body = b"" if method == "POST" else None
        assert send(lab.flink_rest, method, path, body, context=tls.client_context())[0] == 404
    assert lab.flink_api("overview")["flink-version"]  # the same certificate reads fine


def test_cross_origin_post_jobs_is_refused(lab, signed_in):
    body, kind = multipart("file_0", "job.graph", b"\xac\xed\x00\x05 a JobGraph")
    evil = {"Origin": "http://evil.example", "Content-Type": kind}
    for cookie in ({}, {"Cookie": signed_in}):
        status, _, _ = send(lab.flink_web_ui, "POST", "/jobs", body, {**evil, **cookie})
        assert status == 403
    # same origin, signed in: still no submission from a browser
    own = {"Origin": f"http://{lab.flink_web_ui}", "Content-Type": kind, "Cookie": signed_in}
    assert send(lab.flink_web_ui, "POST", "/jobs", body, own)[0] == 403
    with pytest.raises(HANDSHAKE_REFUSED):
        send(lab.flink_rest, "POST", "/jobs", body, evil, context=no_certificate())


def test_the_signed_in_browser_gets_flinks_web_ui(lab, signed_in):
    status, headers, page = send(lab.flink_web_ui, "GET", "/", headers={"Cookie": signed_in})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<flink-root" in page  # Flink's dashboard (an Angular app)
    assert headers["X-Frame-Options"] == "DENY"
    status, _, body = send(lab.flink_web_ui, "GET", "/overview", headers={"Cookie": signed_in})
    assert status == 200 and json.loads(body)["flink-version"] == lab.flink_api("overview")["flink-version"]
    status, _, body = send(lab.flink_web_ui, "GET", "/config", headers={"Cookie": signed_in})
    assert json.loads(body)["features"]["web-submit"] is False  # the UI shows no upload page


def test_a_login_link_signs_in_once_and_opens_the_page_it_names(lab):
    link = urllib.parse.urlsplit(webui.login_link(lab.flink_web_ui, "#/job/running/abc/overview"))
    target = f"{link.path}?{link.query}"
    status, headers, _ = send(lab.flink_web_ui, "GET", target)
    assert status == 302 and headers["Location"] == "/#/job/running/abc/overview"
    status, _, page = send(lab.flink_web_ui, "GET", target)
    assert status == 401 and b"used already" in page
    forged = target.replace(target[-8:], "00000000")
    assert send(lab.flink_web_ui, "GET", forged)[0] == 401


def test_the_web_uis_cancel_button_cancels_a_job(lab, topic):
    src = topic("webui-cancel")
    t_env = lab.table_env()
    lab.kafka_table(t_env, "src", "n INT", topic=src)
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (n INT) WITH ('connector' = 'blackhole')")
    job = lab.start(t_env.execute_sql("INSERT INTO sink SELECT n FROM src"), name="test-webui-cancel")
    try:
        lab.wait_until_running(job)
        link = urllib.parse.urlsplit(lab.web_ui)
        cookie = send(lab.flink_web_ui, "GET", f"{link.path}?{link.query}")[1]["Set-Cookie"].split(";")[0]
        own = {"Origin": f"http://{lab.flink_web_ui}", "Cookie": cookie}
        status, _, _ = send(lab.flink_web_ui, "PATCH", f"/jobs/{job.job_id}?mode=cancel", b"", own)
        assert status == 202
        from labkit.waiting import wait_for

        wait_for(lambda: job.status == "CANCELED", "the job cancelled from the Web UI", timeout=60)
    finally:
        job.stop()


NOBODY = 65534
#: The other user runs the system's Python (the lab's may live in root's home, closed to it).
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system Python for the other user")
def test_another_user_of_this_machine_is_refused(lab):
    """Run as `nobody`: the lab's key is unreadable, Flink's REST API and SQL Gateway
    refuse the handshake, and the Web UI asks for a login."""
    code = f"""
import http.client, ssl, sys
try:
    open({str(tls.folder() / "rest.key")!r}).read(); print("read the key"); sys.exit(1)
except PermissionError:
    pass
for host, port, path in [({tls.host_port(lab.flink_rest)!r}) + ("/overview",),
                         ({tls.host_port(lab.endpoints.sql_gateway)!r}) + ("/v3/info",)]:
    try:
        c = http.client.HTTPSConnection(host, port, timeout=10, context=ssl._create_unverified_context())
        c.request("GET", path); print("REST answered", port, c.getresponse().status); sys.exit(1)
    except (ssl.SSLError, ConnectionError):
        print("refused", path)
h, p = {tls.host_port("x://" + lab.flink_web_ui)!r}
c = http.client.HTTPConnection(h, p, timeout=10)
c.request("GET", "/overview"); status = c.getresponse().status
print("web ui", status); sys.exit(0 if status == 401 else 1)
"""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", code],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "web ui 401" in done.stdout
    assert "refused /overview" in done.stdout and "refused /v3/info" in done.stdout


def test_a_port_taken_for_the_web_ui_is_reported(tmp_path):
    """The front door fails at once, and says why, when its port is taken."""
    import socket

    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        env = {**os.environ, "LABKIT_HOME": str(tmp_path)}
        subprocess.run(
            [sys.executable, "-c", "from labkit.runtime import tls; tls.ensure()"], env=env, check=True
        )
        done = subprocess.run(
            [sys.executable, "-m", "labkit.runtime.webui", "--port", str(port), "--upstream", "https://127.0.0.1:1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0 and "Address already in use" in done.stderr
