"""The HTTP server of ``corr2d explore``: the page, its assets and the JSON API.

Standard library only (:class:`http.server.ThreadingHTTPServer`).  It is careful about
who is asking:

* it binds to 127.0.0.1 only;
* every request must name this server in its ``Host`` header (``127.0.0.1:PORT`` or
  ``localhost:PORT``), which defeats DNS rebinding;
* every request must carry the random token of the URL it printed: in the query string
  for the page and its assets, in the ``X-Corr2d-Token`` header for the API;
* requests from another origin (an ``Origin`` header, or ``Sec-Fetch-Site: cross-site``)
  are refused, and no CORS header is ever sent;
* bodies are limited in size, JSON bodies must be JSON objects, and every answer to a bad
  request is a 4xx with a one-line reason (a bug is a 500 with a one-line reason), never a
  traceback; the server keeps serving.
"""

from __future__ import annotations

import errno
import hmac
import json
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from corr2d.explore._requests import RequestError
from corr2d.explore.api import API, FileAnswer, Limits

__all__ = ["STATIC_FILES", "TOKEN_HEADER", "ExploreServer", "PortInUseError", "create_server"]

#: The header that carries the token on API requests.
TOKEN_HEADER = "X-Corr2d-Token"
#: The page's assets: file name and content type.
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class PortInUseError(OSError):
    """The port asked for is taken."""


class ExploreServer(ThreadingHTTPServer):
    """The page's server, bound to 127.0.0.1.

    Use :func:`create_server` to make one; :meth:`serve_forever` serves,
    :meth:`close` ends the training runs and releases the port.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, port: int, token: str, api: API) -> None:
        self.token = token
        self.api = api
        self.quiet = True
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    errno.EADDRINUSE, f"port {port} on 127.0.0.1 is in use"
                ) from None
            raise
        self.port = int(self.server_address[1])
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.allowed_origins = {f"http://{host}" for host in self.allowed_hosts}

    @property
    def url(self) -> str:
        """The page's address, with the token."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def close(self) -> None:
        """End every training run and release the port."""
        self.api.close()
        self.server_close()


def create_server(
    port: int = 0,
    *,
    token: str | None = None,
    limits: Limits | None = None,
    abandon_after: float = 30.0,
) -> ExploreServer:
    """Make the page's server on 127.0.0.1 (not yet serving).

    Parameters
    ----------
    port : int, optional
        The port; 0 (default) picks a free one.
    token : str, optional
        The secret every request must carry; default a fresh random one.
    limits : Limits, optional
        Request size and work limits.
    abandon_after : float, optional
        Seconds without a poll after which a training run is ended.

    Raises
    ------
    PortInUseError
        If ``port`` is taken.

    Examples
    --------
    >>> server = create_server()
    >>> server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
    True
    >>> server.close()
    """
    api = API(limits or Limits(), abandon_after)
    return ExploreServer(port, token or secrets.token_urlsafe(24), api)


