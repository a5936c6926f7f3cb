"""A stand-in cluster manager on 127.0.0.1: answers the YARN ResourceManager's and the Spark standalone
master's REST paths with whatever JSON a test sets, so the autostop agent's probe talks real HTTP."""

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

YARN_APPS = "/ws/v1/cluster/apps"
SPARK_MASTER = "/json/"


def yarn_apps(*states: str) -> dict[str, Any]:
    """A ResourceManager's answer listing applications in ``states`` (YARN says ``"apps": null`` for none)."""
    if not states:
        return {"apps": None}
    return {"apps": {"app": [{"id": f"application_1_{i:04d}", "state": s} for i, s in enumerate(states, 1)]}}


class Manager:
    """What the server answers (path without query -> JSON body, or raw bytes) and the queries it got."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.requests: list[str] = []


@contextmanager
def cluster_manager() -> Iterator[tuple[str, Manager]]:
    """Run the server; yield its base URL and the ``Manager`` to set answers on."""
    manager = Manager()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            manager.requests.append(self.path)
            answer = manager.answers.get(urlsplit(self.path).path)
            if answer is None:
                self.send_error(404)
                return
            body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", manager
    finally:
        httpd.shutdown()
        httpd.server_close()
