"""All functions in one process, at Supabase's local URL scheme.

    http://127.0.0.1:54321/functions/v1/<name>[/sub/path]

Each function is loaded exactly as functions-framework loads it alone
(`create_app(target="main", source=functions/<name>/main.py)`) and mounted
under its prefix, so what runs here is what runs on Cloud Run. Local
stand-ins (Stripe, the mailbox, the LLM) are mounted beside them by later
areas through `EXTRA_MOUNTS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import functions_framework
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

from shared.config import PROJECT_ROOT

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
PREFIX = "/functions/v1"

# name -> factory of a WSGI app, mounted at /<name> (e.g. the Stripe stand-in).
EXTRA_MOUNTS: dict[str, Callable[[], Callable]] = {}


def function_names(directory: Path = FUNCTIONS_DIR) -> list[str]:
    return sorted(p.parent.name for p in directory.glob("*/main.py"))


def load_function(name: str, directory: Path = FUNCTIONS_DIR):
    app = functions_framework.create_app(target="main", source=str(directory / name / "main.py"))

    def mounted(environ, start_response):
        # /functions/v1/<name> arrives with an empty PATH_INFO; the function sees "/".
        environ["PATH_INFO"] = environ.get("PATH_INFO") or "/"
        return app(environ, start_response)

    return mounted


@Request.application
def _not_found(request: Request) -> Response:
    body = {"error": {"code": "not_found", "message": f"No function at {request.path}", "details": None}}
    return Response(json.dumps(body), status=404, content_type="application/json")


def build_app(directory: Path = FUNCTIONS_DIR):
    mounts = {f"{PREFIX}/{name}": load_function(name, directory) for name in function_names(directory)}
    for name, factory in EXTRA_MOUNTS.items():
        mounts[f"/{name}"] = factory()
    return DispatcherMiddleware(_not_found, mounts)
