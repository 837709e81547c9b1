"""E-mail over SMTP: one multipart/alternative message (plain text and HTML) per delivery.

The caller renders subject, text and HTML from one template; this module only sends them.
The Message-ID is made from the delivery's id, so a retry carries the same one and the
recipient's mail system can tell it is the same e-mail. STARTTLS is used whenever the server
offers it, and a certificate that does not verify stops the e-mail rather than sending it in
the clear.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr

from runtime.clock import Clock, utcnow

_MESSAGE_ID = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    """The From address, bare or with a name: `Brobygger <noreply@example.dk>`."""
    username: str | None = None
    """Log in only when set."""
    password: SecretStr | None = None
    timeout_seconds: float = 30.0
    """All one message may take: connecting, STARTTLS, login and sending together."""


class EmailNotSent(Exception):
    """The e-mail did not go. `permanent`: sending it again will not help (the server refused
    this recipient or message); otherwise a later attempt may succeed. The reason names no
    address and no secret: it goes into logs and delivery records."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class EmailSender(Protocol):
    async def send(self, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        """Send one e-mail to `to`; `message_id` is the delivery's id. Raises EmailNotSent."""


class SmtpEmailSender:
    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """`tls_context`: whom to trust for STARTTLS; None means the system's certificates."""
        self._settings = settings
        self._tls_context = tls_context
        self._clock = clock

    async def send(self, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        message = self._message(to, subject, text, html, message_id)
        settings = self._settings
        try:
            async with asyncio.timeout(settings.timeout_seconds):
                await aiosmtplib.send(
                    message,
                    hostname=settings.host,
                    port=settings.port,
                    username=settings.username,
                    password=(
                        settings.password.get_secret_value()
                        if settings.username and settings.password
                        else None
                    ),
                    start_tls=None,  # upgrade whenever the server offers STARTTLS
                    tls_context=self._tls_context,
                    timeout=settings.timeout_seconds,
                )
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            # `from None`: a server's refusal usually quotes the address, and the cause would
            # carry it into any logged traceback.
            raise _not_sent(error, settings) from None

    def _message(
        self, to: str, subject: str, text: str, html: str, message_id: str
    ) -> EmailMessage:
        address = parseaddr(to)[1]
        if "@" not in address or any(c in to for c in "\r\n"):
            raise EmailNotSent("the recipient's address is not an e-mail address", True)
        if not _MESSAGE_ID.fullmatch(message_id):
            raise ValueError("message_id must be a delivery id: letters, digits, '.', '_', '-'")
        domain = parseaddr(self._settings.sender)[1].rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = to
        # A rendered template may end in a newline, which a header cannot hold.
        message["Subject"] = " ".join(subject.split())
        message["Date"] = format_datetime(self._clock())
        message["Message-ID"] = f"<{message_id}@{domain}>"
        # Asks vacation responders and the like not to answer a machine (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        # Quoted-printable passes any relay, 8BITMIME or not, and stays readable raw.
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        return message


def _not_sent(error: Exception, settings: SmtpSettings) -> EmailNotSent:
    """Permanent only when the server refuses this recipient or this message (5xx to RCPT
    or DATA). A refusal of our greeting, sender or login is the set-up's fault, not the
    message's: once the setting is fixed, the retries go through."""
    match error:
        case aiosmtplib.SMTPRecipientsRefused(recipients=[first, *_]):
            return EmailNotSent(f"recipient refused ({first.code})", first.code >= 500)
        case aiosmtplib.SMTPRecipientRefused(code=code):
            return EmailNotSent(f"recipient refused ({code})", code >= 500)
        case aiosmtplib.SMTPDataError(code=code):
            return EmailNotSent(f"message refused ({code})", code >= 500)
        case aiosmtplib.SMTPAuthenticationError(code=code):
            return EmailNotSent(f"login refused ({code})", False)
        case aiosmtplib.SMTPResponseException(code=code):
            return EmailNotSent(f"mail server refused ({code})", False)
        case TimeoutError():
            return EmailNotSent(f"no answer within {settings.timeout_seconds:g} s", False)
        case ssl.SSLError():
            return EmailNotSent("TLS with the mail server failed", False)
        case ValueError():
            return EmailNotSent("an address cannot be sent through this mail server", True)
        case _:
            return EmailNotSent(
                f"could not talk to the mail server ({type(error).__name__})", False
            )
