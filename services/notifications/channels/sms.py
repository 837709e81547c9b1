"""SMS through an HTTP gateway: the interface a provider implements, and GatewayAPI's.

An SMS never carries personal data: it says there is news and where to read it after
signing in. The recipient's number is personal data too, so it never appears in an error
text here (nor does the gateway's token); the caller logs ids, counts and outcomes only.

Adding a provider is one more class with `send` and one more name in `PROVIDERS`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx


class SmsNotSent(Exception):
    """The gateway did not take the message. `permanent`: sending it again cannot help
    (a refused number, a rejected request, a wrong token); otherwise try again later."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class SmsGateway(Protocol):
    async def send(self, to: str, text: str, reference: str) -> str:
        """Hands `text` to the gateway for the phone number `to` (as the recipient gave it;
        the gateway normalises it to E.164) and returns the provider's message id.

        `reference` is the caller's id for this message (a delivery's id, never personal
        data); providers return it with their delivery reports.

        A text longer than one SMS (160 GSM-7 characters, or 70 when it needs UCS-2 because
        of a character outside GSM-7) is still sent whole: the gateway splits it into parts
        the phone joins again, each part billed as one SMS. Nothing is stripped or replaced.

        Raises SmsNotSent when the gateway did not take the message.
        """
        ...


# Phone numbers


class InvalidPhoneNumber(ValueError):
    """Not a phone number. The text says why, never what was given: it is personal data."""


DENMARK = "45"
_SEPARATORS = re.compile(r"[\s\-./()]")


def normalise_phone_number(number: str) -> str:
    """The number in E.164 (`+4512345678`), or InvalidPhoneNumber.

    Spaces, dashes, dots, slashes and brackets between the digits are ignored. A number
    with `+` or `00` in front is international; otherwise it must be a Danish number of
    eight digits, which gets +45. A longer number without `+` or `00` is refused rather
    than guessed at (is 4512345678 a Danish number with its country code, or a foreign
    one?).
    """
    compact = _SEPARATORS.sub("", number)
    international = compact.startswith(("+", "00"))
    digits = compact[1:] if compact.startswith("+") else compact.removeprefix("00")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhoneNumber("a phone number has only digits, and + or 00 in front")
    if not international:
        if len(digits) != 8:
            raise InvalidPhoneNumber(
                "a number without + or 00 and a country code must be a Danish one of 8 digits"
            )
        digits = DENMARK + digits
    if digits.startswith("0"):
        raise InvalidPhoneNumber("a country code does not start with 0")
    # E.164 allows at most 15 digits; the shortest numbers in use have 7 with the code.
    if not 7 <= len(digits) <= 15:
        raise InvalidPhoneNumber("an international number has 7 to 15 digits")
    # Country codes are prefix-free: only Denmark's starts with 45.
    if digits.startswith(DENMARK) and len(digits) != len(DENMARK) + 8:
        raise InvalidPhoneNumber("a Danish number has 8 digits after +45")
    return "+" + digits


# Settings and the factory


_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC_SENDER = re.compile(r"[0-9]{1,15}")


@dataclass(frozen=True)
class SmsSettings:
    """Which SMS gateway to use; `provider` None: SMS is not configured.

    `sender` is what the phone shows as from: up to 11 letters, digits or spaces, or a
    number of up to 15 digits (the limits of SMS itself).
    """

    provider: str | None = None
    base_url: str = ""
    """GatewayAPI: https://gatewayapi.com, or https://gatewayapi.eu for its EU platform."""
    token: str = field(default="", repr=False)
    sender: str = "Brobygger"
    timeout_seconds: float = 10.0
    """The longest one request to the gateway may take, all in all."""

    def __post_init__(self) -> None:
        if self.provider is None:
            return
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown SMS provider; known: {', '.join(sorted(PROVIDERS))}")
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("the SMS gateway's base URL must be an http(s) URL with a host")
        if not self.token:
            raise ValueError("the SMS gateway needs a token")
        if not (
            _ALPHANUMERIC_SENDER.fullmatch(self.sender) or _NUMERIC_SENDER.fullmatch(self.sender)
        ):
            raise ValueError(
                "an SMS sender is up to 11 letters, digits or spaces, or up to 15 digits"
            )
        if self.timeout_seconds <= 0:
            raise ValueError("the SMS gateway's timeout must be positive")


