"""Where the gateway says it lives: the origin of the URLs it hands out (``downloadUrl``).

A URL built from the request's ``Host`` (and ``X-Forwarded-Proto``) points
wherever the client says: ``Host: attacker.example:8443`` made ``downloadUrl``
an attacker's URL, which a client would then send its API key to. So:

- ``GROUPSTORE_PUBLIC_URL`` set (``https://groups.example.org``, optionally
  with a path prefix): every URL is built on it, whatever the request says;
- else, with ``GROUPSTORE_TRUSTED_PROXIES`` set, the request's ``Host`` is
  used (the proxy in front sets it; uvicorn takes the scheme from
  ``X-Forwarded-Proto`` of those proxies only);
- else the address the server listens on (the ``Host`` header is ignored).

Every URL the gateway hands out, over HTTP or a WebSocket (``downloadUrl``,
``signedUrl``), is built by :func:`public_url_for`, on the base that
``PublicOrigin`` computes by these rules for every HTTP request and WebSocket.
``PublicOrigin`` also rewrites the ASGI scope of HTTP requests accordingly
(``request.url`` is the public one); a WebSocket's Host is kept, for the
same-origin check of subscriptions (a browser sends its true Host and Origin).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC_BASE = "groupstore.public_base"
"""The scope key of the public base URL (scheme, host, path prefix and root path)."""
_HTTP_SCHEME = {"ws": "http", "wss": "https"}


def public_url_for(connection: HTTPConnection, name: str, **path_params: str) -> str:
    """The absolute public URL of the route ``name``: the one place URLs are built."""
    base: str = connection.scope[PUBLIC_BASE]
    path: str = connection.app.url_path_for(name, **path_params)
    return base + path


class PublicOrigin:
    def __init__(self, app: ASGIApp, public_url: str | None, trust_host: bool) -> None:
        self.app = app
        self.trust_host = trust_host
        self.scheme: str | None = None
        self.host: bytes | None = None
        self.prefix = ""
        if public_url:
            parts = urlsplit(public_url)
            self.scheme = parts.scheme
            self.host = parts.netloc.encode("latin-1")
            self.prefix = parts.path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope[PUBLIC_BASE] = self.base(scope) + scope.get("root_path", "")
        # HTTP only: a WebSocket's Host is kept, for the same-origin check of subscriptions.
        if scope["type"] == "http":
            if self.host is not None:
                scope["scheme"] = self.scheme
                scope["headers"] = _with_host(scope["headers"], self.host)
                # url_for prefixes root_path; routing strips it only when the path has it.
                scope["root_path"] = self.prefix + scope.get("root_path", "")
                scope["path"] = self.prefix + scope["path"]
            elif not self.trust_host:
                server = scope.get("server")
                host = None if server is None else _netloc(server)
                scope["headers"] = _with_host(scope["headers"], host)
        await self.app(scope, receive, send)

    def base(self, scope: Scope) -> str:
        """``scheme://host[:port][/prefix]`` of the URLs handed out for this connection."""
        if self.host is not None:
            return f"{self.scheme}://{self.host.decode('latin-1')}{self.prefix}"
        scheme = _HTTP_SCHEME.get(scope["scheme"], scope["scheme"])
        host = None
        if self.trust_host:
            host = next((v for k, v in scope["headers"] if k.lower() == b"host"), None)
        if host is None:
            server = scope.get("server")
            host = b"localhost" if server is None else _netloc(server)
        return f"{scheme}://{host.decode('latin-1')}"


def _netloc(server: tuple[str, int | None]) -> bytes:
    host, port = server
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return (host if port is None else f"{host}:{port}").encode("latin-1")


def _with_host(headers: list[tuple[bytes, bytes]], host: bytes | None) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() != b"host"]
    return kept if host is None else [(b"host", host), *kept]
