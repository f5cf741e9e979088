"""README's walkthrough runs as written: a ticket and an appointment, paid, from a terminal.

The shell blocks of README.md's "Walkthrough" section are run in bash, in
order, against `bookwell serve` (every function and the stand-ins, as
`make dev` serves them) on this module's seeded database. If the README
drifts from the product, this fails; then what the database and the mailbox
hold is checked, not only what the script printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx
import pytest

from shared.platform.config import PROJECT_ROOT
from shared.devstack.localdb import free_port
from tests.support.cli import BOOKWELL, ok

SECTION = re.compile(r"^## Walkthrough.*?(?=^## )", re.MULTILINE | re.DOTALL)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def walkthrough() -> str:
    section = SECTION.search((PROJECT_ROOT / "README.md").read_text())
    assert section, "README.md has no Walkthrough section"
    blocks = SHELL_BLOCK.findall(section.group())
    assert len(blocks) >= 3, "the walkthrough lost its shell blocks"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    env = {**os.environ, "DATABASE_URL": database_url,
           "BOOKWELL_HOME": str(tmp_path_factory.mktemp("bookwell-home"))}
    ok(subprocess.run([str(BOOKWELL), "seed"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                      timeout=120))
    port = free_port()
    server = subprocess.Popen([str(BOOKWELL), "serve", "--port", str(port)], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{api}/functions/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read() if server.stdout else ""
            time.sleep(0.2)
        yield {"api": api, "env": env}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_readme_walkthrough_buys_a_ticket_and_books_an_appointment(served, db):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=PROJECT_ROOT,
                            env={**served["env"], "API": served["api"]}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    printed = result.stdout.splitlines()
    assert "Bookwell Launch Party" in printed and printed.count("paid") == 2, result.stdout

    ticket = db.one("select o.status, o.total_minor, o.discount_minor, count(t.id) as tickets from public.orders o"
                    " join public.tickets t on t.order_id = o.id where o.buyer_email = 'gus@example.com'"
                    " group by o.id")
    assert ticket == {"status": "paid", "total_minor": 4500, "discount_minor": 500, "tickets": 2}
    booking = db.one("select o.status as order_status, a.status as appointment_status, a.postcode"
                     " from public.orders o join public.appointments a on a.order_id = o.id"
                     " where o.buyer_email = 'gina@example.com'")
    assert booking == {"order_status": "paid", "appointment_status": "booked", "postcode": "SE1 7PB"}
    mailbox = httpx.get(f"{served['api']}/resend/mailbox", timeout=10).text
    assert "gus@example.com" in mailbox and "gina@example.com" in mailbox
