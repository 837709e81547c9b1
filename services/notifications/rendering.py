"""The texts of notifications: Jinja2 templates per message kind, channel and language,
rendered for each recipient at send time in the recipient's language.

A template is `templates/<kind>/<channel>.<language>.j2`; the digest's is
`templates/digest/email.<language>.j2`. Every template is text, written as paragraphs
separated by blank lines; the lines of one paragraph are joined with a space, so that a
template can be wrapped and can phrase a sentence conditionally. `link(text, url)` marks a
link. An e-mail template's first paragraph is the subject; from the rest come both parts of
the e-mail: the text part as written (a link as `text <url>`, the delimiting of RFC 3986,
appendix C) and the HTML part (each paragraph escaped, a link as an anchor).

Field values go into the text as they are and are escaped in the HTML. They can never make a
link: the marks of one are stripped from every value, so a pool's name cannot smuggle a link
into an e-mail to every partner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from html import escape
from types import MappingProxyType
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, Undefined

from notifications.domain import CITY_TIME, Language

INBOX = "inbox"
EMAIL = "email"
SMS = "sms"
_EVERY_CHANNEL = (INBOX, EMAIL, SMS)

KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "referral_offered": _EVERY_CHANNEL,
        "offer_withdrawn": _EVERY_CHANNEL,
        "offer_expired": _EVERY_CHANNEL,
        "referral_escalated": _EVERY_CHANNEL,
        "pool_opened": _EVERY_CHANNEL,
        "deletion_requested": _EVERY_CHANNEL,
        "follow_up_due": _EVERY_CHANNEL,
        "follow_up_overdue": _EVERY_CHANNEL,
        "follow_up_escalated": _EVERY_CHANNEL,
        "volunteer_named": _EVERY_CHANNEL,
        "webhook_disabled": _EVERY_CHANNEL,
        "grant_decided": _EVERY_CHANNEL,
        "grant_report_overdue": _EVERY_CHANNEL,
    }
)
"""Each kind of message and the channels it has templates for, in every language."""

DIGEST = "digest"


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    """An e-mail's subject; None for the inbox and SMS."""
    text: str
    html: str | None
    """An e-mail's HTML part, the same words as `text`; None for the inbox and SMS."""


@dataclass(frozen=True)
class DigestItem:
    """One message in a digest: its e-mail subject and where to read it."""

    subject: str
    url: str


class TemplateMissing(LookupError):
    def __init__(self, kind: str, channel: str, language: Language) -> None:
        super().__init__(f"no {channel} template for {kind!r} in language {language.value!r}")


class RenderingFailed(Exception):
    """A template could not be rendered with the fields given. The text names the template,
    never a field's value; the cause says what was wrong."""


def render(kind: str, channel: str, language: Language, /, **fields: object) -> Rendered:
    """The message of `kind` for `channel`, in `language`, from the event's `fields`."""
    language = Language(language)
    if channel not in KINDS.get(kind, ()):
        raise TemplateMissing(kind, channel, language)
    text = _render(kind, channel, language, fields)
    if channel == EMAIL:
        return _email(language, text, f"{channel} template for {kind!r}")
    return Rendered(None, _as_text(text), None)


def render_digest(language: Language, items: Sequence[DigestItem]) -> Rendered:
    """One e-mail listing several messages, each by its subject and a link to it."""
    language = Language(language)
    if not items:
        raise ValueError("a digest needs at least one message")
    text = _render(DIGEST, EMAIL, language, {"items": list(items)})
    return _email(language, text, "digest template")


# --- Formats: Copenhagen's clock, each language's way of writing dates and numbers ------------

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def when(moment: datetime | date, language: Language) -> str:
    """A time on Copenhagen's clock (or a day) as the language writes it:
    `20.12.2026 kl. 10:00`, `2026-12-20 10:00`, `20 December 2026, 10:00`."""
    if not isinstance(moment, datetime):
        return _day(moment, language)
    if moment.tzinfo is None:
        raise ValueError("a time to show must be timezone-aware")
    local = moment.astimezone(CITY_TIME)
    day, clock = _day(local.date(), language), f"{local:%H:%M}"
    if language is Language.DA:
        return f"{day} kl. {clock}"
    if language is Language.SV:
        return f"{day} {clock}"
    return f"{day}, {clock}"


def _day(day: date, language: Language) -> str:
    if language is Language.DA:
        return f"{day:%d.%m.%Y}"
    if language is Language.SV:
        return day.isoformat()
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


_SEPARATORS: Mapping[Language, dict[int, str]] = {
    Language.DA: str.maketrans({",": ".", ".": ","}),
    # A no-break space, so that a number is never split over two lines.
    Language.SV: str.maketrans({",": "\N{NO-BREAK SPACE}", ".": ","}),
    Language.EN: {},
}


def number(value: int | float | Decimal, language: Language, *, decimals: int | None = None) -> str:
    """Thousands grouped and the decimal mark as the language writes them:
    `1.234.567,5`, `1 234 567,5`, `1,234,567.5`. `decimals` fixes the digits after the mark."""
    if isinstance(value, bool):  # a bool is an int to Python, and never a number to show
        raise TypeError("a number to show must be a number, not a bool")
    written = f"{value:,}" if decimals is None else f"{value:,.{decimals}f}"
    return written.translate(_SEPARATORS[language])


