"""Gateway settings: ``GROUPSTORE_*`` environment variables, read once at start-up.

``Settings.from_env()`` is the only place in the gateway that reads the
environment; everything else receives a ``Settings``. Every variable is
optional. A value that does not parse raises ``SettingsError`` naming the
variable, so a typo stops the server at start-up instead of at first use.
Each setting is one field of ``Settings``: its name gives the variable, its
``setting(default, parse, bound)`` the rest; the library's defaults
(``AccountPolicy``, ``connect``'s timeout, ``MEMORY_URI``) are the source of
theirs. ``docs/settings.md`` describes them; a test checks it lists exactly
these variables with these defaults.
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


@dataclass(frozen=True)
class Bound:
    """A setting's bounds: ``ok(value)``, else the error ``message(value)``."""

    ok: Callable[[Any], bool]
    text: str | Callable[[Any], str]

    def message(self, value: Any) -> str:
        return self.text if isinstance(self.text, str) else self.text(value)


def setting(
    default: Any, parse: Callable[[str, str], Any], bound: Bound | None = None, *, repr: bool = True
) -> Any:
    """One setting: its default, how ``GROUPSTORE_<FIELD>`` parses, and its bounds.

    The field name gives the variable's name and its annotation the type; the
    docstring under it is the setting's description (docs/settings.md is checked
    against these fields).
    """
    return dataclass_field(default=default, repr=repr, metadata={"parse": parse, "bound": bound})


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


def _within(most: float) -> Bound:
    return Bound(lambda v: 0 < v <= most, f"must be in (0, {most:g}]")


def _one_of(choices: tuple[str, ...]) -> Bound:
    return Bound(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and not parts.username
    )


