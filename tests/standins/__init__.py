"""Tests for the local provider stand-ins (shared/standins)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from werkzeug.serving import make_server


@contextlib.contextmanager
def serve(app: Callable, mount: str = "") -> Iterator[str]:
    """Serve a WSGI app over real HTTP on 127.0.0.1:<free port>, optionally under a prefix."""
    if mount:
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.wrappers import Response

        app = DispatcherMiddleware(Response("not mounted", status=404), {mount: app})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{mount}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
