"""GraphiQL without a CDN: the page, the vendored files and the routes serving them.

No browser and no server process: see test_graphiql_browser.py for those.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.graphiql import (
    GRAPHIQL_ASSETS,
    GRAPHIQL_STATIC_DIR,
    GRAPHIQL_STATIC_PREFIX,
    graphiql_html,
    static_routes,
)

REPO = Path(__file__).resolve().parents[2]
VENDOR_SCRIPT = REPO / "scripts" / "vendor-graphiql"


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self.inline_scripts: list[str] = []
        self.csp: str | None = None
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append((tag, values[name] or ""))
        if tag == "script" and "src" not in values:
            self._in_inline_script = True
            self.inline_scripts.append("")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = values.get("content")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser


def manifest() -> dict[str, str]:
    lines = (GRAPHIQL_STATIC_DIR / "MANIFEST.sha256").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


class _Client:
    """Synchronous calls into an ASGI app through httpx.ASGITransport (no server)."""

    def __init__(self, app: Starlette) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://testserver"
            ) as http:
                return await http.request(method, url, **kwargs)

        return anyio.run(call)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture(scope="module")
def client() -> _Client:
    return _Client(Starlette(routes=static_routes()))


# -- the page --------------------------------------------------------------------------


def test_page_has_no_external_url():
    page = graphiql_html()
    for needle in ("http://", "https://", "//unpkg", "cdn", "integrity="):
        assert needle not in page.lower(), needle
    for _tag, url in parse(page).urls:
        assert not url.startswith("//"), url


def test_page_loads_every_asset_from_the_local_prefix_with_its_version():
    parser = parse(graphiql_html())
    assets = [url for _tag, url in parser.urls if not url.startswith("data:")]
    assert len(assets) == len(GRAPHIQL_ASSETS)
    digests = manifest()
    for url in assets:
        path, _, query = url.partition("?")
        assert path.startswith(GRAPHIQL_STATIC_PREFIX + "/"), url
        name = path.removeprefix(GRAPHIQL_STATIC_PREFIX + "/")
        assert name in GRAPHIQL_ASSETS
        assert (GRAPHIQL_STATIC_DIR / name).is_file()
        assert query == f"v={digests[name][:16]}"
    # React, then ReactDOM, then GraphiQL (the UMD bundle reads both globals).
    scripts = [url.split("?")[0].rsplit("/", 1)[1] for tag, url in parser.urls if tag == "script"]
    assert scripts == ["react.production.min.js", "react-dom.production.min.js", "graphiql.min.js"]


def test_page_renders_graphiql_against_the_endpoint_with_the_headers_editor():
    (script,) = parse(graphiql_html("/api/graphql")).inline_scripts
    fetcher = {
        "url": "/api/graphql",
        "headers": {"Content-Type": "application/json"},
        "enableIncrementalDelivery": False,
    }
    assert f"var config = {json.dumps(fetcher)};" in script
    assert "config.subscriptionUrl = socketUrl.href;" in script  # ws(s):// on the same path
    assert "GraphiQL.createFetcher(config)" in script
    props = json.loads(re.search(r"var props = (\{.*\});", script)[1])  # type: ignore[index]
    assert props["isHeadersEditorEnabled"] is True
    assert props["shouldPersistHeaders"] is False  # API keys are not kept in localStorage
    assert "props.storage = storage;" in script  # ... nor in the query history (see browser test)
    assert "ReactDOM.createRoot(" in script


def test_absolute_endpoint_is_the_only_url_and_is_allowed_by_the_csp():
    endpoint = "https://api.example.org:8443/graphql"
    page = graphiql_html(endpoint)
    parser = parse(page)
    assert re.findall(r"https?://[^\s\"';]+", page) == [
        "https://api.example.org:8443",  # in connect-src
        endpoint,  # in the fetcher
    ]
    assert parser.csp is not None
    assert "connect-src 'self' https://api.example.org:8443 wss://api.example.org:8443" in (
        parser.csp
    )


def test_endpoint_cannot_break_out_of_the_script():
    endpoint = '/graphql?x="</script><script>alert(1)</script><!--\u2028'
    page = graphiql_html(endpoint)
    parser = parse(page)
    assert page.count("<script") == 4  # three assets + one inline, nothing injected
    assert len(parser.inline_scripts) == 1
    assert "</script" not in parser.inline_scripts[0]
    assert "\u2028" not in page


def test_csp_allows_exactly_the_inline_script_and_local_sources():
    parser = parse(graphiql_html())
    assert parser.csp is not None
    directives = dict(d.strip().split(" ", 1) for d in parser.csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"
    (script,) = parser.inline_scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"


def test_static_prefix_can_be_moved():
    page = graphiql_html(static_prefix="/gateway/static/graphiql/")
    urls = [url for _tag, url in parse(page).urls if not url.startswith("data:")]
    assert urls
    assert all(url.startswith("/gateway/static/graphiql/") for url in urls)
    assert "//graphiql" not in page


# -- the vendored files ------------------------------------------------------------------


def test_vendored_files_match_their_manifest():
    digests = manifest()
    present = {path.name for path in GRAPHIQL_STATIC_DIR.iterdir()}
    assert present == set(digests) | {"MANIFEST.sha256"}
    for name, digest in digests.items():
        assert hashlib.sha256((GRAPHIQL_STATIC_DIR / name).read_bytes()).hexdigest() == digest, (
            f"{name} was edited; re-run scripts/vendor-graphiql"
        )


def test_vendored_versions_are_the_ones_the_script_pins():
    pins = dict(re.findall(r"^readonly (\w+)_VERSION=(\S+)$", VENDOR_SCRIPT.read_text(), re.M))
    versions = dict(
        line.split() for line in (GRAPHIQL_STATIC_DIR / "VERSIONS").read_text().splitlines()
    )
    assert versions == {
        "graphiql": pins["GRAPHIQL"],
        "react": pins["REACT"],
        "react-dom": pins["REACT_DOM"],
    }
    assert versions["react"].startswith("18.")  # React 19 ships no UMD build
    assert versions["graphiql"].startswith("4.")  # GraphiQL 5 ships no UMD build


def test_each_vendored_package_has_its_license():
    for package in ("graphiql", "react", "react-dom"):
        text = (GRAPHIQL_STATIC_DIR / f"LICENSE.{package}").read_text()
        assert "MIT License" in text
        assert "Permission is hereby granted" in text


def test_bundles_are_umd_builds_without_external_loads():
    graphiql = (GRAPHIQL_STATIC_DIR / "graphiql.min.js").read_text(encoding="utf-8")
    assert ".GraphiQL=t(e.React,e.ReactDOM)" in graphiql[:1000]
    css = (GRAPHIQL_STATIC_DIR / "graphiql.min.css").read_text(encoding="utf-8")
    assert "@import" not in css
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        assert url.startswith("data:"), url  # fonts and images are inlined


def test_assets_ship_as_package_data():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["graphql_api"]
    package = GRAPHIQL_STATIC_DIR.parents[1]
    shipped = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    for path in GRAPHIQL_STATIC_DIR.iterdir():
        assert path in shipped, path


# -- the routes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("graphiql.min.js", "text/javascript; charset=utf-8"),
        ("react.production.min.js", "text/javascript; charset=utf-8"),
        ("react-dom.production.min.js", "text/javascript; charset=utf-8"),
        ("graphiql.min.css", "text/css; charset=utf-8"),
        ("LICENSE.react", "text/plain; charset=utf-8"),
    ],
)
def test_static_routes_serve_each_file(client, name, content_type):
    response = client.get(f"{GRAPHIQL_STATIC_PREFIX}/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (GRAPHIQL_STATIC_DIR / name).read_bytes()


def test_every_url_of_the_page_is_served(client):
    for _tag, url in parse(graphiql_html()).urls:
        if url.startswith("data:"):
            continue
        response = client.get(html.unescape(url))
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(("text/javascript", "text/css"))


def test_versioned_urls_are_cached_for_a_year_others_revalidate(client):
    digest = manifest()["graphiql.min.css"][:16]
    versioned = client.get(f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.css?v={digest}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = client.get(f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.css?v=0000000000000000")
    assert stale.headers["cache-control"] == "no-cache"
    plain = client.get(f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.css")
    assert plain.headers["cache-control"] == "no-cache"
    revalidated = client.get(
        f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.css",
        headers={"If-None-Match": plain.headers["etag"]},
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == "no-cache"


def test_head_is_served_without_a_body(client):
    response = client.head(f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.js")
    assert response.status_code == 200
    assert (
        int(response.headers["content-length"])
        == (GRAPHIQL_STATIC_DIR / "graphiql.min.js").stat().st_size
    )
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    ["missing.js", "", "../graphiql.py", "..%2F..%2Fgraphiql.py", "%2e%2e/%2e%2e/graphiql.py"],
)
def test_nothing_else_is_served(client, path):
    assert client.get(f"{GRAPHIQL_STATIC_PREFIX}/{path}").status_code == 404


def test_only_get_and_head(client):
    assert client.post(f"{GRAPHIQL_STATIC_PREFIX}/graphiql.min.js").status_code == 405
