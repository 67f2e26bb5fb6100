"""Delivering one-time account tokens (activation, password reset) to their users.

``UserManager`` hands every token it issues to a ``TokenSender``; the token
itself is never returned to the (possibly anonymous) caller that asked for it.

- ``LogSender`` (the default) writes the token to the ``groupstore.accounts``
  log at WARNING: fine for development and for operators who relay tokens.
- ``SmtpSender`` mails it with the standard library's ``smtplib``, to the
  user name when that is an e-mail address, in a background thread (so a
  request for a known user takes no longer than for an unknown one).
- ``RecordingSender`` keeps what was sent, for tests.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Literal, Protocol

from groupstore.model import User

log = logging.getLogger("groupstore.accounts")

TokenPurpose = Literal["activate", "reset_password"]
ACTIVATE: TokenPurpose = "activate"
RESET_PASSWORD: TokenPurpose = "reset_password"

_INSTRUCTIONS = {
    ACTIVATE: (
        "Activate your account",
        "Activate your account with this one-time token (GraphQL: activateUser(token: ...)):",
    ),
    RESET_PASSWORD: (
        "Reset your password",
        "Choose a new password with this one-time token "
        "(GraphQL: resetPassword(token: ..., password: ...)):",
    ),
}


@dataclass(frozen=True)
class TokenMessage:
    """A one-time token for one user: what it is for, and until when it works."""

    user: User
    purpose: TokenPurpose
    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        # Keep tokens out of logs and tracebacks.
        return (
            f"TokenMessage(user={self.user.username!r}, purpose={self.purpose!r}, "
            f"expires_at={self.expires_at!r}, token=***)"
        )


class TokenSender(Protocol):
    """Anything that can deliver a token message; it must not raise for a delivery failure."""

    def send(self, message: TokenMessage) -> None: ...


class LogSender:
    """Writes tokens to the log (the default: nothing is mailed)."""

    def send(self, message: TokenMessage) -> None:
        subject, text = _INSTRUCTIONS[message.purpose]
        log.warning(
            "%s for user %r: %s %s (valid until %s)",
            subject,
            message.user.username,
            text,
            message.token,
            message.expires_at.isoformat(),
        )


class RecordingSender:
    """Keeps every message, for tests: ``last(purpose)`` is the latest token of that kind."""

    def __init__(self) -> None:
        self.messages: list[TokenMessage] = []

    def send(self, message: TokenMessage) -> None:
        self.messages.append(message)

    def tokens(self, purpose: TokenPurpose, username: str | None = None) -> list[str]:
        return [
            m.token
            for m in self.messages
            if m.purpose == purpose and (username is None or m.user.username == username)
        ]

    def last(self, purpose: TokenPurpose, username: str | None = None) -> str:
        tokens = self.tokens(purpose, username)
        if not tokens:
            raise LookupError(f"no {purpose} token was sent")
        return tokens[-1]


@dataclass(frozen=True)
class SmtpSender:
    """Mails tokens through an SMTP server; user names must be e-mail addresses.

    ``tls``: "starttls" (upgrade a plain connection, port 587), "ssl"
    (implicit TLS, port 465) or "none" (a local relay only). Failures are
    logged, never raised: the caller's answer must not reveal whether a
    message went out.
    """

    host: str
    port: int = 587
    sender: str = "groupstore@localhost"
    username: str | None = None
    password: str | None = None
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    timeout: float = 10.0
    background: bool = True

    def send(self, message: TokenMessage) -> None:
        if "@" not in message.user.username:
            log.warning(
                "no e-mail address for user %r: the %s token was not sent",
                message.user.username,
                message.purpose,
            )
            return
        if self.background:
            threading.Thread(target=self._deliver, args=(message,), daemon=True).start()
        else:
            self._deliver(message)

    def build(self, message: TokenMessage) -> EmailMessage:
        subject, text = _INSTRUCTIONS[message.purpose]
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = self.sender
        mail["To"] = message.user.username
        mail.set_content(
            f"{text}\n\n    {message.token}\n\n"
            f"It works once, until {message.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            "If you did not ask for this, ignore this message.\n"
        )
        return mail

    def _deliver(self, message: TokenMessage) -> None:
        try:
            context = ssl.create_default_context()
            smtp: smtplib.SMTP
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(self.build(message))
        except (OSError, smtplib.SMTPException) as exc:
            log.error(
                "could not mail the %s token to %r: %s",
                message.purpose,
                message.user.username,
                exc,
            )