class _Handler(BaseHTTPRequestHandler):
    server: ExploreServer
    server_version = "corr2d-explore"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60  # a silent client does not hold a thread for ever

    # --- entry points -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._refuse_method()

    do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_PUT

    def _refuse_method(self) -> None:
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"method {self.command} is not allowed"}
        )

    def _handle(self, method: str) -> None:
        self._body_read = False
        try:
            self._check_caller()
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if path.startswith("/api/"):
                self._check_token(self.headers.get(TOKEN_HEADER, ""))
                self._api(method, path, parse_qs(parts.query))
            else:
                query = parse_qs(parts.query)
                self._check_token(query.get("token", [""])[0])
                self._static(method, path)
        except RequestError as exc:
            self._unread_body_closes()
            self._send_json(exc.status, exc.to_json())
        except MemoryError:
            self._unread_body_closes()
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "too much work"})
        except Exception as exc:  # a bug: one line in the console and in the answer
            self._unread_body_closes()
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            sys.stderr.write(f"corr2d explore: internal error on {method} {self.path}: {reason}\n")
            self._send_json(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {reason}"}
            )

    def _unread_body_closes(self) -> None:
        """An answer sent before the body was read ends the connection (the body would
        otherwise be read as the next request)."""
        if not self._body_read and self.headers.get("Content-Length", "0") not in ("", "0"):
            self.close_connection = True

    # --- who is asking ----------------------------------------------------------------------

    def _check_caller(self) -> None:
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            self.close_connection = True
            raise RequestError(
                f"host {host!r} is not this server (DNS rebinding is refused); use "
                f"http://127.0.0.1:{self.server.port}/",
                status=403,
            )
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.allowed_origins:
            raise RequestError(f"cross-origin requests are refused (from {origin!r})", 403)
        if self.headers.get("Sec-Fetch-Site", "") == "cross-site":
            raise RequestError("cross-site requests are refused", 403)

    def _check_token(self, given: str) -> None:
        if not given:
            raise RequestError(
                "this server needs its token: open the URL that 'corr2d explore' printed",
                status=403,
            )
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise RequestError(
                "wrong token: open the URL that 'corr2d explore' printed (each start makes "
                "a new token; the view after '#' can be pasted onto it)",
                status=403,
            )

    # --- bodies -----------------------------------------------------------------------------

    def _read_body(self, limit: int) -> bytes:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError("chunked bodies are not accepted; send Content-Length", 411)
        if length_text is None:
            self.close_connection = True
            raise RequestError("Content-Length is required", 411)
        try:
            length = int(length_text)
        except ValueError:
            self.close_connection = True
            raise RequestError(f"bad Content-Length {length_text!r}", 400) from None
        if length < 0:
            self.close_connection = True
            raise RequestError(f"bad Content-Length {length_text!r}", 400)
        if length > limit:
            self.close_connection = True  # the body is not read
            raise RequestError(
                f"the request is {length:,} bytes; the limit is {limit:,} bytes", 413
            )
        self._body_read = True
        return self.rfile.read(length)

    def _json_body(self) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        body = self._read_body(self.server.api.limits.max_json_bytes)
        if content_type != "application/json":
            raise RequestError("the body must be JSON (Content-Type: application/json)", 415)
        if not body:
            return {}
        try:
            parsed = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise RequestError(f"the body is not valid JSON ({reason})") from None
        if not isinstance(parsed, dict):
            raise RequestError("the body must be a JSON object")
        return parsed

    # --- routes -----------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        api = self.server.api
        route = path[len("/api/") :].strip("/").split("/")
        name = route[0]
        if method == "GET" and route == ["info"]:
            self._send_json(HTTPStatus.OK, api.info())
        elif method == "POST" and name == "image" and len(route) == 1:
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in (
                "application/octet-stream",
                "image/png",
                "image/jpeg",
                "image/tiff",
            ):
                raise RequestError(
                    "upload the file's bytes (Content-Type image/png, image/jpeg, image/tiff "
                    "or application/octet-stream)",
                    415,
                )
            data = self._read_body(api.limits.max_upload_bytes)
            filename = unquote(self.headers.get("X-Corr2d-Filename", "upload"))
            self._send_json(HTTPStatus.OK, api.upload(data, filename))
        elif method == "POST" and len(route) == 1 and name in _POST_ROUTES:
            answer = getattr(api, _POST_ROUTES[name])(self._json_body())
            if isinstance(answer, FileAnswer):
                self._send_file(answer)
            else:
                self._send_json(HTTPStatus.OK, answer)
        elif name == "train" and len(route) == 2 and method == "GET":
            since = query.get("since", ["0"])[0]
            if not since.isdigit():
                raise RequestError(f"`since` must be a step number, got {since!r}", field="since")
            self._send_json(HTTPStatus.OK, api.run(route[1]).snapshot(int(since)))
        elif name == "train" and len(route) == 3 and method == "POST":
            run_id, action = route[1], route[2]
            body = self._json_body()
            if action == "resume":
                self._send_json(HTTPStatus.OK, api.resume(run_id, body))
            elif action == "stop":
                self._send_json(HTTPStatus.OK, api.stop(run_id, body))
            elif action == "end":
                self._send_json(HTTPStatus.OK, api.end(run_id))
            else:
                raise RequestError(f"no such action {action!r} (resume, stop or end)", 404)
        elif _known_api(route):
            raise RequestError(f"{method} is not allowed on {path}", 405)
        else:
            raise RequestError(f"no such endpoint: {path}", 404)

    def _static(self, method: str, path: str) -> None:
        if method != "GET":
            raise RequestError(f"{method} is not allowed on {path}", 405)
        if path in ("/", "/index.html"):
            page = _asset("index.html").decode("utf-8").replace("{{TOKEN}}", self.server.token)
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
            return
        name = path[len("/static/") :] if path.startswith("/static/") else ""
        if name not in STATIC_FILES:
            raise RequestError(f"no such page: {path}", 404)
        self._send(HTTPStatus.OK, _asset(name), STATIC_FILES[name])

    # --- answers ----------------------------------------------------------------------------

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self._send(status, data, "application/json")

    def _send_file(self, answer: FileAnswer) -> None:
        self._send(
            HTTPStatus.OK,
            answer.data,
            answer.content_type,
            {"Content-Disposition": f'attachment; filename="{answer.filename}"'},
        )

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in {**_SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"corr2d explore: {self.address_string()} {format % args}\n")


_POST_ROUTES = {
    "kernel": "kernel",
    "correlate": "correlate",
    "kernel-file": "kernel_file",
    "rf": "receptive_fields",
    "train": "train",
}


def _known_api(route: list[str]) -> bool:
    return route[0] in {"info", "image", "train", *_POST_ROUTES}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_ASSETS: dict[str, bytes] = {}
_ASSETS_LOCK = threading.Lock()


def _asset(name: str) -> bytes:
    with _ASSETS_LOCK:
        if name not in _ASSETS:
            _ASSETS[name] = (
                resources.files("corr2d.explore").joinpath(f"static/{name}").read_bytes()
            )
        return _ASSETS[name]
