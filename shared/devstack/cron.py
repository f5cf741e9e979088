"""The schedules in supabase.toml, run locally the way pg_cron + pg_net run them on Supabase:
a POST to the function's URL with the service-role key."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import httpx
from croniter import croniter
from werkzeug.test import Client

from shared.platform import auth, config, log


def run(job: config.CronJob, app: Callable | None = None) -> tuple[int, str]:
    """Call the job's function once, as service_role. Returns (status, body).

    With `app` (the dev server's own WSGI app) the call stays in-process;
    without it, the running local stack is called over HTTP, and failing
    that, the functions are loaded here."""
    key = auth.mint(config.settings(), role="service_role", ttl_seconds=300)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json",
               "x-request-id": f"cron-{job.name}"}
    path = f"/functions/v1/{job.function}"
    if app is None:
        try:
            r = httpx.post(config.settings().runtime.local_base(path.lstrip("/")), json=job.body, headers=headers,
                           timeout=120)
            return r.status_code, r.text
        except httpx.ConnectError:
            from shared.devstack import devserver

            app = devserver.build_app()
    response = Client(app).post(path, data=json.dumps(job.body), headers=headers)
    return response.status_code, response.get_data(as_text=True)


def loop(stop: threading.Event, app: Callable) -> None:
    """Run every job when due until `stop` is set. One failing job never stops the others."""
    jobs = list(config.project().cron.values())
    if not jobs:
        return
    now = datetime.now(timezone.utc)
    upcoming = {job.name: croniter(job.schedule, now).get_next(datetime) for job in jobs}
    while not stop.is_set():
        now = datetime.now(timezone.utc)
        for job in jobs:
            if upcoming[job.name] <= now:
                try:
                    status, body = run(job, app)
                    log.event("cron", job=job.name, status=status)
                except Exception:
                    logging.getLogger("bookwell.cron").exception("cron job %s failed", job.name)
                upcoming[job.name] = croniter(job.schedule, now).get_next(datetime)
        wait = min((t - datetime.now(timezone.utc)).total_seconds() for t in upcoming.values())
        stop.wait(max(0.2, min(wait, 5)))
