"""`bookwell`: the local stack and operations in one command.

    bookwell dev [--port N] [--workers N]   database + migrations + demo data + functions + cron
    bookwell db start|stop|url        the embedded Postgres under .bookwell/
    bookwell db dump [--file PATH] [--database-url URL]               a backup in one file (pg_dump -Fc)
    bookwell db restore --file PATH [--database-url URL] [--clean]    into an empty database, all or nothing
    bookwell migrate [--database-url URL] [--status]
    bookwell seed                     demo organization and users (idempotent)
    bookwell serve [--port N] [--cron] [--workers N]   every function at /functions/v1/<name>
    bookwell token --email E | --anon a Supabase-shaped JWT for a local user, or the anon key
    bookwell rpc NAME [k=v ...] [--as WHO] [--json J]   call public.NAME as PostgREST would
    bookwell sql "STATEMENT" [--as WHO]                 one statement as that caller, under RLS
    bookwell cron list | run NAME     the schedules in supabase.toml

Failures exit non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

import psycopg

from shared.devstack import backup, cron, rpc, seed
from shared.platform import auth, config, migrate
from shared.devstack.localdb import LocalDbError, LocalServer, port_free


class CliError(Exception):
    pass


def local_server() -> LocalServer:
    return LocalServer(config.settings().runtime.home / "pgdata", config.project().db_port)


def database_url(explicit: str | None = None, *, start: bool = False) -> str:
    """The URL given, DATABASE_URL, or the local embedded server (started if asked)."""
    url = explicit or config.settings().database.url
    if url:
        return url
    server = local_server()
    if start:
        server.start()
    elif not server.running():
        raise CliError("the local database is not running: run `bookwell db start` or `bookwell dev`")
    return server.url


def use_api_port(explicit: int | None, command: str) -> int:
    """The port the functions will listen on (--port, BOOKWELL_API_PORT or supabase.toml [api] port),
    checked free before anything else happens, and made the one every local URL uses."""
    port = explicit or config.settings().runtime.api_port or config.project().api_port
    if not port_free(port):
        source = ("--port" if explicit else "BOOKWELL_API_PORT" if config.settings().runtime.api_port
                  else "[api] port in supabase.toml")
        raise CliError(f"port {port} is already in use (set by {source}); stop what is using it "
                       f"or run `bookwell {command} --port N`")
    os.environ["BOOKWELL_API_PORT"] = str(port)
    config.settings.cache_clear()
    return port


def _use(url: str) -> None:
    """Make every later settings() call (functions, pools) see this database."""
    os.environ["DATABASE_URL"] = url
    config.settings.cache_clear()


# ---------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> None:
    if args.action in ("dump", "restore"):
        url = database_url(args.database_url, start=not args.database_url)
        (cmd_dump if args.action == "dump" else cmd_restore)(args, url)
        return
    server = local_server()
    if args.action == "start":
        server.start()
        print(server.url)
    elif args.action == "stop":
        server.stop()
        print("stopped")
    else:
        print(server.url)


def _size(path: Path) -> str:
    size = path.stat().st_size
    if size < 1024:
        return f"{size} bytes"
    for unit in ("kB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def cmd_dump(args: argparse.Namespace, url: str) -> None:
    path = backup.dump(url, args.file or backup.default_path(config.settings().runtime.home))
    print(f"dumped {backup.describe(url)} to {path} ({_size(path)})")


def cmd_restore(args: argparse.Namespace, url: str) -> None:
    done = backup.restore(url, args.file, clean=args.clean)
    print(f"restored {args.file} into {backup.describe(url)}: {done.tables} tables, "
          f"schema version {done.schema_version or 'none'}")
    if done.roles_left_out:
        print(f"left out grants to roles this server does not have: {', '.join(done.roles_left_out)}")


def cmd_migrate(args: argparse.Namespace) -> None:
    url = database_url(args.database_url, start=not args.database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        if args.status:
            for s in migrate.status(conn):
                print(f"{'applied' if s.applied else 'pending'}  {s.migration.path.name}")
            return
    done = migrate.migrate(url)
    for m in done:
        print(f"applied  {m.path.name}")
    print(f"{len(done)} migration(s) applied; routines and policies re-applied")


def cmd_seed(args: argparse.Namespace) -> None:
    url = database_url(start=True)
    for line in seed.describe(seed.seed(url)):
        print(line)


def cmd_token(args: argparse.Namespace) -> None:
    if args.anon:
        print(auth.api_keys(config.settings())["anon"])
        return
    if not args.email:
        raise CliError("say whose token: --email ADDRESS, or --anon for the anon key")
    url = database_url(start=True)
    user_id = seed.ensure_user(url, args.email, args.name)
    print(auth.mint(config.settings(), role="authenticated", sub=user_id, email=args.email.lower(),
                    ttl_seconds=args.ttl))


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cmd_rpc(args: argparse.Namespace) -> None:
    url = database_url(start=True)
    try:
        _print_json(rpc.call(url, args.as_, args.name, rpc.parse_args(args.args, args.json)))
    except rpc.RpcError as exc:
        _print_json(exc.body())
        raise CliError(f"{args.name} was refused as PostgREST would answer it: {exc.status} {exc.code}") from None


def cmd_sql(args: argparse.Namespace) -> None:
    url = database_url(start=True)
    try:
        _print_json(rpc.run_sql(url, args.as_, args.statement))
    except rpc.RpcError as exc:
        _print_json(exc.body())
        raise CliError(f"the statement was refused: {exc.code} {exc.message}") from None


def cmd_cron(args: argparse.Namespace) -> None:
    jobs = config.project().cron
    if args.action == "list":
        for job in jobs.values():
            print(f"{job.name:28} {job.schedule:16} -> {job.function}")
        return
    if not args.name or args.name not in jobs:
        raise CliError(f"unknown cron job {args.name!r}; see `bookwell cron list`")
    _use(database_url(start=True))
    status, body = cron.run(jobs[args.name])
    print(body)
    if status >= 400:
        raise CliError(f"{args.name} answered {status}")


def worker_count(explicit: int | None) -> int:
    """--workers, else BOOKWELL_WORKERS, else 1."""
    raw = explicit if explicit is not None else (config.settings().runtime.workers or "").strip() or 1
    try:
        count = int(raw)
    except ValueError:
        raise CliError(f"BOOKWELL_WORKERS must be a whole number of processes, not {raw!r}") from None
    if count < 1:
        source = "--workers" if explicit is not None else "BOOKWELL_WORKERS"
        raise CliError(f"{source} must be at least 1, not {count}")
    return count


def serve(port: int, *, with_cron: bool, workers: int = 1) -> None:
    if workers > 1:  # gunicorn, N processes; the stand-ins and the cron loop stay here (see workers.py)
        from shared.devstack import workers as several

        status = several.serve(port, workers, with_cron=with_cron)
        if status:
            raise CliError(f"the function workers stopped (exit {status}); their log is above")
        return

    from werkzeug.serving import make_server

    from shared.devstack import devserver

    standins = devserver.Standins.for_settings(config.settings(), keep_in=config.settings().runtime.home)
    app = devserver.build_app(standins=standins)
    server = make_server("127.0.0.1", port, app, threaded=True)
    stop = threading.Event()
    loop = None
    if with_cron:
        loop = threading.Thread(target=cron.loop, args=(stop, app), name="cron", daemon=True)
        loop.start()

    def shutdown(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    server.serve_forever()
    if loop:
        loop.join(timeout=5)


def _processes(workers: int) -> str:
    return f" ({workers} worker processes)" if workers > 1 else ""


def cmd_serve(args: argparse.Namespace) -> None:
    workers = worker_count(args.workers)
    port = use_api_port(args.port, "serve")
    _use(database_url())
    print(f"functions at http://127.0.0.1:{port}/functions/v1/<name>{_processes(workers)}", flush=True)
    serve(port, with_cron=args.cron, workers=workers)


def cmd_dev(args: argparse.Namespace) -> None:
    from shared.devstack import devserver

    workers = worker_count(args.workers)
    port = use_api_port(args.port, "dev")
    started_here = False
    url = config.settings().database.url
    if not url:
        server = local_server()
        started_here = not server.running()
        server.start()
        url = server.url
    _use(url)
    try:
        done = migrate.migrate(url)
        demo = seed.seed(url)
        cfg = config.settings()
        keys = auth.api_keys(cfg)
        base = f"http://127.0.0.1:{port}"
        lines = [
            "", "Bookwell is running. Ctrl-C stops it; the data stays in .bookwell/.", "",
            f"  database        {url}",
            f"  migrations      {len(done)} applied now",
            f"  functions       {base}/functions/v1/<name>{_processes(workers)}",
        ]
        lines += [f"                  {base}/functions/v1/{name}" for name in devserver.function_names()]
        if cfg.stripe.base and cfg.stripe.base.startswith("http://127.0.0.1"):
            lines.append(f"  stripe (local)  {base}/stripe/  (dev checkout pages)")
        if cfg.paypal.base and cfg.paypal.base.startswith("http://127.0.0.1"):
            lines.append(f"  paypal (local)  {base}/paypal/  (orders and their approval pages)")
        if cfg.mail.resend_base and cfg.mail.resend_base.startswith("http://127.0.0.1"):
            lines.append(f"  mailbox         {base}/resend/mailbox  (kept in {cfg.runtime.home}/mailbox.jsonl)")
        if cfg.sms.twilio_base and cfg.sms.twilio_base.startswith("http://127.0.0.1"):
            lines.append(f"  SMS             {base}/twilio/messages")
        if cfg.ai.base_url:
            lines.append(f"  AI provider     {cfg.ai.base_url} (model {cfg.ai.model})")
        else:
            lines.append(f"  AI provider     none; for the local stand-in: AI_BASE_URL={base}/llm/v1 "
                         "AI_MODEL=bookwell-local make dev")
        lines += ["", f"  anon key        {keys['anon']}", f"  service key     {keys['service_role']}", ""]
        lines += seed.describe(demo, with_tokens=True)
        lines += ["", "  try: curl " + base + "/functions/v1/health",
                  "  then README.md, \"Walkthrough\": a paid ticket and a booked appointment from a terminal", ""]
        print("\n".join(lines), flush=True)
        serve(port, with_cron=True, workers=workers)
    finally:
        if started_here:
            local_server().stop()
        print("stopped", flush=True)


WORKERS_HELP = ("processes serving the functions (default: BOOKWELL_WORKERS, else 1); more than one runs them "
                "under gunicorn, the stand-ins and cron staying in this process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookwell", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("dev", help="run the whole local stack with demo data")
    p.add_argument("--port", type=int, help="the functions' port (default: [api] port in supabase.toml)")
    p.add_argument("--workers", type=int, help=WORKERS_HELP)
    p.set_defaults(run=cmd_dev)

    p = sub.add_parser("db", help="start, stop or locate the embedded Postgres; dump or restore a database")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("start", help="start the embedded Postgres (created on first use)")
    actions.add_parser("stop", help="stop it; the data stays in .bookwell/")
    actions.add_parser("url", help="print its URL")
    target = "default: DATABASE_URL or the local database"
    d = actions.add_parser("dump", help="back up a database to one file (pg_dump, custom format)")
    d.add_argument("--file", type=Path, help="default: .bookwell/backups/bookwell-<UTC time>.dump")
    d.add_argument("--database-url", help=target)
    r = actions.add_parser("restore", help="restore a backup into an empty database, all or nothing")
    r.add_argument("--file", type=Path, required=True, help="a file `bookwell db dump` wrote")
    r.add_argument("--database-url", help=target)
    r.add_argument("--clean", action="store_true",
                   help="first remove the Bookwell schema and the users the database has (in the same transaction)")
    p.set_defaults(run=cmd_db)

    p = sub.add_parser("migrate", help="apply the bootstrap, migrations and policies")
    p.add_argument("--database-url", help="target database (default: DATABASE_URL or the local one)")
    p.add_argument("--status", action="store_true", help="list applied and pending migrations")
    p.set_defaults(run=cmd_migrate)

    sub.add_parser("seed", help="create the demo organization and users").set_defaults(run=cmd_seed)

    p = sub.add_parser("serve", help="serve every function over HTTP")
    p.add_argument("--port", type=int, help="default: [api] port in supabase.toml")
    p.add_argument("--cron", action="store_true", help="also run the cron schedules")
    p.add_argument("--workers", type=int, help=WORKERS_HELP)
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("token", help="mint a JWT for a local user (created if missing), or print the anon key")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--email")
    who.add_argument("--anon", action="store_true", help="print the anon key (what a browser sends)")
    p.add_argument("--name", help="full name for a new user")
    p.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds (default: a day)")
    p.set_defaults(run=cmd_token)

    caller_help = "anon (default), service_role, or a user's email"
    p = sub.add_parser("rpc", help="call public.NAME as PostgREST would, as a guest, user or the service role")
    p.add_argument("name")
    p.add_argument("args", nargs="*", metavar="NAME=VALUE", help="named arguments; NAME:=JSON for numbers, lists…")
    p.add_argument("--json", help="the arguments as one JSON object")
    p.add_argument("--as", dest="as_", default="anon", metavar="WHO", help=caller_help)
    p.set_defaults(run=cmd_rpc)

    p = sub.add_parser("sql", help="run one statement as a caller, under RLS, and print the rows as JSON")
    p.add_argument("statement")
    p.add_argument("--as", dest="as_", default="anon", metavar="WHO", help=caller_help)
    p.set_defaults(run=cmd_sql)

    p = sub.add_parser("cron", help="list or run the cron schedules from supabase.toml")
    p.add_argument("action", choices=["list", "run"])
    p.add_argument("name", nargs="?")
    p.set_defaults(run=cmd_cron)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (CliError, LocalDbError, migrate.MigrationError, backup.BackupError) as exc:
        print(f"bookwell: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"bookwell: cannot reach the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
