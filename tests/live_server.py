"""A real HTTP server for browser tests: the test's app on 127.0.0.1 and a free port.

Use the `live_server` fixture (bring it in with `pytest_plugins = ["tests.live_server"]`), or
`serve(app)` directly. The server runs werkzeug's threaded WSGI server in a daemon thread and
is shut down when the test ends; it listens on loopback only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` (a Flask app or any WSGI callable) until the block ends; yields the base URL (no
    trailing slash). Port 0: the OS picks a free one."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="govhall-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Base URL of a live server for the test's own copy of the demo database (fixture `app`)."""
    with serve(app) as url:
        yield url
