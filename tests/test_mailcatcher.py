"""The local mail catcher, run as `./run` runs it: a process of its own, on ports it picks,
sent to over real SMTP by the notifications e-mail sender, read over HTTP."""

from __future__ import annotations

import asyncio
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from notifications.channels.email import SmtpEmailSender, SmtpSettings

ROOT = Path(__file__).resolve().parent.parent
TO = "Karen Ølgaard <koordinator@aeldresagen.example>"
TEXT = "Hej,\n\nI har fået et nyt tilbud. Log ind i Brobygger for at læse det.\n"
HTML = "<p>Nyt tilbud</p><script>alert('kørt')</script>"


def catcher_command(smtp_port: int, directory: Path) -> list[str]:
    """The mail catcher as `./run` starts it, on `smtp_port` and a free HTTP port."""
    smtp, http = ["--smtp-port", str(smtp_port)], ["--http-port", "0"]
    return [sys.executable, "-m", "tools.mailcatcher", *smtp, *http, "--dir", str(directory)]


@dataclass
class Catcher:
    process: subprocess.Popen[str]
    directory: Path
    smtp_port: int = 0
    url: str = ""
    printed: queue.Queue[str] = field(default_factory=queue.Queue)
    reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.printed.put(line)

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def next_line(self, seconds: float = 30) -> str:
        """The next line the catcher prints, waited for up to `seconds`."""
        try:
            return self.printed.get(timeout=seconds)
        except queue.Empty:
            raise AssertionError(f"the mail catcher printed nothing in {seconds} s") from None

    def rest(self) -> str:
        """All it printed still unread, once it has exited."""
        assert self.reader is not None
        self.reader.join(timeout=30)
        lines = []
        while not self.printed.empty():
            lines.append(self.printed.get_nowait())
        return "".join(lines)

    async def send(self, subject: str, delivery: str = "delivery-1") -> None:
        settings = SmtpSettings(host="127.0.0.1", port=self.smtp_port, sender="brobygger@localhost")
        await SmtpEmailSender(settings).send(TO, subject, TEXT, HTML, delivery)


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[Catcher]:
    directory = tmp_path / "mail"
    process = subprocess.Popen(
        catcher_command(0, directory),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
    )
    catcher = Catcher(process, directory)
    catcher.start_reading()
    try:
        started = catcher.next_line()  # printed once both servers listen
        listening = re.search(r"SMTP on 127\.0\.0\.1:(\d+); caught e-mails at (\S+) ", started)
        assert listening, started
        catcher.smtp_port, catcher.url = int(listening[1]), listening[2]
        yield catcher
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def test_the_catcher_keeps_an_email_sent_to_it_and_its_page_lists_and_shows_it(
    catcher: Catcher, client: httpx.AsyncClient
) -> None:
    await catcher.send("Nyt tilbud: gåtur på Nørrebro")

    [stored] = list(catcher.directory.glob("*.eml"))
    assert b"Message-ID: <delivery-1@localhost>" in stored.read_bytes()
    listing = await client.get(catcher.url + "/")
    assert listing.status_code == 200
    assert listing.headers["content-type"] == "text/html; charset=utf-8"
    assert "Nyt tilbud: gåtur på Nørrebro" in listing.text
    assert "Karen Ølgaard &lt;koordinator@aeldresagen.example&gt;" in listing.text
    assert f"href='/messages/{stored.name}'" in listing.text
    shown = await client.get(f"{catcher.url}/messages/{stored.name}")
    assert shown.status_code == 200
    assert "I har fået et nyt tilbud. Log ind i Brobygger for at læse det." in shown.text
    assert "&lt;p&gt;Nyt tilbud&lt;/p&gt;&lt;script&gt;alert(&#x27;kørt&#x27;)" in shown.text
    assert "<script>" not in shown.text
    assert shown.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_page_lists_the_newest_email_first(
    catcher: Catcher, client: httpx.AsyncClient
) -> None:
    await catcher.send("Det første", delivery="delivery-1")
    await catcher.send("Det andet", delivery="delivery-2")

    listing = (await client.get(catcher.url + "/")).text
    assert "2 e-mail(s)" in listing
    assert listing.index("Det andet") < listing.index("Det første")


async def raw_get(url: str, path: str) -> str:
    """The answer to a GET of `path` exactly as given: an HTTP client would tidy up `..`."""
    address = httpx.URL(url)
    assert address.port is not None
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/messages/20261122-093000-000000-0123abcd.eml",  # well formed, never caught
        "/messages/" + "../" * 30 + "etc/passwd",
        "/messages/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    ],
)
async def test_the_page_answers_404_for_anything_but_a_caught_email(
    catcher: Catcher, path: str
) -> None:
    await catcher.send("Nyt tilbud")

    answer = await raw_get(catcher.url, path)

    assert answer.startswith("HTTP/1.0 404 ")
    assert "root:" not in answer


async def test_the_catcher_stops_cleanly_on_sigterm_having_printed_no_address(
    catcher: Catcher,
) -> None:
    await catcher.send("Nyt tilbud")
    caught = catcher.next_line()

    catcher.process.send_signal(signal.SIGTERM)

    assert catcher.process.wait(timeout=30) == 0
    printed = caught + catcher.rest()
    assert "caught an e-mail to 1 address(es)" in caught
    assert "mailcatcher: stopped" in printed
    assert "koordinator" not in printed
    assert "Ølgaard" not in printed


def test_a_taken_port_ends_the_catcher_with_a_message_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        exited = subprocess.run(
            catcher_command(port, tmp_path),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert exited.returncode == 1
    assert f"mailcatcher: cannot listen on 127.0.0.1 port {port} (SMTP)" in exited.stderr
    assert "Traceback" not in exited.stderr