def sms_gateway(settings: SmsSettings) -> SmsGateway | None:
    """The configured gateway, or None when SMS is not configured."""
    if settings.provider is None:
        return None
    return PROVIDERS[settings.provider](settings)


# GatewayAPI

# GSM 03.38's default alphabet and its extension table (those count twice). A text of
# these alone goes as GSM-7; any other character makes it UCS-2, so nothing is replaced.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "\f^{}\\[~]|€"
)


def _fits_gsm7(text: str) -> bool:
    return all(character in _GSM7 for character in text)


class GatewayApi:
    """GatewayAPI's REST API: `POST {base_url}/rest/mtsms` with `Authorization: Token …`.

    Answers: 2xx with `{"ids": [...]}`; 429 (and 408) and 5xx: try again later; any other
    status is final (400 invalid request or number, 401 wrong token, 403 address not
    allowed, 422 invalid JSON). An error answer's `message` and `variables` may quote the
    request (the number), so only its status, `code` and `incident_uuid` are kept.
    """

    name = "gatewayapi"

    def __init__(self, settings: SmsSettings) -> None:
        self._url = settings.base_url.rstrip("/") + "/rest/mtsms"
        self._token = settings.token
        self._sender = settings.sender
        self._timeout = settings.timeout_seconds

    async def send(self, to: str, text: str, reference: str) -> str:
        try:
            msisdn = normalise_phone_number(to)
        except InvalidPhoneNumber as error:
            raise SmsNotSent(
                f"the recipient's number is refused: {error}", permanent=True
            ) from None
        if not text.strip():
            raise SmsNotSent("the message is empty", permanent=True)
        body = {
            "sender": self._sender,
            "message": text,
            "encoding": "UTF8" if _fits_gsm7(text) else "UCS2",
            "recipients": [{"msisdn": int(msisdn.removeprefix("+"))}],
            "userref": reference,
        }
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        try:
            # httpx's timeouts bound each phase (connect, write, read) alone; this one the whole.
            async with (
                asyncio.timeout(self._timeout),
                httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client,
            ):
                response = await client.post(self._url, json=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            raise SmsNotSent("the gateway did not answer in time", permanent=False) from None
        except httpx.HTTPError as error:
            # Only the kind: an exception's text or context could carry the request.
            raise SmsNotSent(
                f"could not reach the gateway: {type(error).__name__}", permanent=False
            ) from None
        if response.is_success:
            return _message_id(response)
        status = response.status_code
        raise SmsNotSent(
            f"the gateway answered HTTP {status}{_error_details(response)}",
            permanent=not (status in (408, 429) or status >= 500),
        )


def _message_id(response: httpx.Response) -> str:
    try:
        ids = response.json()["ids"]
        return str(ids[0])
    except (ValueError, LookupError, TypeError):
        # It took the message but did not say so properly: sending again could deliver the
        # SMS twice, so this is final.
        raise SmsNotSent(
            "the gateway accepted the message but answered without a message id",
            permanent=True,
        ) from None


# Kept only in these shapes, so that nothing quoting the request can pass.
_SAFE_DETAILS = {
    "code": re.compile(r"0x[0-9A-Fa-f]{1,8}"),
    "incident_uuid": re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"),
}


def _error_details(response: httpx.Response) -> str:
    try:
        answer: Any = response.json()
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    details = [
        f"{key} {answer[key]}"
        for key, pattern in _SAFE_DETAILS.items()
        if isinstance(answer.get(key), str) and pattern.fullmatch(answer[key])
    ]
    return f" ({', '.join(details)})" if details else ""


PROVIDERS: dict[str, Callable[[SmsSettings], SmsGateway]] = {GatewayApi.name: GatewayApi}
"""Every SMS provider by the name `SmsSettings.provider` gives."""
