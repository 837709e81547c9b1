"""E-mail over real SMTP to an in-process aiosmtpd server, reading what arrived there.

STARTTLS runs with a certificate made here for 127.0.0.1; the sender trusts it through its
TLS context, as it would trust a private relay's certificate authority.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from notifications.channels.email import EmailNotSent, SmtpEmailSender, SmtpSettings
from tests.fakes import FakeClock
from tests.notifications.mail import PASSWORD, StartServer, free_port

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
DELIVERY = "5b0e8c1e-4c2f-4d8e-9a57-2f0c1d3e4b6a"
TO = "Karen Ølgaard <koordinator@aeldresagen.example>"
SUBJECT = "Nyt tilbud til Ældre Sagen Nørrebro: gåtur ved Søerne"
TEXT = "Hej,\n\nI har fået et nyt tilbud. Log ind i Brobygger for at læse det: æ ø å Æ Ø Å.\n"
HTML = (
    "<p>Hej,</p><p>I har fået et nyt tilbud. <a href='https://brobygger.example/'>Læs det</a></p>"
)


@dataclass(frozen=True)
class Certificate:
    server: ssl.SSLContext
    trusting_client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, and a client context that trusts it."""
    directory: Path = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    valid_from = datetime.now(UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_from + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return Certificate(server, ssl.create_default_context(cafile=str(cert_file)))


def smtp_settings(port: int, **overrides: Any) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1",
        port=port,
        sender="Brobygger <brobygger@brobygger.example>",
        timeout_seconds=5,
    )
    return replace(base, **overrides)


def sender(port: int, tls: ssl.SSLContext | None = None, **settings: Any) -> SmtpEmailSender:
    return SmtpEmailSender(smtp_settings(port, **settings), tls_context=tls, clock=FakeClock(NOW))


async def send(email: SmtpEmailSender, to: str = TO, delivery: str = DELIVERY) -> None:
    await email.send(to, SUBJECT, TEXT, HTML, delivery)


def text_of(error: BaseException) -> str:
    """Everything a log line with the traceback would show of an error."""
    return "".join(traceback.format_exception(error)) + repr(error)


# What arrives


async def test_an_email_arrives_with_text_and_html_parts_in_utf8_and_the_delivery_message_id(
    smtp_server: StartServer,
) -> None:
    server = smtp_server()

    await send(sender(server.port))

    [arrived] = server.arrived
    message = arrived.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == SUBJECT
    assert message["To"] == TO
    assert message["From"] == "Brobygger <brobygger@brobygger.example>"
    assert message["Message-ID"] == f"<{DELIVERY}@brobygger.example>"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = message.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert (text.get_content_type(), text.get_content_charset()) == ("text/plain", "utf-8")
    assert (html.get_content_type(), html.get_content_charset()) == ("text/html", "utf-8")
    # SMTP carries lines ending in CRLF.
    assert text.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().rstrip("\r\n") == HTML


async def test_a_retry_of_a_delivery_carries_the_same_message_id_and_another_delivery_its_own(
    smtp_server: StartServer,
) -> None:
    server = smtp_server()
    email = sender(server.port)

    await send(email)
    await send(email)
    await send(email, delivery="another-delivery")

    assert [a.message["Message-ID"] for a in server.arrived] == [
        f"<{DELIVERY}@brobygger.example>",
        f"<{DELIVERY}@brobygger.example>",
        "<another-delivery@brobygger.example>",
    ]


async def test_a_subject_rendered_with_line_breaks_arrives_on_one_line(
    smtp_server: StartServer,
) -> None:
    server = smtp_server()

    await sender(server.port).send(TO, "Nyt tilbud\n  til jer\n", TEXT, HTML, DELIVERY)

    assert server.arrived[0].message["Subject"] == "Nyt tilbud til jer"


# STARTTLS and login


async def test_starttls_is_used_when_the_server_offers_it(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server)

    await send(sender(server.port, tls=certificate.trusting_client))

    assert [a.over_tls for a in server.arrived] == [True]


