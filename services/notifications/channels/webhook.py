"""Standard Webhooks: one POST, to the very address whose policy was checked.

The host is resolved once, every answer is judged by `targets`, and the connection goes to
the chosen address with the name as `Host` and as TLS server name, so that the certificate
is verified for the name and no second lookup can rebind the name in between. A total
deadline bounds resolving, connecting, sending and reading, and only so much of the answer
is read: a slow or hostile endpoint costs one attempt, never more.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from notifications.targets import InvalidWebhookUrl, check_url, pick_address

Resolve = Callable[[str, int], list[str]]
"""The addresses of a host and port, as a connection to them would find them."""

_DEFAULT_PORTS = {"https": 443, "http": 80}


def resolve_host(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class WebhookResult:
    """The endpoint's answer, or why there was none."""

    status: int | None = None
    error: str | None = None
    """What went wrong before an answer came: never a secret, nor the URL's path or query."""
    body: bytes = b""
    """The start of the answer's body, at most the cap: the partner's words, for nobody's
    logs."""

    @property
    def failure(self) -> str | None:
        """None when the endpoint answered 2xx; otherwise what went wrong."""
        if self.status is None:
            return self.error
        return None if 200 <= self.status < 300 else f"HTTP {self.status}"


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """httpx's trust store, loaded once rather than per request."""
    return httpx.create_ssl_context()


async def send_webhook(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    resolve: Resolve,
    allow_private: bool,
    deadline_seconds: float,
    max_response_bytes: int,
    tls: ssl.SSLContext | None = None,
) -> WebhookResult:
    """POST `body` to `url`; never raises for what the network or the endpoint does.

    `allow_private` (development only) admits http and targets on private addresses;
    `tls` is the trust to verify the endpoint's certificate with (httpx's by default).
    """
    try:
        async with asyncio.timeout(deadline_seconds):
            try:
                aim = await _aim(url, resolve, allow_private=allow_private)
            except InvalidWebhookUrl as error:
                return WebhookResult(error=f"refused: {error}")
            except httpx.InvalidURL:
                return WebhookResult(error="refused: the URL cannot be sent to")
            except OSError as error:
                return WebhookResult(error=f"{type(error).__name__}: {error}")
            return await _exchange(aim, body, headers, deadline_seconds, max_response_bytes, tls)
    except TimeoutError:
        return WebhookResult(error=f"TimeoutError: no answer within {deadline_seconds:g} s")


@dataclass(frozen=True)
class _Aim:
    """Where the request goes: the URL with the chosen address for its host, and the name
    the address was chosen for (None when the URL gave an address)."""

    url: httpx.URL
    name: str | None


async def _aim(url: str, resolve: Resolve, *, allow_private: bool) -> _Aim:
    # Checked again at each send: the URL may have been registered under older rules.
    check_url(url, allow_private=allow_private)
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    if _is_ip_literal(host):
        return _Aim(target, None)
    port = target.port or _DEFAULT_PORTS[target.scheme]
    addresses = await asyncio.to_thread(resolve, host, port)
    address = pick_address(host, addresses, allow_private=allow_private)
    return _Aim(target.copy_with(host=address), host)


async def _exchange(
    aim: _Aim,
    body: bytes,
    headers: Mapping[str, str],
    deadline_seconds: float,
    max_response_bytes: int,
    tls: ssl.SSLContext | None,
) -> WebhookResult:
    request_headers = dict(headers)
    extensions = {}
    if aim.name is not None:
        # The name, not the address, is what the endpoint and its certificate answer for.
        request_headers["host"] = aim.name if aim.url.port is None else f"{aim.name}:{aim.url.port}"
        extensions["sni_hostname"] = aim.name
    # One client per request: a pooled connection, verified for one name, must never carry
    # a request for another name that resolved to the same address. Redirects are not
    # followed: the spec counts a 3xx as a failure, and the target would go unchecked. The
    # environment's proxies are not used: the connection goes to the address checked.
    async with httpx.AsyncClient(
        verify=tls or _default_tls(),
        follow_redirects=False,
        trust_env=False,
        timeout=deadline_seconds,  # per phase; the caller's deadline bounds them all
    ) as client:
        try:
            async with client.stream(
                "POST", aim.url, content=body, headers=request_headers, extensions=extensions
            ) as response:
                start = await _read_at_most(response, max_response_bytes)
        except (httpx.HTTPError, OSError) as error:
            return WebhookResult(error=f"{type(error).__name__}: {error}")
    return WebhookResult(status=response.status_code, body=start)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The first `limit` bytes of the body as sent (not decompressed); the rest is never
    read, and the connection is closed with it unread."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk[: limit - len(received)]
        if len(received) >= limit:
            break
    return bytes(received)
