"""The dev checkout page in a real browser: headless Chromium (Debian's
/usr/bin/chromium, driven by Selenium through /usr/bin/chromedriver).

A guest's order is created over HTTP, the browser opens its checkout_url,
a screenshot is taken, #pay is clicked, and the browser must land on the
success URL: a tiny page served here, whose origin is allowed through
CHECKOUT_RETURN_ORIGINS for this test. What matters afterwards is in the
database and the mailbox: the order is paid, its tickets exist and the
ticket email arrived.

Needs the `selenium` package (dev extra). Skipped only when Chromium itself
is not installed (.ci/run installs it with apt-get).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.platform import config
from tests.support import ticketing as tk
from tests.support.http import ORIGIN, buy, checkout_body

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@contextmanager
def thanks_site():
    """A local 'frontend' that answers /thanks and /cancelled and records what it was asked for."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.path)
            body = (b"<!doctype html><html><head><title>Thanks</title></head>"
                    b"<body><h1 id='thanks'>Thank you for your order</h1></body></html>")
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@contextmanager
def return_origins(*origins: str):
    """Let checkouts return to `origins` (the functions read settings per request)."""
    previous = os.environ.get("CHECKOUT_RETURN_ORIGINS")
    os.environ["CHECKOUT_RETURN_ORIGINS"] = ",".join(origins)
    config.settings.cache_clear()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CHECKOUT_RETURN_ORIGINS", None)
        else:
            os.environ["CHECKOUT_RETURN_ORIGINS"] = previous
        config.settings.cache_clear()


@contextmanager
def chromium(profile: Path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # a missing dev dependency is a failure, not a reason to skip
        pytest.fail("selenium is not installed: pip install -e '.[dev]' (selenium is a dev extra)")

    assert CHROMEDRIVER.exists(), f"{CHROMEDRIVER} is missing: apt-get install chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-proxy-server", "--window-size=1024,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    """Poll until `predicate()` is truthy; returns its last value (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.mark.browser
def test_a_guest_pays_on_the_checkout_page_in_chromium_and_gets_their_tickets(stack, db, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver; .ci/run does this)")
    event = tk.event(db)
    general = tk.tier(db, event, name="General", price_minor=2500, capacity=10)
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"

    with thanks_site() as (site, seen), return_origins(ORIGIN, site):
        r = buy(stack.functions_url, checkout_body(
            event, [(general, 2)], buyer_email=email, buyer_name="Bea Browser",
            success_url=f"{site}/thanks?session={{CHECKOUT_SESSION_ID}}", cancel_url=f"{site}/cancelled"))
        assert r.status_code == 200, r.text
        order = r.json()
        session_id = order["checkout_session_id"]
        assert order["checkout_url"] == f"{stack.base_url}/stripe/checkout/{session_id}"

        with chromium(tmp_path / "profile") as driver:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support import expected_conditions as ec
            from selenium.webdriver.support.ui import WebDriverWait

            driver.get(order["checkout_url"])
            pay = WebDriverWait(driver, 15).until(ec.element_to_be_clickable((By.ID, "pay")))
            assert driver.find_element(By.ID, "session-id").text == session_id
            assert driver.find_element(By.ID, "status").get_attribute("data-status") == "open"
            assert driver.find_element(By.ID, "total").text == "50.00 GBP"
            assert "50.00 GBP" in pay.text
            assert "Spring Gala - General" in driver.find_element(By.ID, "line-items").text

            shot = tmp_path / "checkout.png"
            assert driver.save_screenshot(str(shot))
            data = shot.read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 1000, f"not a PNG screenshot: {len(data)} bytes"

            pay.click()
            WebDriverWait(driver, 20).until(lambda d: urlsplit(d.current_url).path == "/thanks")
            landed = urlsplit(driver.current_url)
            assert f"{landed.scheme}://{landed.netloc}" == site
            assert parse_qs(landed.query) == {"session": [session_id]}
            assert driver.find_element(By.ID, "thanks").text == "Thank you for your order"
        assert f"/thanks?session={session_id}" in seen

    # What the click did: Stripe's signed webhook made the order paid, the tickets exist, the email went out.
    status = wait_for(lambda: db.value("select status from public.orders where id = %s", (order["order_id"],))
                      == "paid")
    assert status, db.value("select status from public.orders where id = %s", (order["order_id"],))
    assert stack.stripe.sessions[session_id]["payment_status"] == "paid"
    assert db.value("select count(*) from public.tickets where order_id = %s and status = 'valid'",
                    (order["order_id"],)) == 2
    emails = wait_for(lambda: [e for e in stack.resend.emails_to(email) if e["subject"].startswith("Your tickets")])
    assert len(emails) == 1, emails
    assert "Spring Gala" in emails[0]["subject"]
    assert len(emails[0]["attachments"]) == 2  # one QR code per ticket
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
