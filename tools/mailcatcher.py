"""A local mail catcher: an SMTP server that keeps every e-mail and a web page to read them.

    python -m tools.mailcatcher --smtp-port 1025 --http-port 8025 --dir .cache/mail

`./run` starts it when no mail server is set, so the demo's e-mails can be read and nothing
leaves the machine. Both servers listen on 127.0.0.1 only; port 0 takes a free port, and
the line printed once both listen says which. Each e-mail is kept as an `.eml` file.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import signal
import threading
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

from aiosmtpd.smtp import SMTP, Envelope, Session

from runtime.clock import Clock, utcnow

HOST = "127.0.0.1"
_STORED = "%Y%m%d-%H%M%S-%f"
_NAME = re.compile(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{8}\.eml")
"""A stored e-mail's file name: when it was caught, then a random part. Sorting the names
sorts by time; the HTTP side opens only names of this form, so no path leaves the folder."""
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>{head}
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1em}}</style></head>
<body>{body}</body></html>"""
_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
"""Nothing on a page may load or run, whatever an e-mail holds."""


class Catch:
    """aiosmtpd's handler: stores each e-mail as it arrives."""

    def __init__(self, directory: Path, now: Clock) -> None:
        self._directory = directory
        self._now = now

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{self._now():{_STORED}}-{uuid4().hex[:8]}.eml"
        await asyncio.to_thread(self._store, name, content)
        # The file name only: recipients' addresses are personal data, not for a log.
        print(
            f"mailcatcher: caught an e-mail to {len(envelope.rcpt_tos)} address(es): {name}",
            flush=True,
        )
        return "250 Message accepted"

    def _store(self, name: str, content: bytes) -> None:
        # Written aside and renamed: the page never lists half an e-mail.
        partial = self._directory / f".{name}.partial"
        partial.write_bytes(content)
        os.replace(partial, self._directory / name)


def caught(directory: Path) -> list[Path]:
    """The stored e-mails, newest first."""
    found = (path for path in directory.iterdir() if _NAME.fullmatch(path.name))
    return sorted(found, key=lambda path: path.name, reverse=True)


def read(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default makes
    return message


def caught_at(path: Path) -> str:
    return f"{datetime.strptime(path.name[:22], _STORED):%Y-%m-%d %H:%M:%S} UTC"


def list_page(directory: Path) -> str:
    rows = []
    for path in caught(directory):
        message = read(path)
        rows.append(
            f"<tr><td>{caught_at(path)}</td><td>{html.escape(str(message['To'] or ''))}</td>"
            f"<td><a href='/messages/{path.name}'>"
            f"{html.escape(str(message['Subject'] or '(no subject)'))}</a></td></tr>"
        )
    table = (
        "<table><tr><th>Caught</th><th>To</th><th>Subject</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No e-mails caught yet.</p>"
    )
    return _PAGE.format(
        title="Caught e-mails",
        head='<meta http-equiv="refresh" content="5">',
        body=f"<h1>Caught e-mails</h1><p>{len(rows)} e-mail(s), newest first.</p>{table}",
    )


def message_page(path: Path) -> str:
    message = read(path)
    headers = "".join(
        f"<tr><th>{name}</th><td>{html.escape(str(message[name]))}</td></tr>"
        for name in ("From", "To", "Subject", "Date", "Message-ID")
        if message[name] is not None
    )
    parts = []
    for kind, heading in (("plain", "Text"), ("html", "HTML (its source)")):
        part = message.get_body(preferencelist=(kind,))
        if isinstance(part, EmailMessage):
            # Escaped, never rendered: the page runs nothing an e-mail brings.
            parts.append(f"<h2>{heading}</h2><pre>{html.escape(part.get_content())}</pre>")
    return _PAGE.format(
        title=html.escape(str(message["Subject"] or "(no subject)")),
        head="",
        body=f"<p><a href='/'>All e-mails</a></p><table>{headers}</table>{''.join(parts)}",
    )


def http_server(directory: Path, port: int) -> ThreadingHTTPServer:
    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/messages/")
            if self.path == "/":
                self._answer(200, list_page(directory))
            elif name != self.path and _NAME.fullmatch(name) and (directory / name).is_file():
                self._answer(200, message_page(directory / name))
            else:
                self._answer(404, _PAGE.format(title="Not found", head="", body="Not found."))

        def _answer(self, status: int, page: str) -> None:
            body = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", _POLICY)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: page views are not worth a log line."""

    return ThreadingHTTPServer((HOST, port), Pages)


async def serve(smtp_port: int, http_port: int, directory: Path, now: Clock = utcnow) -> None:
    """Catch and show e-mails until SIGTERM or SIGINT; `directory` exists."""
    loop = asyncio.get_running_loop()
    catch = Catch(directory, now)
    # The hostname is given: looking up this machine's name can take seconds.
    smtp = await loop.create_server(lambda: SMTP(catch, hostname="localhost"), HOST, smtp_port)
    pages = http_server(directory, http_port)
    threading.Thread(target=pages.serve_forever, name="mailcatcher-http", daemon=True).start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    smtp_at = smtp.sockets[0].getsockname()[1]
    print(
        f"mailcatcher: SMTP on {HOST}:{smtp_at}; caught e-mails at "
        f"http://{HOST}:{pages.server_address[1]} (kept in {directory})",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        smtp.close()
        await smtp.wait_closed()
        await asyncio.to_thread(pages.shutdown)
        pages.server_close()
    print("mailcatcher: stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".cache/mail"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(serve(args.smtp_port, args.http_port, args.dir))
    except OSError as error:  # a port taken, most likely: say so without a traceback
        raise SystemExit(
            f"mailcatcher: cannot listen on {HOST} port {args.smtp_port} (SMTP) "
            f"and {args.http_port} (HTTP): {error.strerror or error}"
        ) from None


if __name__ == "__main__":
    main()