async def test_the_email_goes_in_plain_text_when_the_server_offers_no_starttls(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server()

    await send(sender(server.port, tls=certificate.trusting_client))

    assert [a.over_tls for a in server.arrived] == [False]


async def test_a_certificate_that_does_not_verify_stops_the_email_instead_of_sending_it_plain(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server)

    with pytest.raises(EmailNotSent) as raised:
        await send(sender(server.port))  # trusts only the system's authorities

    assert not raised.value.permanent
    assert server.arrived == []


async def test_it_logs_in_with_the_username_and_password_when_a_username_is_set(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server, offers_login=True)

    await send(
        sender(
            server.port,
            tls=certificate.trusting_client,
            username="brobygger",
            password=SecretStr(PASSWORD),
        )
    )

    assert server.logins == [("brobygger", PASSWORD)]
    assert [a.logged_in_as for a in server.arrived] == ["brobygger"]


async def test_it_does_not_log_in_when_no_username_is_set(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server, offers_login=True)

    await send(sender(server.port, tls=certificate.trusting_client, password=SecretStr(PASSWORD)))

    assert server.logins == []
    assert [a.logged_in_as for a in server.arrived] == [None]


async def test_a_refused_login_is_temporary_and_no_error_text_holds_the_password(
    smtp_server: StartServer, certificate: Certificate
) -> None:
    server = smtp_server(tls_context=certificate.server, offers_login=True)
    wrong = "forkert-kodeord-17"
    settings = smtp_settings(server.port, username="brobygger", password=SecretStr(wrong))

    with pytest.raises(EmailNotSent) as raised:
        await send(SmtpEmailSender(settings, tls_context=certificate.trusting_client))

    # The password went to the server (once per mechanism it offers), and nowhere else.
    assert set(server.logins) == {("brobygger", wrong)}
    assert not raised.value.permanent
    assert "535" in raised.value.reason
    assert wrong not in text_of(raised.value)
    assert wrong not in repr(settings)


# Refusals and failures


@pytest.mark.parametrize(
    ("refusal", "permanent"),
    [
        ("550 5.1.1 <koordinator@aeldresagen.example>: mailbox unavailable", True),
        ("450 4.2.1 <koordinator@aeldresagen.example>: mailbox busy, try later", False),
    ],
)
async def test_a_5xx_recipient_refusal_is_permanent_a_4xx_temporary_and_neither_names_the_address(
    smtp_server: StartServer, refusal: str, permanent: bool
) -> None:
    server = smtp_server(refusal)

    with pytest.raises(EmailNotSent) as raised:
        await send(sender(server.port))

    assert raised.value.permanent is permanent
    assert raised.value.reason == f"recipient refused ({refusal[:3]})"
    assert "koordinator" not in text_of(raised.value)
    assert "Ølgaard" not in text_of(raised.value)
    assert server.arrived == []


async def test_a_refused_connection_is_temporary() -> None:
    with pytest.raises(EmailNotSent) as raised:
        await send(sender(free_port()))

    assert not raised.value.permanent
    assert "could not talk to the mail server" in raised.value.reason


async def test_a_server_that_never_answers_is_given_up_after_the_timeout_as_temporary() -> None:
    with socket.socket() as silent:  # accepts connections into its backlog, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()

        with pytest.raises(EmailNotSent) as raised:
            await send(sender(silent.getsockname()[1], timeout_seconds=0.3))

    assert not raised.value.permanent
    assert raised.value.reason == "no answer within 0.3 s"


@pytest.mark.parametrize(
    "to", ["koordinator.aeldresagen.example", "a@example.dk\r\nBcc: b@example.dk", ""]
)
async def test_a_recipient_that_is_no_email_address_is_refused_permanently_before_connecting(
    to: str,
) -> None:
    with pytest.raises(EmailNotSent) as raised:
        await send(sender(free_port()), to=to)  # nothing listens there: it never connected

    assert raised.value.permanent
    assert raised.value.reason == "the recipient's address is not an e-mail address"
