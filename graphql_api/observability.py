"""Request ids, one log line per request, Prometheus metrics, optional OpenTelemetry.

Every HTTP request gets an id: the client's ``X-Request-ID`` when it is a
sane token (1-128 of ``A-Z a-z 0-9 . _ : -``), else a new one; it is echoed
in the response's ``X-Request-ID`` header and carried by every log line
written while the request runs. When the request ends, the logger
``graphql_api.access`` writes one line with the request id, method, path
(never the query string, which can carry a signed URL), operation, HTTP
status, duration in milliseconds and the caller's user id. Tokens are never
logged: neither headers nor bodies are.

``operation`` is a bounded label: for ``/graphql`` the operation's one root
field (``login``, ``groups``...), ``multiple`` for several, ``introspection``,
or ``invalid``; for the other routes ``download``, ``healthz``, ``readyz``,
``metrics``, ``static`` (GraphiQL's assets) or ``other``. The client's own operation name is
logged as ``operation_name`` (it is not a metric label: clients choose it).

Metrics (``GROUPSTORE_METRICS=true``, served on ``GET /metrics``):

    groupstore_http_requests_total{operation, status}
    groupstore_http_request_duration_seconds{operation}        histogram
    groupstore_library_calls_total{method, outcome}            outcome: ok or an error code
    groupstore_library_call_duration_seconds{method}           histogram
    groupstore_store_errors_total{code}                        library errors by code

Library calls are timed by wrapping the store's managers here, on the
gateway's side (``ObservedStore``): ``groupstore`` itself knows nothing of
Prometheus. Each process has its own registry; scrape every worker.

Log format (``GROUPSTORE_LOG_FORMAT``): ``text`` for people, ``json`` for
one JSON object per line (``configure_logging``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

from graphql import FieldNode, OperationType, get_operation_ast
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

import groupstore
from graphql_api.settings import Settings, SettingsError

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("graphql_api.access")


@dataclass
class RequestRecord:
    """What the access log line and the metrics say about one request."""

    request_id: str
    method: str
    path: str
    operation: str | None = None
    operation_name: str | None = None
    user_id: str | None = None
    error_codes: list[str] = field(default_factory=list)


_current: ContextVar[RequestRecord | None] = ContextVar("groupstore_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request being served (None outside a request)."""
    return _current.get()


