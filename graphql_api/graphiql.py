"""GraphiQL served by the gateway itself: no CDN, works with no internet access.

Strawberry's built-in page loads React and GraphiQL from unpkg. This module
renders an equivalent page whose scripts and styles come from files vendored
into ``graphql_api/static/graphiql/`` (GraphiQL 4.x UMD bundle, React 18 UMD;
``scripts/vendor-graphiql`` re-fetches them from npm), and provides the routes
that serve those files.

- :func:`graphiql_html` returns the page. Its Content-Security-Policy (a
  ``<meta>`` tag) allows scripts only from this origin plus the page's own
  inline script (by hash), and network requests only to this origin and the
  endpoint: the browser itself enforces that nothing loads from elsewhere.
- :func:`static_routes` returns the ``Mount`` serving the assets under
  :data:`GRAPHIQL_STATIC_PREFIX`. The page asks for each asset with
  ``?v=<content hash>``; such requests are cacheable for a year (immutable),
  plain requests must revalidate (ETag / Last-Modified).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

__all__ = [
    "GRAPHIQL_ASSETS",
    "GRAPHIQL_STATIC_DIR",
    "GRAPHIQL_STATIC_PREFIX",
    "graphiql_html",
    "static_routes",
]

GRAPHIQL_STATIC_PREFIX = "/static/graphiql"
GRAPHIQL_STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"

# The files the page loads, in load order (React before ReactDOM before GraphiQL).
GRAPHIQL_ASSETS: tuple[str, ...] = (
    "graphiql.min.css",
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
)

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".sha256": "text/plain; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"

_DEFAULT_QUERY = """\
# groupstore GraphQL gateway.
#
# To act as a user, run the `login` mutation,
# then open "Headers" below and enter
#   {"Authorization": "Bearer <api key>"}
# (headers are not saved in the browser).
# Subscriptions (groupChanged, filesChanged) run over a
# WebSocket that sends the same headers in connection_init.

