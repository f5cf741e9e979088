"""GET /functions/v1/calendar/...: appointments as iCalendar.

    GET /feeds/<token>.ics          the secret feed URL a calendar app subscribes to;
                                    no JWT (the token is the credential), 404 when
                                    unknown or revoked; cached privately for 5 minutes
    GET /appointments/<id>.ics      one appointment for the signed-in caller (JWT
                                    required, 401 without); 404 unless RLS shows it

supabase.toml: verify_jwt = false (the feed URL carries its own secret; the
per-appointment path checks the caller itself). Feeds are created and revoked
through the RPCs create_calendar_feed() / revoke_calendar_feed(id).
"""

import functions_framework

from shared.appointments import calendar
from shared.platform import contract, db, errors, http

ICS = "text/calendar"


@functions_framework.http
@http.function(methods=("GET",), operations=[
    contract.Operation("GET", "/feeds/{token}.ics", summary="A calendar feed (its secret URL is the credential)",
                       params={"token": {"type": "string", "pattern": "^[0-9a-f]{32,200}$"}}, media=ICS,
                       auth="none"),
    contract.Operation("GET", "/appointments/{appointment_id}.ics", summary="One appointment of the caller's",
                       media=ICS, auth="user"),
])
def main(call: http.Call):
    if found := calendar.FEED_PATH.match(call.path):
        with db.as_service() as cur:
            feed = calendar.feed_events(cur, found.group(1))
        if feed is None:
            raise errors.not_found("feed_not_found", "This calendar feed does not exist or was revoked")
        return http.Response(calendar.feed_calendar(feed), content_type=calendar.CONTENT_TYPE,
                             headers={"cache-control": calendar.FEED_CACHE_CONTROL})
    if found := calendar.APPOINTMENT_PATH.match(call.path):
        appointment_id = http.path_uuid(found.group(1), "appointment")
        call.require_user()
        with db.transaction(call.caller) as cur:
            event = calendar.appointment_event(cur, appointment_id)
        return http.Response(
            calendar.appointment_calendar(event), content_type=calendar.CONTENT_TYPE,
            headers={"cache-control": "private, no-store",
                     "content-disposition": f'attachment; filename="appointment-{event["id"]}.ics"'})
    raise errors.not_found("not_found", "Not found")
