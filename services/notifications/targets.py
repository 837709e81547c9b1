"""Where a webhook may be sent: rules only, no I/O.

A partner names its endpoint, and nobody may use that to make this service call into the
network it runs in (Standard Webhooks, "Server side request forgery"). Outside development
only https to a host whose every address is public is called, and the sender connects to
the very address judged here (`pick_address`), never to the answer of a second lookup.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address


class InvalidWebhookUrl(ValueError):
    """A webhook target refused: for its URL, or for what its host resolves to."""


# IANA's special-purpose blocks that are not reachable on the internet or are no partner's
# to have (documentation, benchmarking), and multicast. Kept here rather than trusting
# `ipaddress.is_global`, whose view differs between Python releases.
_NOT_PUBLIC_V4 = tuple(
    IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, where clouds answer with their metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast, deprecated
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address 255.255.255.255
    )
)

# Only global unicast is on the internet: loopback, unspecified, unique local, link-local,
# site-local, multicast, discard-only and SRv6 blocks all lie outside it.
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NOT_PUBLIC_V6 = tuple(
    IPv6Network(block)
    for block in (
        "2001::/23",  # IETF protocol assignments, benchmarking among them (Teredo: below)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)

# IPv6 forms through which a connection reaches the IPv4 address they embed: each is as
# public as what it embeds.
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")
# IPv4-compatible (`::/96`, deprecated), IPv4-translated (`::ffff:0:0:0/96`) and the
# local-use NAT64 prefix (`64:ff9b:1::/48`, where the IPv4 address may sit at several
# places) are never a partner's public endpoint: outside global unicast, they are refused
# whatever they embed.


def is_public(address: str | IPAddress) -> bool:
    """Whether `address` is on the public internet; anything in doubt is not."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, IPv4Address):
        return ip.is_global and not any(ip in block for block in _NOT_PUBLIC_V4)
    embedded = _embedded_ipv4(ip)
    if embedded:
        return all(is_public(inner) for inner in embedded)
    return (
        ip in _GLOBAL_UNICAST and ip.is_global and not any(ip in block for block in _NOT_PUBLIC_V6)
    )


def _embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses a connection to `address` ends up at, if it is a form that
    embeds them: IPv4-mapped, NAT64, 6to4, or Teredo (its server and its client)."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (IPv4Address(int(address) & 0xFFFFFFFF),)
    if address in _SIX_TO_FOUR:
        assert address.sixtofour is not None, "every 2002::/16 address embeds one"
        return (address.sixtofour,)
    if address in _TEREDO:
        assert address.teredo is not None, "every 2001::/32 address embeds two"
        return address.teredo
    return ()


# A host name as DNS has it: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook URL that is not https (or, in development, http), that carries a
    user name or password, or whose host is neither a host name nor an address literal;
    and, unless `allow_private`, one whose host is this machine, a single-label name (the
    local network's), or an address literal that is not public.

    What a name resolves to is judged before each send, with `pick_address`.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parsing it refuses what is not a port)
    except ValueError as error:
        raise InvalidWebhookUrl("a webhook URL must be a well-formed URL") from error
    schemes = ("http", "https") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise InvalidWebhookUrl(f"a webhook URL must be {' or '.join(schemes)}")
    if not parts.hostname:
        raise InvalidWebhookUrl("a webhook URL must name a host")
    if "@" in parts.netloc:
        raise InvalidWebhookUrl("a webhook URL may not carry a user name or password")
    host = parts.hostname.rstrip(".")
    literal = _ip_literal(host, bracketed="[" in parts.netloc)
    if literal is None and not _HOST_NAME.fullmatch(host):
        raise InvalidWebhookUrl("a webhook URL's host must be a host name or an IP address")
    if allow_private:
        return
    if literal is not None:
        if not is_public(literal):
            raise InvalidWebhookUrl(
                f"a webhook URL may not point at a private, loopback or link-local address ({host})"
            )
    elif host == "localhost" or host.endswith(".localhost"):
        raise InvalidWebhookUrl("a webhook URL may not point at this machine")
    elif "." not in host:
        raise InvalidWebhookUrl("a webhook URL's host must be a fully qualified name")


def _ip_literal(host: str, *, bracketed: bool) -> IPAddress | None:
    """The address `host` is written as, if it is one; `[...]` holds only IPv6 here."""
    if bracketed:
        try:
            return IPv6Address(host)
        except ValueError as error:
            raise InvalidWebhookUrl("a webhook URL's [...] host must be an IPv6 address") from error
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(host):
        return None  # `inet_aton` would forgive what follows a space
    try:
        # Shorthands such as `127.1` or `2130706433` that resolvers accept as IPv4.
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def pick_address(host: str, addresses: Sequence[str], *, allow_private: bool) -> str:
    """The address to connect to for `host`, from what it resolved to, in the resolver's
    order of preference. Unless `allow_private`, every answer must be public: a name can
    mix a public answer with a private one, and which one a connection uses is not ours to
    predict."""
    if not addresses:
        raise InvalidWebhookUrl(f"{host} resolves to no address")
    for address in addresses:
        if not allow_private and not is_public(address):
            raise InvalidWebhookUrl(f"{host} resolves to a private address {address}")
    try:
        return str(ipaddress.ip_address(addresses[0]))
    except ValueError as error:
        raise InvalidWebhookUrl(f"{host} resolves to something that is not an address") from error