{
  __typename
}
"""


# GraphiQL's storage, minus secrets. With shouldPersistHeaders false GraphiQL
# keeps headers out of its tab state, but GraphiQL 4.1's history plugin still
# writes each run's headers (the API key) to localStorage under
# `graphiql:queries` / `graphiql:favorites`. And it saves documents as typed:
# a `login` with its password in a literal or in the variables. This wrapper
# around localStorage (same behaviour as GraphiQL's default: only `graphiql:`
# keys count) rewrites every write, and cleans old entries on load:
# - history and favorites: no `headers`; no entry at all for a document that
#   calls a mutation taking a secret (SENSITIVE_OPERATIONS);
# - tabs (`graphiql:tabState`) and the current query (`graphiql:query`): such
#   a document is kept with its string literals emptied and without variables;
#   `graphiql:variables` is emptied while the current document is such a one.
SENSITIVE_OPERATIONS = ("login", "registerUser", "resetPassword", "changePassword")
_STORAGE_JS = """\
        var HISTORY_KEY = /^graphiql:(queries|favorites)$/;
        var SENSITIVE = /\\b(SENSITIVE_NAMES)\\s*\\(/;
        var STRINGS = /"\"\"[\\s\\S]*?\"\"\"|"(?:[^"\\\\\\n]|\\\\.)*"/g;
        var lastQuery = "";
        function sensitive(query) {
          return typeof query === "string" && SENSITIVE.test(query);
        }
        function scrubbed(query) {
          return query.replace(STRINGS, '""');
        }
        function clean(key, value) {
          if (key === "graphiql:query") {
            lastQuery = value;
            return sensitive(value) ? scrubbed(value) : value;
          }
          if (key === "graphiql:variables") {
            return sensitive(lastQuery) ? "" : value;
          }
          if (key !== "graphiql:tabState" && !HISTORY_KEY.test(key)) return value;
          try {
            var data = JSON.parse(value);
            if (key === "graphiql:tabState") {
              (data.tabs || []).forEach(function (tab, index) {
                if (!tab || typeof tab !== "object") return;
                if (index === data.activeTabIndex) lastQuery = tab.query || "";
                if (sensitive(tab.query)) {
                  tab.query = scrubbed(tab.query);
                  tab.variables = null;
                }
              });
              return JSON.stringify(data);
            }
            Object.keys(data).forEach(function (name) {
              if (!Array.isArray(data[name])) return;
              data[name] = data[name].filter(function (entry) {
                return !(entry && typeof entry === "object" && sensitive(entry.query));
              });
              data[name].forEach(function (entry) {
                if (entry && typeof entry === "object") delete entry.headers;
              });
            });
            return JSON.stringify(data);
          } catch (error) {
            return key === "graphiql:tabState" ? "" : "{}";
          }
        }
        function ownKeys() {
          var keys = [];
          for (var i = 0; i < localStorage.length; i++) {
            var key = localStorage.key(i);
            if (key && key.indexOf("graphiql:") === 0) keys.push(key);
          }
          return keys;
        }
        var storage = null; // null: GraphiQL keeps nothing (storage unavailable)
        try {
          ["graphiql:query", "graphiql:tabState"].concat(ownKeys()).forEach(function (key) {
            var value = localStorage.getItem(key);
            if (value !== null) localStorage.setItem(key, clean(key, value));
          });
          storage = {
            getItem: function (key) { return localStorage.getItem(key); },
            setItem: function (key, value) {
              localStorage.setItem(key, clean(key, String(value)));
            },
            removeItem: function (key) { localStorage.removeItem(key); },
            clear: function () { ownKeys().forEach(function (k) { localStorage.removeItem(k); }); },
            get length() { return ownKeys().length; },
          };
        } catch (error) {
          storage = null;
        }""".replace("SENSITIVE_NAMES", "|".join(SENSITIVE_OPERATIONS))


@functools.cache
def _asset_version(name: str) -> str:
    """The first 16 hex digits of the asset's sha256 (cache buster)."""
    digest = hashlib.sha256((GRAPHIQL_STATIC_DIR / name).read_bytes()).hexdigest()
    return digest[:16]


def _asset_url(prefix: str, name: str) -> str:
    return f"{prefix}/{name}?v={_asset_version(name)}"


def _script_json(value: object) -> str:
    """JSON that is safe inside an inline <script> (no `</script>`, no `<!--`)."""
    text = json.dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _origin(url: str) -> str | None:
    """scheme://host[:port] of an absolute http(s) URL, else None."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _csp(inline_script: str, endpoint: str) -> str:
    script_hash = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    connect = "'self'"
    origin = _origin(endpoint)
    if origin is not None:
        socket_origin = "ws" + origin.removeprefix("http")  # subscriptions: ws:// or wss://
        connect += f" {origin} {socket_origin}"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' 'sha256-{script_hash}'",
            # GraphiQL and its editors insert <style> elements at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def graphiql_html(
    endpoint: str = "/graphql", *, static_prefix: str = GRAPHIQL_STATIC_PREFIX
) -> str:
    """A complete HTML page running GraphiQL against ``endpoint``, from local assets only.

    Queries are POSTed as ``application/json``; headers entered in GraphiQL's
    headers editor (e.g. ``Authorization: Bearer <key>``) are sent along and
    not persisted. Subscriptions go over a WebSocket (graphql-transport-ws) to
    the same endpoint, with those headers as the ``connection_init`` payload
    (the graphql-ws client is part of the vendored GraphiQL bundle).
    ``static_prefix`` is where :func:`static_routes` is mounted (change it only
    when the app is mounted under a path prefix).
    """
    prefix = static_prefix.rstrip("/")
    css = _asset_url(prefix, "graphiql.min.css")
    scripts = "\n".join(
        f'    <script src="{html.escape(_asset_url(prefix, name))}"></script>'
        for name in GRAPHIQL_ASSETS
        if name.endswith(".js")
    )
    config = {
        "url": endpoint,
        "headers": {"Content-Type": "application/json"},
        "enableIncrementalDelivery": False,
    }
    props = {
        "defaultQuery": _DEFAULT_QUERY,
        "isHeadersEditorEnabled": True,
        "shouldPersistHeaders": False,
    }
    inline_script = f"""
      (function () {{
        "use strict";
{_STORAGE_JS}
        var props = {_script_json(props)};
        var config = {_script_json(config)};
        // Subscriptions: graphql-transport-ws on the same path (ws: or wss: like the page);
        // GraphiQL's bundled graphql-ws client sends the headers editor's JSON as the
        // connection_init payload, e.g. {{"Authorization": "Bearer <key>"}}.
        var socketUrl = new URL(config.url, window.location.href);
        socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";
        config.subscriptionUrl = socketUrl.href;
        props.fetcher = GraphiQL.createFetcher(config);
        props.storage = storage;
        ReactDOM.createRoot(document.getElementById("graphiql")).render(
          React.createElement(GraphiQL, props)
        );
      }})();
    """
    csp = html.escape(_csp(inline_script, endpoint))
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta http-equiv="Content-Security-Policy" content="{csp}">
    <meta name="referrer" content="no-referrer">
    <link rel="icon" href="data:,">
    <title>GraphiQL · groupstore</title>
    <link rel="stylesheet" href="{html.escape(css)}">
    <style>
      html, body, #graphiql {{ height: 100%; margin: 0; }}
    </style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
{scripts}
    <script>{inline_script}</script>
    <noscript>GraphiQL needs JavaScript.</noscript>
  </body>
</html>
"""


class _GraphiQLStaticFiles(StaticFiles):
    """StaticFiles with explicit content types, nosniff, and cache headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        name = os.path.basename(full_path)
        suffix = os.path.splitext(name)[1]
        query = scope.get("query_string", b"").decode("latin-1")
        versioned = name in GRAPHIQL_ASSETS and query == f"v={_asset_version(name)}"
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=_CONTENT_TYPES.get(suffix, "text/plain; charset=utf-8"),
            headers={
                "Cache-Control": _IMMUTABLE if versioned else _REVALIDATE,
                "X-Content-Type-Options": "nosniff",
            },
        )
        request_headers = Headers(scope=scope)
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


def static_routes() -> list[BaseRoute]:
    """The route serving GraphiQL's assets under :data:`GRAPHIQL_STATIC_PREFIX`."""
    return [
        Mount(
            GRAPHIQL_STATIC_PREFIX,
            app=_GraphiQLStaticFiles(directory=GRAPHIQL_STATIC_DIR),
            name="graphiql-static",
        )
    ]
