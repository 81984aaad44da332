"""The child process serving moto: ``python -m sesame.local.aws.moto_child``.

Prints ``{"port": N}`` on stdout once it listens, then serves until its stdin closes (the
parent stopping, or dying: no signal needed). A Ctrl-C in the terminal, or a SIGTERM to the
whole process group (``timeout``, a service manager), is the parent's business: it stops
the functions first and needs moto until then, so both are ignored here.

moto's own server (werkzeug's development server) closes the connection after every
response, and looks up its list of service modules on disk for every request; a
forwarder making six calls a message spent more time on those than on the calls. This
serves moto's WSGI application over HTTP/1.1 keep-alive instead, with that list read once.

moto's DynamoDB also parses every UpdateExpression twice a call (the request handler and the
backend each tokenize and parse it), which made UpdateItem its costliest call; the forwarder's
ledger sends the same few expressions with every message. The parse is a pure function of the
expression's text and every consumer of its tree copies it before changing anything (moto's
``Validator`` deep-copies the tree it is given), so the parsed trees are kept by text here.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


def _app() -> Callable[..., Any]:
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    _keep_parsed_update_expressions()
    return DomainDispatcherApplication(create_backend_app)


def _keep_parsed_update_expressions() -> None:
    """Only a speed-up: a moto without this parser (or this entry point) runs as it is."""
    from functools import lru_cache

    try:
        from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    except ImportError:
        return
    parse = getattr(UpdateExpressionParser, "make", None)  # a classmethod: bound to the class already
    if parse is None:
        return
    UpdateExpressionParser.make = staticmethod(lru_cache(maxsize=1024)(parse))  # type: ignore[method-assign,assignment]


class _WsgiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see sesame.local.sending.server
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(length),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers]

        chunks = self.server.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started
        self.send_response(int(status.split()[0]), status.partition(" ")[2])
        declared = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                declared = value
            elif lowered not in ("connection", "transfer-encoding"):
                self.send_header(name, value)
        head = self.command == "HEAD"
        self.send_header("Content-Length", declared if head and declared is not None else str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: Callable[..., Any]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sesame.local.aws.moto_child")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server = _Server((args.host, args.port), _WsgiHandler)
    server.app = _app()

    def stop_when_parent_goes() -> None:
        sys.stdin.read()  # EOF: the parent closed the pipe or exited
        server.shutdown()

    threading.Thread(target=stop_when_parent_goes, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
