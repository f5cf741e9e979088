"""GET and POST /functions/v1/unsubscribe?token=<the recipient's token>

The link and `List-Unsubscribe` header of every promotion (RFC 8058). No
sign-in: the token is the recipient's own random secret, good for their one
consent (that org, that channel, that address), once.

- GET shows a page with one button; it changes nothing, because mail
  scanners fetch links.
- POST (the button, or a mail client's one-click `List-Unsubscribe=One-Click`)
  withdraws the consent: 200. An unknown token 404, a used one 410.
"""

import html

import functions_framework
from pydantic import BaseModel

from shared.platform import contract, db, errors, http

HTML = "text/html"


class TokenQuery(BaseModel):
    token: str | None = None  # the recipient's own secret, from the promotion's link

PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.4rem">{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> http.Response:
    return http.Response(PAGE.format(title=html.escape(title), body=body), status=status,
                         content_type="text/html; charset=utf-8")


@functions_framework.http
@http.function(methods=("GET", "POST"), operations=[
    contract.Operation("GET", summary="A page with one button; changes nothing", query=TokenQuery, media=HTML,
                       auth="none"),
    contract.Operation("POST", summary="Withdraw the consent (RFC 8058 one-click)", query=TokenQuery, media=HTML,
                       also={404: HTML, 410: HTML}, auth="none"),
])
def main(call: http.Call):
    token = call.request.args.get("token") or ""
    if call.method == "GET":
        return _page("Unsubscribe", '<p>Stop receiving offers from this business?</p>'
                     f'<form method="post" action="?token={html.escape(token, quote=True)}">'
                     '<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>')
    try:
        with db.as_service() as cur:
            cur.execute("select private.unsubscribe(%s) as result", (token,))
            result = cur.fetchone()["result"]
    except errors.DomainError as exc:
        if exc.status in (404, 410):
            return _page("Unsubscribe", f"<p>{html.escape(exc.message)}.</p>", exc.status)
        raise
    return _page("Unsubscribed", f"<p>You will get no more offers from {html.escape(result['org_name'])} "
                                 f"by {'email' if result['channel'] == 'email' else 'text message'}.</p>")
