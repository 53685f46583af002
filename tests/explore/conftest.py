"""Fixtures for the page's server: one in a thread, and a plain HTTP client for it."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from corr2d.explore import ExploreServer, Limits, create_server


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Speaks HTTP to the server with full control of every header."""

    def __init__(self, server: ExploreServer) -> None:
        self.server = server
        self.port = server.port
        self.token = server.token

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = "default",
    ) -> Answer:
        sent = {"Host": f"127.0.0.1:{self.port}"}
        if token == "default":
            token = self.token
        if token is not None and path.startswith("/api/"):
            sent["X-Corr2d-Token"] = token
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    @staticmethod
    def decode(encoded: dict[str, Any]) -> np.ndarray:
        """An array the API sent: float64 little-endian, base64."""
        values = np.frombuffer(base64.b64decode(encoded["data"]), dtype="<f8")
        return values.reshape(encoded["shape"])

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        return self.request("POST", path, body=data, headers=headers, **kwargs)


def serve(**kwargs: Any) -> Iterator[ExploreServer]:
    server = create_server(0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[ExploreServer]:
    """A server with the default limits."""
    yield from serve()


@pytest.fixture(scope="module")
def client(server: ExploreServer) -> Client:
    return Client(server)


@pytest.fixture
def small_server() -> Iterator[ExploreServer]:
    """A server with tiny limits and a short abandonment time."""
    limits = Limits(max_json_bytes=4096, max_upload_bytes=20_000, max_pixels=64 * 64, max_runs=2)
    yield from serve(limits=limits, abandon_after=0.4)


@pytest.fixture
def small_client(small_server: ExploreServer) -> Client:
    return Client(small_server)
