"""Call the database exactly as PostgREST does, as a chosen caller: `bookwell rpc` and `bookwell sql`.

A frontend reaches the RPCs through PostgREST (supabase-js `.rpc()`), which
for each request switches to the token's role, sets `request.jwt.claims` and
calls `public.<name>` with the JSON body's keys as named arguments, typed by
the function's own parameters. This module does the same from the command
line, so a newcomer can try any RPC or read any table as a guest, a customer
or a member and see exactly what RLS lets them see:

    bookwell rpc services_for_postcode org_slug=demo "postcode=SE1 7PB"
    bookwell rpc lookup_order --json '{"order_number": "BW-…", "tracking_token": "…"}'
    bookwell sql --as owner@demo.bookwell.dev "select number, status from orders"

The caller is "anon" (the default), "service_role", or a user's email; a
user's claims come from a token minted and verified as for a real request.
Refusals come back as PostgREST reports them: code, message, details, hint,
and the HTTP status it would answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.platform import auth, config
from shared.platform.db import Caller, act_as

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# PostgREST's mapping of the SQLSTATEs an RPC raises most (PTxxx carries its own status).
STATUS = {"42501": 403, "42883": 404, "23505": 409, "23503": 409, "23514": 400, "22P02": 400, "P0001": 400}


class RpcError(Exception):
    """A refusal in PostgREST's shape."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.hint = status, code, message, details, hint

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details, "hint": self.hint}

    @classmethod
    def from_database(cls, exc: psycopg.Error) -> "RpcError":
        code = exc.sqlstate or "XX000"
        status = int(code[2:]) if re.fullmatch(r"PT\d{3}", code) else STATUS.get(code, 400 if code[:2] in
                                                                                 ("22", "23") else 500)
        diag = exc.diag
        return cls(status, code, diag.message_primary or str(exc), diag.message_detail, diag.message_hint)


def caller_for(who: str, conn: psycopg.Connection) -> Caller:
    """"anon", "service_role", or the email of a user in auth.users (as their verified token says)."""
    if who == "anon":
        return Caller.anon()
    if who in ("service_role", "service"):
        return Caller.service()
    row = conn.execute("select id::text as id, lower(email) as email from auth.users where lower(email) = lower(%s)",
                       (who,)).fetchone()
    if row is None:
        raise RpcError(401, "unknown_user", f"No user {who!r}; `bookwell token --email {who}` creates one")
    settings = config.settings()
    return auth.verify(auth.mint(settings, role="authenticated", sub=row["id"], email=row["email"]), settings)


@dataclass(frozen=True)
class Signature:
    arg_names: list[str]
    arg_types: list[str]
    required: int  # how many leading arguments have no default
    returns_set: bool
    returns_void: bool


def _signature(conn: psycopg.Connection, name: str, given: set[str]) -> Signature:
    """The overload of public.<name> PostgREST would pick: the one whose named arguments cover the
    keys given and that needs no argument left out."""
    rows = conn.execute(
        """
        select coalesce(p.proargnames[1:p.pronargs], '{}') as names,
               array(select format_type(t, null) from unnest(p.proargtypes::oid[]) t) as types,
               p.pronargs - p.pronargdefaults as required, p.proretset as returns_set,
               p.prorettype = 'void'::regtype as returns_void
        from pg_proc p
        where p.pronamespace = 'public'::regnamespace and p.proname = %s and p.prokind = 'f'
        """, (name,)).fetchall()
    for row in sorted(rows, key=lambda r: len(r["names"])):
        names = list(row["names"])
        if given <= set(names) and set(names[:row["required"]]) <= given:
            return Signature(names, list(row["types"]), row["required"], row["returns_set"], row["returns_void"])
    raise RpcError(404, "PGRST202", f"Could not find the function public.{name}({', '.join(sorted(given))})",
                   hint="bookwell sql \"select proname from pg_proc where pronamespace = 'public'::regnamespace\"")


def _argument(value: Any, pg_type: str) -> tuple[sql.Composable, Any]:
    """A placeholder cast to the parameter's type, and the value to send (JSON stays JSON)."""
    if pg_type in ("json", "jsonb"):
        return sql.SQL("%s::{}").format(sql.SQL(pg_type)), Jsonb(value)
    if value is not None and not isinstance(value, (str, list)):
        value = json.dumps(value) if isinstance(value, dict) else str(value).lower() if isinstance(value, bool) \
            else str(value)
    return sql.SQL("%s::{}").format(sql.SQL(pg_type)), value


def call(database_url: str, who: str, name: str, args: dict[str, Any]) -> Any:
    """public.<name>(args) as `who`, committed as PostgREST commits: the JSON it would answer."""
    if not NAME.match(name):
        raise RpcError(400, "invalid_name", f"{name!r} is not a function name")
    with psycopg.connect(database_url, row_factory=dict_row, prepare_threshold=None) as conn:
        caller = caller_for(who, conn)
        signature = _signature(conn, name, set(args))
        pieces, values = [], []
        for arg_name, arg_type in zip(signature.arg_names, signature.arg_types):
            if arg_name in args:
                placeholder, value = _argument(args[arg_name], arg_type)
                pieces.append(sql.SQL("{} => {}").format(sql.Identifier(arg_name), placeholder))
                values.append(value)
        invocation = sql.SQL("public.{}({})").format(sql.Identifier(name), sql.SQL(", ").join(pieces))
        if signature.returns_void:
            statement = sql.SQL("select {} is null as v").format(invocation)
        elif signature.returns_set:
            statement = sql.SQL("select coalesce(jsonb_agg(to_jsonb(r)), '[]') as v from {} r").format(invocation)
        else:
            statement = sql.SQL("select to_jsonb(r) as v from {} r").format(invocation)
        try:
            with conn.transaction():
                act_as(conn.cursor(), caller)
                row = conn.execute(statement, values).fetchone()
        except psycopg.Error as exc:
            raise RpcError.from_database(exc) from None
        return None if signature.returns_void else row["v"]


def run_sql(database_url: str, who: str, statement: str) -> list[dict]:
    """One SQL statement as `who` (role and claims as PostgREST sets them), committed; its rows."""
    with psycopg.connect(database_url, row_factory=dict_row, prepare_threshold=None) as conn:
        caller = caller_for(who, conn)
        try:
            with conn.transaction():
                cur = conn.cursor()
                act_as(cur, caller)
                cur.execute("set local search_path = public, extensions")
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise RpcError.from_database(exc) from None


def parse_args(pairs: list[str], raw_json: str | None) -> dict[str, Any]:
    """`--json '{…}'` and/or key=value (a string) and key:=value (JSON: numbers, true, arrays, objects)."""
    args: dict[str, Any] = {}
    if raw_json:
        try:
            parsed = json.loads(raw_json)
        except json.JSONDecodeError as exc:
            raise RpcError(400, "invalid_json", f"--json is not JSON: {exc.msg} at character {exc.pos}") from None
        if not isinstance(parsed, dict):
            raise RpcError(400, "invalid_json", "--json must be an object of named arguments")
        args.update(parsed)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        as_json = key.endswith(":")
        key = key.removesuffix(":")
        if not sep or not NAME.match(key):
            raise RpcError(400, "invalid_argument", f"{pair!r}: write name=value, or name:=json")
        if as_json:
            try:
                args[key] = json.loads(value)
            except json.JSONDecodeError:
                raise RpcError(400, "invalid_argument", f"{pair!r}: the value after := is not JSON") from None
        else:
            args[key] = value
    return args