def kroner(amount: int | float | Decimal, language: Language) -> str:
    """An amount in Danish kroner, øre only when there are any:
    `1.234.567 kr.`, `1 234 567 kr`, `DKK 1,234,567`."""
    written = number(amount, language, decimals=None if amount == int(amount) else 2)
    if language is Language.DA:
        return f"{written} kr."
    if language is Language.SV:
        return f"{written} kr"
    return f"DKK {written}"


def named(codes: Iterable[str], vocabulary: Mapping[str, str]) -> list[str]:
    """Codes in words: each once, those the vocabulary knows in its order (so that the same
    codes always read the same), then any it does not know, as they are."""
    given = dict.fromkeys(codes)
    known = [words for code, words in vocabulary.items() if code in given]
    return known + [code for code in given if code not in vocabulary]


# --- Links and paragraphs --------------------------------------------------------------------

# Control characters no template or value has reason to contain: a link's marks.
_OPEN, _SPLIT, _CLOSE = "\x02", "\x1f", "\x03"
_UNMARK = str.maketrans("", "", _OPEN + _SPLIT + _CLOSE)
_LINK = re.compile(f"{_OPEN}([^{_SPLIT}]*){_SPLIT}([^{_CLOSE}]*){_CLOSE}")


class _Link(str):
    """A link as `link()` marked it: the one kind of value whose marks are kept."""


def _link(text: object, url: object) -> _Link:
    target = str(url).translate(_UNMARK)
    parts = urlsplit(target)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("a link must be an absolute http(s) URL")
    return _Link(f"{_OPEN}{str(text).translate(_UNMARK)}{_SPLIT}{target}{_CLOSE}")


def _finalize(value: object) -> object:
    """Every `{{ … }}` passes here: only a link keeps the marks of one."""
    return value if isinstance(value, _Link) else str(value).translate(_UNMARK)


def _paragraphs(rendered: str) -> list[str]:
    blocks = re.split(r"\n[ \t]*\n", rendered.strip())
    # Not str.split(): that would also break a number's no-break spaces.
    joined = (re.sub(r"[ \t\r\n]+", " ", block).strip() for block in blocks)
    return [paragraph for paragraph in joined if paragraph]


def _as_text(paragraphs: Sequence[str]) -> str:
    return "\n\n".join(_LINK.sub(r"\1 <\2>", paragraph) for paragraph in paragraphs)


def _as_html(paragraph: str) -> str:
    out: list[str] = []
    start = 0
    for link in _LINK.finditer(paragraph):
        out.append(escape(paragraph[start : link.start()]))
        out.append(f'<a href="{escape(link[2])}">{escape(link[1])}</a>')
        start = link.end()
    out.append(escape(paragraph[start:]))
    return "".join(out)


def _email(language: Language, paragraphs: Sequence[str], template: str) -> Rendered:
    if len(paragraphs) < 2:
        raise RenderingFailed(f"the {template} gave no subject and body")
    subject, body = _as_text(paragraphs[:1]), paragraphs[1:]
    html_body = "\n".join(f"<p>{_as_html(paragraph)}</p>" for paragraph in body)
    html = (
        f'<!DOCTYPE html>\n<html lang="{language.value}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(subject)}</title>\n</head>\n<body>\n{html_body}\n</body>\n</html>\n"
    )
    return Rendered(subject, _as_text(body), html)


# --- The environment -------------------------------------------------------------------------


@cache
def environment(language: Language) -> Environment:
    """The templates of one language, with filters that write as that language does. Made
    once: the templates are read when first used, and kept."""
    jinja = Environment(
        loader=PackageLoader("notifications", "templates"),
        undefined=StrictUndefined,
        # Templates make text; the HTML part is escaped here, paragraph by paragraph.
        autoescape=False,  # noqa: S701
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
    )
    jinja.filters.update(
        when=_in_language(when, language),
        number=_in_language(number, language),
        kroner=_in_language(kroner, language),
        named=named,
    )
    jinja.globals["link"] = _link
    return jinja


def _in_language(format_value: Callable[..., str], language: Language) -> Callable[..., str]:
    """A format as a filter of the language's templates."""

    def apply(value: object, **options: object) -> str:
        if isinstance(value, Undefined):
            # A missing field fails as a missing field, not as whatever the format makes of it:
            # a StrictUndefined raises UndefinedError as soon as it is made a string.
            str(value)
        return format_value(value, language, **options)

    return apply


def template_name(kind: str, channel: str, language: Language) -> str:
    return f"{kind}/{channel}.{language.value}.j2"


def _render(kind: str, channel: str, language: Language, fields: Mapping[str, object]) -> list[str]:
    try:
        template = environment(language).get_template(template_name(kind, channel, language))
    except TemplateNotFound as missing:
        raise TemplateMissing(kind, channel, language) from missing
    try:
        return _paragraphs(template.render(fields))
    except Exception as error:
        # The cause's text may quote a value; this one only names the template.
        raise RenderingFailed(
            f"the {channel} template for {kind!r} in language {language.value!r} failed: "
            f"{type(error).__name__}"
        ) from error
