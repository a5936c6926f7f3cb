"""An HTTP file server on 127.0.0.1 for download tests: HTTP Range, and responses cut short on demand."""

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest


class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with Range support; ``cut`` makes the next response stop after that many bytes."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[dict[str, int]] = {}
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self):
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        stop = self.cut.pop(self.path.lstrip("/"), None)
        self.wfile.write(body[start : start + stop] if stop is not None else body[start:])
        if stop is not None:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """Serve ``Files.files`` (name -> bytes); yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Files.files, Files.cut, Files.ranges = {}, {}, []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
