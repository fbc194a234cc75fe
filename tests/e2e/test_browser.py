"""A person using the server from a browser: headless Chromium driven by Playwright.

Needs Debian's chromium and the playwright package. When WPSD_REQUIRE_BROWSER is set (as
.ci/run does) a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from e2e_server import ROOT, start_server
from playwright.sync_api import expect, sync_playwright

from helpers import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("WPSD_REQUIRE_BROWSER"):
            pytest.fail("WPSD_REQUIRE_BROWSER is set but there is no chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def test_run_a_process_and_watch_its_progress(browser, demo_server):
    root = demo_server.url.rsplit("/wps", 1)[0]
    page = browser.new_page()
    page.goto(root + "/")
    assert page.locator("header .brand").inner_text() == "wpsd"
    page.click("text=Processes")
    page.click("text=Sleep Process")
    page.fill("#in-delay", "2")
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    # Progress arrives through the event stream: the bar moves before the job ends. (Waits
    # use locators: the page's CSP forbids the string evaluation of wait_for_function.)
    expect(page.locator("#percent")).to_have_text(re.compile(r"^[1-9]"), timeout=20000)
    expect(page.locator("#status")).to_have_text("successful", timeout=30000)
    page.wait_for_selector("#results-body")
    assert "done sleeping" in page.inner_text("#results-body")
    assert page.inner_text("#percent") == "100"
    assert not page.is_visible("#dismiss")
    page.wait_for_timeout(500)  # let the progress bar finish its animation
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "job-page.png"), full_page=True)
    page.goto(root + "/jobs?f=html")
    assert "successful" in page.inner_text("table")
    page.screenshot(path=str(ARTIFACTS / "jobs-page.png"), full_page=True)
    page.close()


def test_dismiss_from_the_job_page(browser, demo_server):
    root = demo_server.url.rsplit("/wps", 1)[0]
    page = browser.new_page()
    page.goto(root + "/processes/echo?f=html")
    page.fill("#in-message", "from the browser")
    page.fill("#in-pause", "30")
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    page.click("#dismiss")
    expect(page.locator("#status")).to_have_text("dismissed", timeout=20000)
    page.close()


def test_synchronous_only_process_shows_its_result(browser, demo_server):
    root = demo_server.url.rsplit("/wps", 1)[0]
    page = browser.new_page()
    page.goto(root + "/processes/say_hello?f=html")
    page.fill("#in-name", "browser")
    page.click("#submit")
    page.wait_for_url("**/jobs/**")
    page.wait_for_selector("#results-body")
    assert "Hello browser" in page.inner_text("#results-body")
    page.close()


# ---------------------------------------------------------------- a protected server


@pytest.fixture
def protected(tmp_path):
    """The demo with auth = tokens, its users alice and bob: (root URL, tokens)."""
    port = free_port()
    proc, server = start_server(
        [sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(port)], tmp_path,
        port, WPSD_AUTH="tokens")
    env = {**os.environ, "WPSD_DATA_DIR": str(tmp_path)}
    tokens = {name: subprocess.run([sys.executable, "-m", "wpsd.cli", "users", "add", name],
                                   cwd=ROOT, env=env, capture_output=True, text=True,
                                   check=True).stdout.strip() for name in ("alice", "bob")}
    yield server.url.rsplit("/wps", 1)[0], tokens
    proc.terminate()
    proc.wait(timeout=10)


def test_a_user_of_a_protected_server(browser, protected, tmp_path):
    root, tokens = protected
    # The browser answers the server's Basic challenge with the user's name and token.
    alice = browser.new_context(http_credentials={"username": "alice",
                                                  "password": tokens["alice"]})
    page = alice.new_page()
    page.goto(root + "/processes/echo?f=html")
    assert page.inner_text("#user") == "alice"
    page.fill("#in-message", "from alice")
    page.fill("#in-pause", "30")
    page.click("#submit")  # a POST of this server's own page: same-origin, served
    page.wait_for_url("**/jobs/**")
    job = page.url.split("/jobs/", 1)[1].split("?", 1)[0]
    expect(page.locator("#status")).to_have_text(re.compile("accepted|running"))

    # A page of another site that makes alice's browser dismiss her job: refused, though
    # the browser sends her credentials along.
    attack = tmp_path / "attack"
    attack.mkdir()
    (attack / "index.html").write_text(
        f'<form action="{root}/wps" method="GET"><input name="service" value="WPS">'
        '<input name="version" value="2.0.0"><input name="request" value="Dismiss">'
        f'<input name="jobID" value="{job}"></form><script>document.forms[0].submit()</script>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(attack))
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        forged = alice.new_page()
        # "localhost" is another site than "127.0.0.1", where the server is.
        with forged.expect_navigation(url=re.compile(r".*request=Dismiss.*")) as navigation:
            forged.goto(f"http://localhost:{evil.server_address[1]}/index.html")
        assert navigation.value.status == 403
        assert "another site" in forged.content()
    finally:
        evil.shutdown()
        evil.server_close()
    page.reload()
    expect(page.locator("#status")).to_have_text(re.compile("accepted|running"))

    # bob sees neither the job nor it in his list.
    bob = browser.new_context(http_credentials={"username": "bob", "password": tokens["bob"]})
    his = bob.new_page()
    assert his.goto(f"{root}/jobs/{job}?f=html").status == 404
    his.goto(root + "/jobs?f=html")
    assert job[:8] not in his.inner_text("table")
    bob.close()

    # alice dismisses it from her job page (a DELETE of this server's own script).
    page.click("#dismiss")
    expect(page.locator("#status")).to_have_text("dismissed", timeout=20000)
    alice.close()
