"""The schedules in supabase.toml, run locally the way pg_cron + pg_net run them on Supabase:
a POST to the function's URL with the service-role key."""

from __future__ import annotations

import functools
import json
import logging
import threading
from datetime import datetime, timezone

from croniter import croniter
from werkzeug.test import Client

from shared import auth, config, log


@functools.cache
def _client() -> Client:
    from shared import devserver

    return Client(devserver.build_app())


def run(job: config.CronJob) -> tuple[int, str]:
    """Call the job's function once, as service_role. Returns (status, body)."""
    key = auth.mint(config.settings(), role="service_role", ttl_seconds=300)
    response = _client().post(
        f"/functions/v1/{job.function}",
        data=json.dumps(job.body),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json",
                 "x-request-id": f"cron-{job.name}"},
    )
    return response.status_code, response.get_data(as_text=True)


def loop(stop: threading.Event) -> None:
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
                    status, body = run(job)
                    log.event("cron", job=job.name, status=status)
                except Exception:
                    logging.getLogger("bookwell.cron").exception("cron job %s failed", job.name)
                upcoming[job.name] = croniter(job.schedule, now).get_next(datetime)
        wait = min((t - datetime.now(timezone.utc)).total_seconds() for t in upcoming.values())
        stop.wait(max(0.2, min(wait, 5)))
