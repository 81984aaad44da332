"""The SES v2 stand-in's HTTP server: a thread answering botocore on 127.0.0.1.

HTTP/1.1 with keep-alive, as SES's endpoint: botocore keeps its connections open, and one
new TCP connection per call would cost more than the call. Requests are not signature
checked (the credentials are fake anyway).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sesame.local.sending.api import SesV2Api


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately: without this, Nagle's algorithm and delayed
    # ACKs hold each response back by tens of milliseconds on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.api.handle(self.command, self.path, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's names


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: SesV2Api


class SesServer:
    def __init__(self, api: SesV2Api, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self._server = _Server((host, port), _Handler)
        self._server.api = api
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sesame-ses-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()
