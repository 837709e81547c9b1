"""An in-process SMTP server (aiosmtpd) for the tests, and what arrived at it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

PASSWORD = "hemmeligt-kodeord-42"


@dataclass
class Arrived:
    message: EmailMessage
    over_tls: bool
    logged_in_as: str | None


@dataclass
class MailServer:
    """What an aiosmtpd server received; `refusal` is its answer to every RCPT, if set."""

    refusal: str | None = None
    port: int = 0
    arrived: list[Arrived] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refusal:
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        auth: Any = session.auth_data  # what `authenticate` returned, once logged in
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.arrived.append(Arrived(message, session.ssl is not None, login))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        # handled=False: aiosmtpd answers a failure itself (535).
        return AuthResult(success=data.password.decode() == PASSWORD, handled=False, auth_data=data)


StartServer = Callable[..., MailServer]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """`smtp_server(refusal=None, offers_login=False, **aiosmtpd_options)` starts a server on a
    free port; one that offers login checks the password against PASSWORD."""
    controllers: list[Controller] = []

    def start(refusal: str | None = None, offers_login: bool = False, **options: Any) -> MailServer:
        server = MailServer(refusal)
        if offers_login:
            options["authenticator"] = server.authenticate
        controller = Controller(
            server, hostname="127.0.0.1", port=free_port(), server_hostname="localhost", **options
        )
        controller.start()
        controllers.append(controller)
        server.port = controller.port
        return server

    yield start
    for controller in controllers:
        controller.stop()
