"""Gateway settings: ``GROUPSTORE_*`` environment variables, read once at start-up.

``Settings.from_env()`` is the only place in the gateway that reads the
environment; everything else receives a ``Settings``. Every variable is
optional. A value that does not parse raises ``SettingsError`` naming the
variable, so a typo stops the server at start-up instead of at first use.
``docs/settings.md`` holds the same table for the README.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import groupstore

ENV_PREFIX = "GROUPSTORE_"
GiB = 1024**3

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
EVENT_BACKENDS = ("poll", "change-streams", "memory")  # memory: the old name of poll
MIN_SIGNING_SECRET_LENGTH = 32
_SMTP_TLS = ("starttls", "ssl", "none")
_LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """An environment variable has a value the gateway cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with; the defaults suit local development."""

    mongo_uri: str = "mongomock://"
    """GROUPSTORE_MONGO_URI: any MongoDB connection string, or ``mongomock://`` (in memory)."""
    database: str | None = None
    """GROUPSTORE_DATABASE: the database; default the one in the URI, else ``groupstore``."""
    host: str = "127.0.0.1"
    """GROUPSTORE_HOST: the interface uvicorn listens on."""
    port: int = 8000
    """GROUPSTORE_PORT: the TCP port uvicorn listens on."""
    max_upload_bytes: int = GiB
    """GROUPSTORE_MAX_UPLOAD_BYTES: the largest file ``uploadFile`` accepts."""
    token_ttl_seconds: int = 24 * 60 * 60
    """GROUPSTORE_TOKEN_TTL_SECONDS: how long an API key from ``login`` stays valid."""
    store_timeout_seconds: float = 5.0
    """GROUPSTORE_STORE_TIMEOUT_SECONDS: ``connect(timeout=...)``: how long a call waits for
    an unreachable database before STORE_UNAVAILABLE."""
    graphiql: bool = True
    """GROUPSTORE_GRAPHIQL: serve GraphiQL on ``GET /graphql``."""
    introspection: bool = True
    """GROUPSTORE_INTROSPECTION: allow schema introspection (GraphiQL needs it)."""
    cors_origins: tuple[str, ...] = ()
    """GROUPSTORE_CORS_ORIGINS: comma-separated origins allowed to call from a browser."""
    max_query_depth: int = 10
    """GROUPSTORE_MAX_QUERY_DEPTH: deepest selection a query may nest (introspection excluded)."""
    max_aliases: int = 15
    """GROUPSTORE_MAX_ALIASES: most aliases one document may use."""
    max_tokens: int = 2000
    """GROUPSTORE_MAX_TOKENS: most lexical tokens one document may contain."""
    max_query_fields: int = 1000
    """GROUPSTORE_MAX_QUERY_FIELDS: most field selections once every fragment is expanded."""
    log_level: str = "INFO"
    """GROUPSTORE_LOG_LEVEL: CRITICAL, ERROR, WARNING, INFO or DEBUG."""
    public_url: str | None = None
    """GROUPSTORE_PUBLIC_URL: the gateway's URL as clients reach it (``downloadUrl`` is built
    on it); default: the address the server listens on (never the request's Host header)."""
    trusted_proxies: tuple[str, ...] = ()
    """GROUPSTORE_TRUSTED_PROXIES: comma-separated proxy addresses (or ``*``) whose
    ``X-Forwarded-Proto`` / ``X-Forwarded-For`` and ``Host`` are believed."""
    header_timeout_seconds: float = 10.0
    """GROUPSTORE_HEADER_TIMEOUT_SECONDS: time for a connection to send a complete request head."""
    body_timeout_seconds: float = 30.0
    """GROUPSTORE_BODY_TIMEOUT_SECONDS: longest pause between two pieces of a request body."""
    request_timeout_seconds: float = 300.0
    """GROUPSTORE_REQUEST_TIMEOUT_SECONDS: from a request's head until its response starts."""
    keepalive_seconds: float = 5.0
    """GROUPSTORE_KEEPALIVE_SECONDS: how long an idle kept-alive connection stays open."""
    max_connections: int = 1000
    """GROUPSTORE_MAX_CONNECTIONS: concurrent connections; requests beyond get HTTP 503."""
    signing_secret: str | None = dataclass_field(default=None, repr=False)
    """GROUPSTORE_SIGNING_SECRET: the HMAC key of signed download URLs (at least 32
    characters); every gateway behind one load balancer needs the same one. Unset: a
    random key per process (links then work only on the process that made them)."""
    signed_url_ttl_seconds: int = 300
    """GROUPSTORE_SIGNED_URL_TTL_SECONDS: lifetime of a signed URL when none is asked for."""
    signed_url_max_ttl_seconds: int = 3600
    """GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS: the longest lifetime ``signedUrl`` grants."""
    events: str = "poll"
    """GROUPSTORE_EVENTS: how subscriptions learn of every process's changes: ``poll`` (read
    the change log every GROUPSTORE_EVENTS_POLL_SECONDS; any server) or ``change-streams``
    (pushed by MongoDB change streams on a replica set; elsewhere it falls back to ``poll``)."""
    events_poll_seconds: float = 0.2
    """GROUPSTORE_EVENTS_POLL_SECONDS: how often each gateway reads the change log."""
    ws_max_sockets: int = 500
    """GROUPSTORE_WS_MAX_SOCKETS: open WebSockets per process (at most half of
    GROUPSTORE_MAX_CONNECTIONS is used, so HTTP keeps the rest); beyond: refused."""
    ws_max_sockets_per_address: int = 50
    """GROUPSTORE_WS_MAX_SOCKETS_PER_ADDRESS: open WebSockets per client address."""
    ws_max_sockets_per_user: int = 20
    """GROUPSTORE_WS_MAX_SOCKETS_PER_USER: authenticated WebSockets per user (beyond: 4429)."""
    ws_max_subscriptions_per_user: int = 100
    """GROUPSTORE_WS_MAX_SUBSCRIPTIONS_PER_USER: subscriptions per user at once, over all
    their sockets (beyond: TOO_MANY_REQUESTS); also the operations per socket."""
    ws_init_timeout_seconds: float = 3.0
    """GROUPSTORE_WS_INIT_TIMEOUT_SECONDS: time for a socket to send ``connection_init``
    (else closed with 4408)."""
    ws_session_check_seconds: float = 0.5
    """GROUPSTORE_WS_SESSION_CHECK_SECONDS: how often an open socket's session is checked
    against the database, and the oldest check an operation may rely on (under 1 s)."""
    # Accounts. GROUPSTORE_ADMINS is read by groupstore.connect itself.
    first_user_admin: bool = False
    """GROUPSTORE_FIRST_USER_ADMIN: a user who registers while the store has no administrator
    becomes one (``groupstore serve`` turns it on for the local store on loopback)."""
    open_registration: bool = True
    """GROUPSTORE_OPEN_REGISTRATION: anyone may ``registerUser`` (else administrators only)."""
    require_verification: bool = False
    """GROUPSTORE_REQUIRE_VERIFICATION: new users stay inactive until ``activateUser(token)``."""
    password_min_length: int = 8
    """GROUPSTORE_PASSWORD_MIN_LENGTH: the shortest password accepted."""
    argon2_time_cost: int = 3
    """GROUPSTORE_ARGON2_TIME_COST: Argon2id iterations."""
    argon2_memory_kib: int = 64 * 1024
    """GROUPSTORE_ARGON2_MEMORY_KIB: Argon2id memory per hash, in KiB."""
    argon2_parallelism: int = 4
    """GROUPSTORE_ARGON2_PARALLELISM: Argon2id lanes (threads) per hash."""
    hash_concurrency: int = 2
    """GROUPSTORE_HASH_CONCURRENCY: most password hashes at once (memory: this x memory cost)."""
    hash_wait_seconds: float = 10.0
    """GROUPSTORE_HASH_WAIT_SECONDS: how long a login waits for a hashing slot."""
    login_failures_per_user: int = 10
    """GROUPSTORE_LOGIN_FAILURES_PER_USER: failed logins per user name and window (0: no limit)."""
    login_failures_per_address: int = 100
    """GROUPSTORE_LOGIN_FAILURES_PER_ADDRESS: failed logins per client address and window."""
    login_failure_window_seconds: int = 60
    """GROUPSTORE_LOGIN_FAILURE_WINDOW_SECONDS: the window those limits count in."""
    reset_requests_per_user: int = 5
    """GROUPSTORE_RESET_REQUESTS_PER_USER: ``requestPasswordReset`` calls per user name
    (known or not) and window (0: no limit); counted apart from failed logins."""
    reset_requests_per_address: int = 50
    """GROUPSTORE_RESET_REQUESTS_PER_ADDRESS: ``requestPasswordReset`` calls per client
    address and window (0: no limit)."""
    reset_request_window_seconds: int = 15 * 60
    """GROUPSTORE_RESET_REQUEST_WINDOW_SECONDS: the window the reset limits count in."""
    registrations_per_address: int = 20
    """GROUPSTORE_REGISTRATIONS_PER_ADDRESS: self-registrations per client address and
    window (0: no limit); an administrator's ``registerUser`` is not counted."""
    registrations_total: int = 200
    """GROUPSTORE_REGISTRATIONS_TOTAL: self-registrations from all addresses together per
    window (0: no limit)."""
    registration_window_seconds: int = 60
    """GROUPSTORE_REGISTRATION_WINDOW_SECONDS: the window the registration limits count in."""
    activation_token_ttl_seconds: int = 2 * 24 * 60 * 60
    """GROUPSTORE_ACTIVATION_TOKEN_TTL_SECONDS: lifetime of an activation token."""
    reset_token_ttl_seconds: int = 60 * 60
    """GROUPSTORE_RESET_TOKEN_TTL_SECONDS: lifetime of a password reset token."""
    smtp_host: str | None = None
    """GROUPSTORE_SMTP_HOST: mail tokens through this server (unset: tokens go to the log)."""
    smtp_port: int = 587
    """GROUPSTORE_SMTP_PORT: the SMTP server's port."""
    smtp_from: str = "groupstore@localhost"
    """GROUPSTORE_SMTP_FROM: the sender address of token mails."""
    smtp_username: str | None = None
    """GROUPSTORE_SMTP_USERNAME: SMTP login (none: no authentication)."""
    smtp_password: str | None = None
    """GROUPSTORE_SMTP_PASSWORD: SMTP password."""
    smtp_tls: str = "starttls"
    """GROUPSTORE_SMTP_TLS: starttls, ssl or none."""
    log_format: str = "text"
    """GROUPSTORE_LOG_FORMAT: ``text`` (for people) or ``json`` (one object per line)."""
    metrics: bool = False
    """GROUPSTORE_METRICS: serve Prometheus metrics on ``GET /metrics``."""
    otel: bool = False
    """GROUPSTORE_OTEL: OpenTelemetry tracing of requests (needs the ``otel`` extra)."""

    def __post_init__(self) -> None:
        _check(self.mongo_uri.strip() != "", "MONGO_URI", "must not be empty")
        _check(1 <= self.port <= 65535, "PORT", "must be between 1 and 65535")
        _check(self.max_upload_bytes >= 1, "MAX_UPLOAD_BYTES", "must be at least 1")
        _check(self.token_ttl_seconds >= 1, "TOKEN_TTL_SECONDS", "must be at least 1")
        _check(
            0 < self.store_timeout_seconds <= 600, "STORE_TIMEOUT_SECONDS", "must be in (0, 600]"
        )
        for name in ("max_query_depth", "max_aliases", "max_tokens", "max_query_fields"):
            _check(getattr(self, name) >= 1, name.upper(), "must be at least 1")
        _check(
            self.log_level in _LOG_LEVELS, "LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}"
        )
        for name in (
            "header_timeout_seconds",
            "body_timeout_seconds",
            "request_timeout_seconds",
            "keepalive_seconds",
        ):
            value = getattr(self, name)
            _check(0 < value <= 86400, name.upper(), "must be between 0 and 86400 (exclusive of 0)")
        _check(self.max_connections >= 1, "MAX_CONNECTIONS", "must be at least 1")
        for name in (
            "ws_max_sockets", "ws_max_sockets_per_address", "ws_max_sockets_per_user",
            "ws_max_subscriptions_per_user",
        ):  # fmt: skip
            _check(getattr(self, name) >= 1, name.upper(), "must be at least 1")
        _check(
            0 < self.ws_init_timeout_seconds <= 60, "WS_INIT_TIMEOUT_SECONDS", "must be in (0, 60]"
        )
        _check(
            0 < self.ws_session_check_seconds < 1, "WS_SESSION_CHECK_SECONDS", "must be in (0, 1)"
        )
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            _check(
                parts.scheme in ("http", "https")
                and bool(parts.hostname)
                and not parts.query
                and not parts.fragment
                and not parts.username,
                "PUBLIC_URL",
                f"must be http(s)://host[:port][/path], not {self.public_url!r}",
            )
        _check(
            self.signing_secret is None or len(self.signing_secret) >= MIN_SIGNING_SECRET_LENGTH,
            "SIGNING_SECRET",
            f"must be at least {MIN_SIGNING_SECRET_LENGTH} characters",
        )
        _check(
            self.signed_url_max_ttl_seconds >= 1, "SIGNED_URL_MAX_TTL_SECONDS", "must be at least 1"
        )
        _check(
            1 <= self.signed_url_ttl_seconds <= self.signed_url_max_ttl_seconds,
            "SIGNED_URL_TTL_SECONDS",
            "must be between 1 and GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS",
        )
        _check(
            self.events in EVENT_BACKENDS, "EVENTS", f"must be one of {', '.join(EVENT_BACKENDS)}"
        )
        _check(0 < self.events_poll_seconds <= 60, "EVENTS_POLL_SECONDS", "must be in (0, 60]")
        for name in (
            "password_min_length", "argon2_time_cost", "argon2_parallelism", "hash_concurrency",
            "login_failure_window_seconds", "activation_token_ttl_seconds",
            "reset_token_ttl_seconds", "reset_request_window_seconds",
            "registration_window_seconds",
        ):  # fmt: skip
            _check(getattr(self, name) >= 1, name.upper(), "must be at least 1")
        _check(
            self.argon2_memory_kib >= 8 * self.argon2_parallelism,
            "ARGON2_MEMORY_KIB",
            "must be at least 8 x GROUPSTORE_ARGON2_PARALLELISM",
        )
        _check(
            0 <= self.hash_wait_seconds <= 3600, "HASH_WAIT_SECONDS", "must be between 0 and 3600"
        )
        for name in (
            "login_failures_per_user", "login_failures_per_address", "reset_requests_per_user",
            "reset_requests_per_address", "registrations_per_address", "registrations_total",
        ):  # fmt: skip
            _check(getattr(self, name) >= 0, name.upper(), "must not be negative")
        _check(1 <= self.smtp_port <= 65535, "SMTP_PORT", "must be between 1 and 65535")
        _check(self.smtp_tls in _SMTP_TLS, "SMTP_TLS", f"must be one of {', '.join(_SMTP_TLS)}")
        _check(self.log_format in _LOG_FORMATS, "LOG_FORMAT", "must be text or json")

    def account_policy(self) -> groupstore.AccountPolicy:
        """The library's account rules from these settings."""
        return groupstore.AccountPolicy(
            password_min_length=self.password_min_length,
            argon2=groupstore.Argon2Parameters(
                time_cost=self.argon2_time_cost,
                memory_kib=self.argon2_memory_kib,
                parallelism=self.argon2_parallelism,
            ),
            hash_concurrency=self.hash_concurrency,
            hash_wait_seconds=self.hash_wait_seconds,
            login_failures_per_user=self.login_failures_per_user,
            login_failures_per_address=self.login_failures_per_address,
            login_failure_window=timedelta(seconds=self.login_failure_window_seconds),
            reset_requests_per_user=self.reset_requests_per_user,
            reset_requests_per_address=self.reset_requests_per_address,
            reset_request_window=timedelta(seconds=self.reset_request_window_seconds),
            registrations_per_address=self.registrations_per_address,
            registrations_total=self.registrations_total,
            registration_window=timedelta(seconds=self.registration_window_seconds),
            activation_token_ttl=timedelta(seconds=self.activation_token_ttl_seconds),
            reset_token_ttl=timedelta(seconds=self.reset_token_ttl_seconds),
            open_registration=self.open_registration,
        )

    def token_sender(self) -> groupstore.TokenSender:
        """SMTP when ``smtp_host`` is set, else the log."""
        if not self.smtp_host:
            return groupstore.LogSender()
        return groupstore.SmtpSender(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_from,
            username=self.smtp_username,
            password=self.smtp_password,
            tls=cast(Any, self.smtp_tls),
        )

    @property
    def ws_socket_limit(self) -> int:
        """Open WebSockets allowed: the setting, within half the connection bound."""
        return max(1, min(self.ws_max_sockets, self.max_connections // 2))

    @property
    def in_memory(self) -> bool:
        """Whether the store lives in this process only (``mongomock://``)."""
        return self.mongo_uri.startswith("mongomock://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``GROUPSTORE_*`` variables (``os.environ`` unless given)."""
        env = os.environ if environ is None else environ
        parsers: dict[str, Callable[[str, str], Any]] = {
            "database": _optional_str,
            "port": _int,
            "max_upload_bytes": _int,
            "token_ttl_seconds": _int,
            "store_timeout_seconds": _float,
            "graphiql": _bool,
            "introspection": _bool,
            "cors_origins": _origins,
            "max_query_depth": _int,
            "max_aliases": _int,
            "max_tokens": _int,
            "max_query_fields": _int,
            "log_level": _upper,
            "public_url": _optional_str,
            "trusted_proxies": _list,
            "header_timeout_seconds": _float,
            "body_timeout_seconds": _float,
            "request_timeout_seconds": _float,
            "keepalive_seconds": _float,
            "max_connections": _int,
            "signing_secret": _secret,
            "signed_url_ttl_seconds": _int,
            "signed_url_max_ttl_seconds": _int,
            "events": _lower,
            "events_poll_seconds": _float,
            "ws_max_sockets": _int,
            "ws_max_sockets_per_address": _int,
            "ws_max_sockets_per_user": _int,
            "ws_max_subscriptions_per_user": _int,
            "ws_init_timeout_seconds": _float,
            "ws_session_check_seconds": _float,
            "first_user_admin": _bool,
            "open_registration": _bool,
            "require_verification": _bool,
            "password_min_length": _int,
            "argon2_time_cost": _int,
            "argon2_memory_kib": _int,
            "argon2_parallelism": _int,
            "hash_concurrency": _int,
            "hash_wait_seconds": _float,
            "login_failures_per_user": _int,
            "login_failures_per_address": _int,
            "login_failure_window_seconds": _int,
            "reset_requests_per_user": _int,
            "reset_requests_per_address": _int,
            "reset_request_window_seconds": _int,
            "registrations_per_address": _int,
            "registrations_total": _int,
            "registration_window_seconds": _int,
            "activation_token_ttl_seconds": _int,
            "reset_token_ttl_seconds": _int,
            "smtp_host": _optional_str,
            "smtp_port": _int,
            "smtp_username": _optional_str,
            "smtp_password": _raw_optional,
            "smtp_tls": _lower,
            "log_format": _lower,
            "metrics": _bool,
            "otel": _bool,
        }
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name.upper()
            raw = env.get(ENV_PREFIX + name)
            if raw is None or raw.strip() == "":
                continue  # unset or blank: the default
            parse = parsers.get(field.name, _str)
            values[field.name] = parse(name, raw)
        return cls(**values)


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise SettingsError(f"{ENV_PREFIX}{name} {message}")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be an integer, not {raw!r}") from None


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from None
    if value != value:  # NaN
        raise SettingsError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}")
    return value


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(
        f"{ENV_PREFIX}{name} must be true or false (1/0, yes/no, on/off), not {raw!r}"
    )


def _str(name: str, raw: str) -> str:
    return raw.strip()


def _upper(name: str, raw: str) -> str:
    return raw.strip().upper()


def _lower(name: str, raw: str) -> str:
    return raw.strip().lower()


def _secret(name: str, raw: str) -> str:
    return raw  # used as given: stripping would silently change the key


def _raw_optional(name: str, raw: str) -> str | None:
    return raw or None  # a password is used exactly as given


def _optional_str(name: str, raw: str) -> str | None:
    return raw.strip() or None


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and "://" not in origin:
            raise SettingsError(
                f"{ENV_PREFIX}{name}: {origin!r} is not an origin (scheme://host[:port]) or '*'"
            )
    return origins