_POSITIVE = Bound(lambda v: v >= 1, "must be at least 1")
_LIMIT = Bound(lambda v: v >= 0, "must not be negative")  # 0 turns the limit off
_PORT = Bound(lambda v: 1 <= v <= 65535, "must be between 1 and 65535")
_NOT_EMPTY = Bound(lambda v: v.strip() != "", "must not be empty")
_HTTP_TIMEOUT = Bound(lambda v: 0 < v <= 86400, "must be between 0 and 86400 (exclusive of 0)")
_UNDER_A_SECOND = Bound(lambda v: 0 < v < 1, "must be in (0, 1)")
_HASH_WAIT = Bound(lambda v: 0 <= v <= 3600, "must be between 0 and 3600")
_URL = Bound(_valid_url, lambda v: f"must be http(s)://host[:port][/path], not {v!r}")
_SECRET = Bound(
    lambda v: len(v) >= MIN_SIGNING_SECRET_LENGTH,
    f"must be at least {MIN_SIGNING_SECRET_LENGTH} characters",
)
_POLICY = groupstore.AccountPolicy()  # the library's account defaults are the source


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with; the defaults suit local development."""

    mongo_uri: str = setting(groupstore.MEMORY_URI, _str, _NOT_EMPTY)
    """GROUPSTORE_MONGO_URI: any MongoDB connection string, or ``mongomock://`` (in memory)."""
    database: str | None = setting(None, _optional_str)
    """GROUPSTORE_DATABASE: the database; default the one in the URI, else ``groupstore``."""
    host: str = setting("127.0.0.1", _str)
    """GROUPSTORE_HOST: the interface uvicorn listens on."""
    port: int = setting(8000, _int, _PORT)
    """GROUPSTORE_PORT: the TCP port uvicorn listens on."""
    max_upload_bytes: int = setting(GiB, _int, _POSITIVE)
    """GROUPSTORE_MAX_UPLOAD_BYTES: the largest file ``uploadFile`` accepts."""
    token_ttl_seconds: int = setting(_seconds(groupstore.DEFAULT_TOKEN_TTL), _int, _POSITIVE)
    """GROUPSTORE_TOKEN_TTL_SECONDS: how long an API key from ``login`` stays valid."""
    store_timeout_seconds: float = setting(groupstore.DEFAULT_TIMEOUT, _float, _within(600))
    """GROUPSTORE_STORE_TIMEOUT_SECONDS: ``connect(timeout=...)``: how long a call waits for
    an unreachable database before STORE_UNAVAILABLE."""
    graphiql: bool = setting(True, _bool)
    """GROUPSTORE_GRAPHIQL: serve GraphiQL on ``GET /graphql``."""
    introspection: bool = setting(True, _bool)
    """GROUPSTORE_INTROSPECTION: allow schema introspection (GraphiQL needs it)."""
    cors_origins: tuple[str, ...] = setting((), _origins)
    """GROUPSTORE_CORS_ORIGINS: comma-separated origins allowed to call from a browser."""
    max_query_depth: int = setting(10, _int, _POSITIVE)
    """GROUPSTORE_MAX_QUERY_DEPTH: deepest selection a query may nest (introspection excluded)."""
    max_aliases: int = setting(15, _int, _POSITIVE)
    """GROUPSTORE_MAX_ALIASES: most aliases one document may use."""
    max_tokens: int = setting(2000, _int, _POSITIVE)
    """GROUPSTORE_MAX_TOKENS: most lexical tokens one document may contain."""
    max_query_fields: int = setting(1000, _int, _POSITIVE)
    """GROUPSTORE_MAX_QUERY_FIELDS: most field selections once every fragment is expanded."""
    log_level: str = setting("INFO", _upper, _one_of(_LOG_LEVELS))
    """GROUPSTORE_LOG_LEVEL: CRITICAL, ERROR, WARNING, INFO or DEBUG."""
    public_url: str | None = setting(None, _optional_str, _URL)
    """GROUPSTORE_PUBLIC_URL: the gateway's URL as clients reach it (``downloadUrl`` is built
    on it); default: the address the server listens on (never the request's Host header)."""
    trusted_proxies: tuple[str, ...] = setting((), _list)
    """GROUPSTORE_TRUSTED_PROXIES: comma-separated proxy addresses (or ``*``) whose
    ``X-Forwarded-Proto`` / ``X-Forwarded-For`` and ``Host`` are believed."""
    header_timeout_seconds: float = setting(10.0, _float, _HTTP_TIMEOUT)
    """GROUPSTORE_HEADER_TIMEOUT_SECONDS: time for a connection to send a complete request head."""
    body_timeout_seconds: float = setting(30.0, _float, _HTTP_TIMEOUT)
    """GROUPSTORE_BODY_TIMEOUT_SECONDS: longest pause between two pieces of a request body."""
    request_timeout_seconds: float = setting(300.0, _float, _HTTP_TIMEOUT)
    """GROUPSTORE_REQUEST_TIMEOUT_SECONDS: from a request's head until its response starts."""
    keepalive_seconds: float = setting(5.0, _float, _HTTP_TIMEOUT)
    """GROUPSTORE_KEEPALIVE_SECONDS: how long an idle kept-alive connection stays open."""
    max_connections: int = setting(1000, _int, _POSITIVE)
    """GROUPSTORE_MAX_CONNECTIONS: concurrent connections; requests beyond get HTTP 503."""
    signing_secret: str | None = setting(None, _secret, _SECRET, repr=False)
    """GROUPSTORE_SIGNING_SECRET: the HMAC key of signed download URLs (at least 32
    characters); every gateway behind one load balancer needs the same one. Unset: a
    random key per process (links then work only on the process that made them)."""
    signed_url_ttl_seconds: int = setting(300, _int)  # bounds: see __post_init__
    """GROUPSTORE_SIGNED_URL_TTL_SECONDS: lifetime of a signed URL when none is asked for."""
    signed_url_max_ttl_seconds: int = setting(3600, _int, _POSITIVE)
    """GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS: the longest lifetime ``signedUrl`` grants."""
    events: str = setting("poll", _lower, _one_of(EVENT_BACKENDS))
    """GROUPSTORE_EVENTS: how subscriptions learn of every process's changes: ``poll`` (read
    the change log every GROUPSTORE_EVENTS_POLL_SECONDS; any server) or ``change-streams``
    (pushed by MongoDB change streams on a replica set; elsewhere it falls back to ``poll``)."""
    events_poll_seconds: float = setting(0.2, _float, _within(60))
    """GROUPSTORE_EVENTS_POLL_SECONDS: how often each gateway reads the change log."""
    ws_max_sockets: int = setting(500, _int, _POSITIVE)
    """GROUPSTORE_WS_MAX_SOCKETS: open WebSockets per process (at most half of
    GROUPSTORE_MAX_CONNECTIONS is used, so HTTP keeps the rest); beyond: refused."""
    ws_max_sockets_per_address: int = setting(50, _int, _POSITIVE)
    """GROUPSTORE_WS_MAX_SOCKETS_PER_ADDRESS: open WebSockets per client address."""
    ws_max_sockets_per_user: int = setting(20, _int, _POSITIVE)
    """GROUPSTORE_WS_MAX_SOCKETS_PER_USER: authenticated WebSockets per user (beyond: 4429)."""
    ws_max_subscriptions_per_user: int = setting(100, _int, _POSITIVE)
    """GROUPSTORE_WS_MAX_SUBSCRIPTIONS_PER_USER: subscriptions per user at once, over all
    their sockets (beyond: TOO_MANY_REQUESTS); also the operations per socket."""
    ws_init_timeout_seconds: float = setting(3.0, _float, _within(60))
    """GROUPSTORE_WS_INIT_TIMEOUT_SECONDS: time for a socket to send ``connection_init``
    (else closed with 4408)."""
    ws_session_check_seconds: float = setting(0.5, _float, _UNDER_A_SECOND)
    """GROUPSTORE_WS_SESSION_CHECK_SECONDS: how often an open socket's session is checked
    against the database, and the oldest check an operation may rely on (under 1 s)."""
    # Accounts. GROUPSTORE_ADMINS is read by groupstore.connect itself.
    first_user_admin: bool = setting(False, _bool)
    """GROUPSTORE_FIRST_USER_ADMIN: a user who registers while the store has no administrator
    becomes one (``groupstore serve`` turns it on for the local store on loopback)."""
    open_registration: bool = setting(_POLICY.open_registration, _bool)
    """GROUPSTORE_OPEN_REGISTRATION: anyone may ``registerUser`` (else administrators only)."""
    require_verification: bool = setting(False, _bool)
    """GROUPSTORE_REQUIRE_VERIFICATION: new users stay inactive until ``activateUser(token)``."""
    password_min_length: int = setting(_POLICY.password_min_length, _int, _POSITIVE)
    """GROUPSTORE_PASSWORD_MIN_LENGTH: the shortest password accepted."""
    argon2_time_cost: int = setting(_POLICY.argon2.time_cost, _int, _POSITIVE)
    """GROUPSTORE_ARGON2_TIME_COST: Argon2id iterations."""
    argon2_memory_kib: int = setting(_POLICY.argon2.memory_kib, _int)  # see __post_init__
    """GROUPSTORE_ARGON2_MEMORY_KIB: Argon2id memory per hash, in KiB."""
    argon2_parallelism: int = setting(_POLICY.argon2.parallelism, _int, _POSITIVE)
    """GROUPSTORE_ARGON2_PARALLELISM: Argon2id lanes (threads) per hash."""
    hash_concurrency: int = setting(_POLICY.hash_concurrency, _int, _POSITIVE)
    """GROUPSTORE_HASH_CONCURRENCY: most password hashes at once (memory: this x memory cost)."""
    hash_wait_seconds: float = setting(_POLICY.hash_wait_seconds, _float, _HASH_WAIT)
    """GROUPSTORE_HASH_WAIT_SECONDS: how long a login waits for a hashing slot."""
    login_failures_per_user: int = setting(_POLICY.login_failures_per_user, _int, _LIMIT)
    """GROUPSTORE_LOGIN_FAILURES_PER_USER: failed logins per user name and window (0: no limit)."""
    login_failures_per_address: int = setting(_POLICY.login_failures_per_address, _int, _LIMIT)
    """GROUPSTORE_LOGIN_FAILURES_PER_ADDRESS: failed logins per client address and window."""
    login_failure_window_seconds: int = setting(
        _seconds(_POLICY.login_failure_window), _int, _POSITIVE
    )
    """GROUPSTORE_LOGIN_FAILURE_WINDOW_SECONDS: the window those limits count in."""
    reset_requests_per_user: int = setting(_POLICY.reset_requests_per_user, _int, _LIMIT)
    """GROUPSTORE_RESET_REQUESTS_PER_USER: ``requestPasswordReset`` calls per user name
    (known or not) and window (0: no limit); counted apart from failed logins."""
    reset_requests_per_address: int = setting(_POLICY.reset_requests_per_address, _int, _LIMIT)
    """GROUPSTORE_RESET_REQUESTS_PER_ADDRESS: ``requestPasswordReset`` calls per client
    address and window (0: no limit)."""
    reset_request_window_seconds: int = setting(
        _seconds(_POLICY.reset_request_window), _int, _POSITIVE
    )
    """GROUPSTORE_RESET_REQUEST_WINDOW_SECONDS: the window the reset limits count in."""
    registrations_per_address: int = setting(_POLICY.registrations_per_address, _int, _LIMIT)
    """GROUPSTORE_REGISTRATIONS_PER_ADDRESS: self-registrations per client address and
    window (0: no limit); an administrator's ``registerUser`` is not counted."""
    registrations_total: int = setting(_POLICY.registrations_total, _int, _LIMIT)
    """GROUPSTORE_REGISTRATIONS_TOTAL: self-registrations from all addresses together per
    window (0: no limit)."""
    registration_window_seconds: int = setting(
        _seconds(_POLICY.registration_window), _int, _POSITIVE
    )
    """GROUPSTORE_REGISTRATION_WINDOW_SECONDS: the window the registration limits count in."""
    activation_token_ttl_seconds: int = setting(
        _seconds(_POLICY.activation_token_ttl), _int, _POSITIVE
    )
    """GROUPSTORE_ACTIVATION_TOKEN_TTL_SECONDS: lifetime of an activation token."""
    reset_token_ttl_seconds: int = setting(_seconds(_POLICY.reset_token_ttl), _int, _POSITIVE)
    """GROUPSTORE_RESET_TOKEN_TTL_SECONDS: lifetime of a password reset token."""
    smtp_host: str | None = setting(None, _optional_str)
    """GROUPSTORE_SMTP_HOST: mail tokens through this server (unset: tokens go to the log)."""
    smtp_port: int = setting(587, _int, _PORT)
    """GROUPSTORE_SMTP_PORT: the SMTP server's port."""
    smtp_from: str = setting("groupstore@localhost", _str)
    """GROUPSTORE_SMTP_FROM: the sender address of token mails."""
    smtp_username: str | None = setting(None, _optional_str)
    """GROUPSTORE_SMTP_USERNAME: SMTP login (none: no authentication)."""
    smtp_password: str | None = setting(None, _raw_optional)
    """GROUPSTORE_SMTP_PASSWORD: SMTP password."""
    smtp_tls: str = setting("starttls", _lower, _one_of(_SMTP_TLS))
    """GROUPSTORE_SMTP_TLS: starttls, ssl or none."""
    log_format: str = setting(
        "text", _lower, Bound(lambda v: v in _LOG_FORMATS, "must be text or json")
    )
    """GROUPSTORE_LOG_FORMAT: ``text`` (for people) or ``json`` (one object per line)."""
    metrics: bool = setting(False, _bool)
    """GROUPSTORE_METRICS: serve Prometheus metrics on ``GET /metrics``."""
    otel: bool = setting(False, _bool)
    """GROUPSTORE_OTEL: OpenTelemetry tracing of requests (needs the ``otel`` extra)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            bound: Bound | None = field.metadata.get("bound")
            value = getattr(self, field.name)
            if bound is not None and value is not None and not bound.ok(value):
                raise SettingsError(f"{ENV_PREFIX}{field.name.upper()} {bound.message(value)}")
        # Bounds that depend on another setting.
        _check(
            1 <= self.signed_url_ttl_seconds <= self.signed_url_max_ttl_seconds,
            "SIGNED_URL_TTL_SECONDS",
            "must be between 1 and GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS",
        )
        _check(
            self.argon2_memory_kib >= 8 * self.argon2_parallelism,
            "ARGON2_MEMORY_KIB",
            "must be at least 8 x GROUPSTORE_ARGON2_PARALLELISM",
        )

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
        return self.mongo_uri.startswith(groupstore.MEMORY_URI)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``GROUPSTORE_*`` variables (``os.environ`` unless given)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name.upper()
            raw = env.get(ENV_PREFIX + name)
            if raw is None or raw.strip() == "":
                continue  # unset or blank: the default
            values[field.name] = field.metadata["parse"](name, raw)
        return cls(**values)