def request_id_from(header: str | None) -> str:
    """The client's request id when it is a sane token, else a fresh one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


# -- metrics --------------------------------------------------------------------


class Metrics:
    """The gateway's Prometheus series, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError:  # pragma: no cover - a dependency of the gateway
            raise SettingsError("GROUPSTORE_METRICS needs prometheus-client") from None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "groupstore_http_requests",
            "HTTP requests by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "groupstore_http_request_duration_seconds",
            "HTTP request latency by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.calls = Counter(
            "groupstore_library_calls",
            "groupstore library calls by method and outcome (ok or the error code).",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            "groupstore_library_call_duration_seconds",
            "groupstore library call latency by method.",
            ["method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.store_errors = Counter(
            "groupstore_store_errors",
            "groupstore library errors by code.",
            ["code"],
            registry=self.registry,
        )

    def request(self, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(operation, str(status)).inc()
        self.request_seconds.labels(operation).observe(seconds)

    def library_call(self, method: str, seconds: float, error_code: str | None) -> None:
        self.calls.labels(method, error_code or "ok").inc()
        self.call_seconds.labels(method).observe(seconds)
        if error_code:
            self.store_errors.labels(error_code).inc()

    def endpoint(self) -> Callable[[Request], Any]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return metrics


# -- the request middleware -----------------------------------------------------


def _route_operation(path: str) -> str:
    if path.startswith("/files/"):
        return "download"
    if path in ("/healthz", "/readyz", "/metrics"):
        return path[1:]
    if path == "/graphql":
        return "graphql"  # replaced by the root field once the operation ran
    if path.startswith("/static/"):
        return "static"
    return "other"


class RequestObserver:
    """Pure ASGI middleware: request id, access log line, request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(REQUEST_ID_HEADER.encode())
        record = RequestRecord(
            request_id=request_id_from(raw_id.decode("latin-1") if raw_id else None),
            method=scope["method"],
            path=scope["path"],
        )
        token = _current.set(record)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = record.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            operation = record.operation or _route_operation(record.path)
            if self.metrics is not None:
                self.metrics.request(operation, status, seconds)
            fields = {
                "request_id": record.request_id,
                "method": record.method,
                "path": record.path,
                "operation": operation,
                "operation_name": record.operation_name,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "user_id": record.user_id,
                "errors": record.error_codes or None,
            }
            access_log.info(
                "%s %s %s %d %.1fms user=%s",
                record.method,
                record.path,
                operation,
                status,
                seconds * 1000,
                record.user_id or "-",
                extra={"fields": fields},
            )
            _current.reset(token)


class OperationObserver(SchemaExtension):
    """Tells the request record which GraphQL operation ran, for whom, with which errors."""

    def on_operation(self):  # type: ignore[no-untyped-def]
        yield
        record = _current.get()
        if record is None:
            return
        context = self.execution_context
        try:
            name = context.operation_name
        except Exception:
            name = None
        record.operation_name = name[:100] if name else None
        record.operation = _root_field_label(context)
        user = getattr(context.context, "user", None)
        if user is not None:
            record.user_id = user.user_id
        result = context.result
        for error in getattr(result, "errors", None) or []:
            code = (error.extensions or {}).get("code")
            if code and code not in record.error_codes:
                record.error_codes.append(str(code))


def _root_field_label(context: Any) -> str:
    """The operation's root field when it is one the schema has (a bounded label)."""
    document = context.graphql_document
    if document is None:
        return "invalid"
    try:
        operation = get_operation_ast(document, context.operation_name)
    except Exception:
        operation = None
    if operation is None:
        return "invalid"
    names = [
        node.name.value
        for node in operation.selection_set.selections
        if isinstance(node, FieldNode) and node.name.value != "__typename"
    ]
    if any(name.startswith("__") for name in names):
        return "introspection"
    root = context.schema._schema.get_root_type(OperationType(operation.operation))
    known = [name for name in names if root is not None and name in root.fields]
    if len(known) != len(names) or not known:
        return "invalid"
    return known[0] if len(known) == 1 else "multiple"


# -- library calls --------------------------------------------------------------


class _ObservedManager:
    """A manager whose public methods are timed and counted; attributes pass through."""

    def __init__(self, inner: Any, prefix: str, metrics: Metrics | None) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_metrics", metrics)

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        attribute = getattr(self._inner, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        method = f"{self._prefix}.{name}"
        metrics = self._metrics

        def observed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            code: str | None = None
            try:
                result = attribute(*args, **kwargs)
            except groupstore.GroupStoreError as exc:
                code = exc.code
                raise
            finally:
                if metrics is not None:
                    metrics.library_call(method, time.perf_counter() - started, code)
            _note_user(name, result)
            return result

        return observed

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def _note_user(method: str, result: Any) -> None:
    """Authentication tells who the caller is: remember it for the access log."""
    record = _current.get()
    if record is None:
        return
    if method == "authenticate" and isinstance(result, groupstore.User):
        record.user_id = result.user_id
    elif method == "login_user" and isinstance(result, groupstore.ApiKey):
        record.user_id = result.user.user_id


class ObservedStore(groupstore.GroupStore):
    """The store with its managers observed; closing it closes the wrapped store."""

    def __init__(self, inner: groupstore.GroupStore, metrics: Metrics | None) -> None:
        # No super().__init__: this shares the wrapped store's client and managers.
        self.inner = inner
        self.client = inner.client
        self.db = inner.db
        self.fs = inner.fs
        self.users = cast(groupstore.UserManager, _ObservedManager(inner.users, "users", metrics))
        self.workflows = cast(
            groupstore.WorkflowManager, _ObservedManager(inner.workflows, "workflows", metrics)
        )
        self.groups = cast(
            groupstore.WorkflowGroupManager, _ObservedManager(inner.groups, "groups", metrics)
        )

    def __getattr__(self, name: str) -> Any:
        # Anything else a store has (added later) is the wrapped store's.
        if name == "inner":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    # The store's own methods act on the wrapped store (a subclass would otherwise
    # run GroupStore's code on this wrapper's attributes).

    def ping(self) -> None:
        self.inner.ping()

    def watch_changes(self) -> groupstore.ChangeFeed:
        return self.inner.watch_changes()

    def close(self) -> None:
        self.inner.close()


# -- wiring ---------------------------------------------------------------------


class Observability:
    """What ``create_app`` hooks in: middleware, routes, a schema extension, the store wrapper."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics() if settings.metrics else None

    def middleware(self) -> list[Middleware]:
        """Outermost first: OpenTelemetry (when on), then the request observer."""
        layers = []
        if self.settings.otel:
            layers.append(Middleware(_otel_middleware()))
        layers.append(Middleware(RequestObserver, metrics=self.metrics))
        return layers

    def routes(self) -> list[BaseRoute]:
        if self.metrics is None:
            return []
        return [Route("/metrics", self.metrics.endpoint(), methods=["GET"], name="metrics")]

    def instrument_schema(self, schema: Any) -> Any:
        """Add the operation observer to a built schema's extensions.

        First in the list, so its code after ``yield`` runs last: after
        ``ErrorCodes`` has given every error its code.
        """
        schema.extensions = (OperationObserver, *schema.extensions)
        return schema

    def store(self, store: groupstore.GroupStore | None) -> groupstore.GroupStore | None:
        if store is None or isinstance(store, ObservedStore):
            return store
        return ObservedStore(store, self.metrics)


def _otel_middleware() -> Any:
    try:
        from opentelemetry.instrumentation.asgi import (  # type: ignore[import-not-found]
            OpenTelemetryMiddleware,
        )
    except ImportError:
        raise SettingsError(
            "GROUPSTORE_OTEL needs OpenTelemetry: pip install 'groupstore[otel]'"
        ) from None
    return OpenTelemetryMiddleware


# -- log formatting -------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = _current.get()
        if current is not None:
            entry["request_id"] = current.request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if value is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        current = _current.get()
        return f"{line} [{current.request_id}]" if current is not None else line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (not when it was made)."""

    _groupstore = True

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Root logging for the server process: the level and format of ``settings``."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_groupstore", False)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn's own loggers propagate to this handler (its access log is replaced by ours).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
