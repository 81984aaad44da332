"""The child process serving moto: ``python -m sesame.local.aws.moto_child``.

Prints ``{"port": N}`` on stdout once it listens, then serves until its stdin closes (the
parent stopping, or dying: no signal needed). A Ctrl-C in the terminal, or a SIGTERM to the
whole process group (``timeout``, a service manager), is the parent's business: it stops
the functions first and needs moto until then, so both are ignored here.

moto's own server (werkzeug's development server) closes the connection after every
response, and looks up its list of service modules on disk for every request; a
forwarder making six calls a message spent more time on those than on the calls. This
serves moto's WSGI application over HTTP/1.1 keep-alive instead, with that list read once.

moto's DynamoDB re-derives, on every call, much that depends only on an expression's text
(UpdateItem was its costliest call, and the forwarder's ledger makes two a message); the
speed-ups in :mod:`sesame.local.aws.moto_speedups` answer those from caches.

And each request went through Flask's machinery (request and app contexts, CORS, response
finalizing) only to reach moto's own view, a fifth of the child's time. :class:`_Dispatch`
does what moto's view wrapper (``moto.core.utils.convert_to_flask_response``) does, with the
same routing (the backend app's URL map), request class and error handling; anything it does
not recognise goes through the Flask app as before.
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

from sesame.local.aws import moto_speedups


def _app() -> Callable[..., Any]:
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    moto_speedups.apply()
    return _Dispatch(DomainDispatcherApplication(create_backend_app))


class _Dispatch:
    def __init__(self, dispatcher: Any) -> None:
        from botocore.exceptions import ClientError
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import BackendRequest
        from werkzeug.exceptions import HTTPException
        from werkzeug.wrappers import Response

        self.dispatcher = dispatcher
        self.request_class, self.recorder, self.response_class = BackendRequest, recorder, Response
        self.client_error, self.http_exception = ClientError, HTTPException

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        app = self.dispatcher.get_application(environ)
        try:
            endpoint, _ = app.url_map.bind_to_environ(environ).match()
            callback = app.view_functions[endpoint].callback
        except Exception:  # noqa: BLE001 - no route, or not moto's view wrapper: Flask answers as it always did
            return app(environ, start_response)
        request = self.request_class(environ)
        self.recorder._record_request(request)
        try:
            result = callback(request, request.raw_url, dict(request.headers))
        except self.client_error as exc:  # as moto's wrapper answers one
            result = 400, {}, exc.response["Error"]["Message"]
        except self.http_exception as exc:  # moto's own errors: rendered as Flask renders them
            return exc(environ, start_response)
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = self.response_class(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        return response(environ, start_response)


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
        underscored = []
        for name, value in self.headers.items():
            if "_" in name:  # WSGI cannot tell X_Foo from X-Foo: kept apart, as moto's own server does
                underscored.append((name, value))
                continue
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:  # a repeated header is one comma-separated value (RFC 9110, section 5.3)
                key = f"HTTP_{key}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        if underscored:
            _preserve_underscored(environ, underscored)
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


def _preserve_underscored(environ: dict[str, Any], headers: list[tuple[str, str]]) -> None:
    """What moto's own request handler (``MotoRequestHandler.make_environ``) does with headers
    whose names hold an underscore: S3 metadata keys may, and moto reports them as sent."""
    try:
        from moto.core.request import (
            PRESERVED_HEADER_NAMES_ENVIRON_KEY,
            environ_key_for_header,
            should_preserve_original_header_name,
        )
    except ImportError:  # an older moto: it drops them, as werkzeug's server does
        return
    names: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    for name, value in headers:
        key = environ_key_for_header(name)
        if not should_preserve_original_header_name(name) or key in environ:  # never in place of a dashed one
            continue
        names.setdefault(key, name)
        values.setdefault(key, []).append(value)
    for key, joined in values.items():
        environ[key] = ",".join(joined)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names


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
