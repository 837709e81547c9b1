"""The templates of notifications: every kind, channel and language, rendered with sample
fields; the formats of times and numbers; what an e-mail and an SMS may say."""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from itertools import product
from pathlib import Path
from typing import get_args

import pytest
from jinja2 import UndefinedError, meta

from contracts import ApplicationDecided
from contracts.referrals import (
    EscalationReason,
    FollowUpPart,
    TimeOfDay,
    WithdrawalReason,
)
from notifications import rendering
from notifications.domain import DeletionCause, Language
from notifications.rendering import (
    EMAIL,
    INBOX,
    KINDS,
    SMS,
    DigestItem,
    RenderingFailed,
    TemplateMissing,
    environment,
    kroner,
    named,
    number,
    render,
    render_digest,
    template_name,
    when,
)

URL = "https://brobygger.example.dk/beskeder/7c9e6679-7425-40de-944b-e07fc1f90ae7"
REFERRAL_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
APPLICATION_ID = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
WINTER = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen (CET)

# What each kind's templates may use: the fields the caller gives them. None of the values
# is personal data: what a template shows of them is all it can show.
SAMPLES: Mapping[str, Mapping[str, object]] = {
    "referral_offered": {
        "age_band": "75-79",
        "district": "Nørrebro",
        "interests": ["walking", "chess"],
        "expires": WINTER,
        "url": URL,
    },
    "offer_withdrawn": {"referral_id": REFERRAL_ID, "reason": "cancelled", "url": URL},
    "offer_expired": {"referral_id": REFERRAL_ID, "expired": WINTER, "url": URL},
    "referral_escalated": {
        "referral_id": REFERRAL_ID,
        "district": "Nørrebro",
        "reason": "no_match",
        "interests": ["walking", "petanque"],
        "url": URL,
    },
    "pool_opened": {
        "name": "Fællesskaber 2027",
        "budget_dkk": 1234567,
        "opens_on": date(2027, 1, 4),
        "closes_on": date(2027, 1, 31),
        "criteria": "Nye fællesskaber for ensomme ældre.",
        "url": URL,
    },
    "deletion_requested": {"referral_id": REFERRAL_ID, "cause": "consent_withdrawn", "url": URL},
    "follow_up_due": {
        "referral_id": REFERRAL_ID,
        "follow_up": 2,
        "due": WINTER,
        "path": f"/partner/referrals/{REFERRAL_ID}/follow-ups/2",
        "url": URL,
    },
    "follow_up_overdue": {
        "referral_id": REFERRAL_ID,
        "follow_up": 2,
        "due": WINTER,
        "path": f"/partner/referrals/{REFERRAL_ID}/follow-ups/2",
        "url": URL,
    },
    "follow_up_escalated": {
        "referral_id": REFERRAL_ID,
        "follow_up": 2,
        "due": WINTER,
        "district": "Nørrebro",
        "waiting_for": ["participation", "wellbeing"],
        "url": URL,
    },
    "volunteer_named": {
        "district": "Nørrebro",
        "preferred_times": ["morning"],
        "needs_accompaniment": True,
        "url": URL,
    },
    "webhook_disabled": {
        "organization": "Ældre Sagen Nørrebro",
        "failing_since": WINTER,
        "url": URL,
    },
    "grant_decided": {
        "pool_name": "Fællesskaber 2027",
        "outcome": "partly_approved",
        "amount_dkk": 1234567,
        "reasons": "Et stærkt projekt; budgettet til forplejning er sat ned.",
        "url": URL,
    },
    "grant_report_overdue": {
        "pool_name": "Fællesskaber 2027",
        "due_on": date(2027, 6, 1),
        "path": f"/applications/{APPLICATION_ID}/report",
        "url": URL,
    },
}

# What an e-mail or SMS never says: what the citizen is like, and which referral it is. They say
# what happened and link to where the recipient reads the rest after signing in.
BEHIND_SIGN_IN = {
    "age_band",
    "district",
    "interests",
    "preferred_times",
    "needs_accompaniment",
    "referral_id",
    "path",
}

TEMPLATES = Path(rendering.__file__).parent / "templates"
LANGUAGES = list(Language)
EVERY_TEMPLATE = [
    (kind, channel, language)
    for kind, channels in KINDS.items()
    for channel, language in product(channels, LANGUAGES)
]
EMAILS = [(kind, language) for kind, channel, language in EVERY_TEMPLATE if channel == EMAIL]

# GSM 03.38's basic character set: an SMS of these alone fits 160 characters in one message.
GSM_7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def _variables(kind: str, channel: str, language: Language) -> set[str]:
    """The names a template takes from its fields (not those it sets or imports itself)."""
    jinja = environment(language)
    assert jinja.loader is not None
    source, _, _ = jinja.loader.get_source(jinja, template_name(kind, channel, language))
    return meta.find_undeclared_variables(jinja.parse(source)) - set(jinja.globals)


class _Html(HTMLParser):
    """The words shown in an HTML body, and where its links go."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.words: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_body = self.in_body or tag == "body"
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")

    def handle_data(self, data: str) -> None:
        if self.in_body:
            self.words += re.findall(r"\w+", data)


def _read_html(html: str) -> _Html:
    parser = _Html()
    parser.feed(html)
    parser.close()
    return parser


def _text_words_and_urls(text: str) -> tuple[list[str], list[str]]:
    urls = re.findall(r"<(https?://[^>]+)>", text)
    return re.findall(r"\w+", re.sub(r"<https?://[^>]+>", "", text)), urls


def test_every_kind_has_all_three_languages_for_each_of_its_channels_and_nothing_else() -> None:
    expected = {
        template_name(kind, channel, language) for kind, channel, language in EVERY_TEMPLATE
    }
    expected |= {template_name("digest", EMAIL, language) for language in LANGUAGES}
    expected |= {f"_{part}.{language}.j2" for part in ("words", "footer") for language in LANGUAGES}
    found = {path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.j2")}
    assert found == expected


def test_every_kind_reaches_people_on_every_channel() -> None:
    assert dict(KINDS) == dict.fromkeys(
        [
            "referral_offered",
            "offer_withdrawn",
            "offer_expired",
            "referral_escalated",
            "pool_opened",
            "deletion_requested",
            "follow_up_due",
            "follow_up_overdue",
            "follow_up_escalated",
            "volunteer_named",
            "webhook_disabled",
            "grant_decided",
            "grant_report_overdue",
        ],
        (INBOX, EMAIL, SMS),
    )


@pytest.mark.parametrize(("kind", "channel", "language"), EVERY_TEMPLATE)
def test_every_template_renders_with_its_kinds_sample_fields(
    kind: str, channel: str, language: Language
) -> None:
    rendered = render(kind, channel, language, **SAMPLES[kind])
    assert rendered.text.strip()
    if channel == EMAIL:
        assert rendered.subject
        assert "\n" not in rendered.subject
        assert rendered.html is not None
        assert f'<html lang="{language}">' in rendered.html
        assert URL in rendered.text
    else:
        assert rendered.subject is None
        assert rendered.html is None


@pytest.mark.parametrize(("kind", "channel", "language"), EVERY_TEMPLATE)
def test_a_template_uses_only_the_fields_its_kind_is_given(
    kind: str, channel: str, language: Language
) -> None:
    # Every branch counts, not only the one the sample takes: no personal data can reach a
    # text through a field the caller did not mean for it.
    assert _variables(kind, channel, language) <= set(SAMPLES[kind])


def test_the_digest_uses_only_its_items() -> None:
    for language in LANGUAGES:
        assert _variables("digest", EMAIL, language) == {"items"}


@pytest.mark.parametrize(("kind", "channel", "language"), EVERY_TEMPLATE)
def test_a_field_missing_fails_the_rendering_naming_the_template(
    kind: str, channel: str, language: Language
) -> None:
    for field in _variables(kind, channel, language):
        fields = {name: value for name, value in SAMPLES[kind].items() if name != field}
        with pytest.raises(RenderingFailed) as failed:
            render(kind, channel, language, **fields)
        assert isinstance(failed.value.__cause__, UndefinedError)
        assert kind in str(failed.value)
        assert channel in str(failed.value)
        assert f"'{language}'" in str(failed.value)


@pytest.mark.parametrize(("kind", "channel", "language"), EVERY_TEMPLATE)
def test_an_e_mail_or_sms_says_nothing_of_the_citizen_nor_which_referral(
    kind: str, channel: str, language: Language
) -> None:
    if channel == INBOX:
        return
    assert not _variables(kind, channel, language) & BEHIND_SIGN_IN
    rendered = render(kind, channel, language, **SAMPLES[kind])
    for shown in (rendered.subject or "", rendered.text, rendered.html or ""):
        assert REFERRAL_ID not in shown
        assert "75-79" not in shown


@pytest.mark.parametrize(("kind", "language"), EMAILS)
def test_an_e_mails_text_and_html_parts_say_the_same_words(kind: str, language: Language) -> None:
    rendered = render(kind, EMAIL, language, **SAMPLES[kind])
    assert rendered.html is not None
    html = _read_html(rendered.html)
    words, urls = _text_words_and_urls(rendered.text)
    assert html.words == words
    assert html.hrefs == urls == [URL]


def test_the_html_part_escapes_what_a_field_brings() -> None:
    fields = {**SAMPLES["pool_opened"], "name": '<b>Puljen</b> & "Co"'}
    rendered = render("pool_opened", EMAIL, Language.DA, **fields)
    assert rendered.html is not None
    assert "&lt;b&gt;Puljen&lt;/b&gt; &amp; &quot;Co&quot;" in rendered.html
    assert "<b>" not in rendered.html
    assert '<b>Puljen</b> & "Co"' in rendered.text
    assert rendered.subject == 'Ny pulje: <b>Puljen</b> & "Co"'
    assert (
        "<title>Ny pulje: &lt;b&gt;Puljen&lt;/b&gt; &amp; &quot;Co&quot;</title>" in rendered.html
    )


def test_a_links_address_is_escaped_in_the_html_part() -> None:
    url = 'https://brobygger.example.dk/beskeder?a=1&b="2"'
    rendered = render(
        "offer_expired", EMAIL, Language.DA, **{**SAMPLES["offer_expired"], "url": url}
    )
    assert rendered.html is not None
    assert (
        '<a href="https://brobygger.example.dk/beskeder?a=1&amp;b=&quot;2&quot;">' in rendered.html
    )
    assert _read_html(rendered.html).hrefs == [url]


def test_a_field_cannot_make_a_link() -> None:
    # Neither markdown nor the marks the renderer itself gives a link make one from a value.
    for name in ("[Læs her](https://evil.example/)", "\x02Læs her\x1fhttps://evil.example/\x03"):
        rendered = render(
            "pool_opened", EMAIL, Language.DA, **{**SAMPLES["pool_opened"], "name": name}
        )
        assert rendered.html is not None
        assert _read_html(rendered.html).hrefs == [URL]
        assert "<https://evil.example/>" not in rendered.text


def test_a_link_must_be_an_absolute_http_url() -> None:
    for url in ("javascript:alert(1)", "/partner/referrals", "https:nowhere"):
        with pytest.raises(RenderingFailed) as failed:
            render("offer_expired", EMAIL, Language.EN, **{**SAMPLES["offer_expired"], "url": url})
        assert isinstance(failed.value.__cause__, ValueError)


def test_a_missing_template_is_named_by_kind_channel_and_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(TemplateMissing, match=r"no fax template for 'referral_offered' in .*'sv'"):
        render("referral_offered", "fax", Language.SV, **SAMPLES["referral_offered"])
    with pytest.raises(TemplateMissing, match=r"no inbox template for 'no_such_kind' in .*'en'"):
        render("no_such_kind", INBOX, Language.EN)
    # Declared, but no file: the loader's miss is told the same way.
    monkeypatch.setattr(rendering, "KINDS", {**KINDS, "no_such_kind": (INBOX,)})
    with pytest.raises(TemplateMissing, match=r"no inbox template for 'no_such_kind' in .*'da'"):
        render("no_such_kind", INBOX, Language.DA)


def test_the_inbox_text_joins_a_templates_lines_into_one_paragraph() -> None:
    rendered = render("referral_offered", INBOX, Language.DA, **SAMPLES["referral_offered"])
    assert rendered.text == (
        "Ny henvisning: en borger (75-79 år, Nørrebro) med interesse for gåture, skak søger et "
        "fællesskab. Svar inden 20.12.2026 kl. 10:00."
    )


def test_an_e_mails_text_part_is_paragraphs_and_a_link_in_angle_brackets() -> None:
    rendered = render("offer_expired", EMAIL, Language.EN, **SAMPLES["offer_expired"])
    assert rendered.subject == "An offered referral has lapsed"
    paragraphs = rendered.text.split("\n\n")
    assert paragraphs[0] == (
        "Brobygger offered you a referral, but the offer lapsed unanswered on 20 December 2026, "
        "10:00. The referral moves on to another community, and you can no longer accept it."
    )
    assert paragraphs[1] == f"See the referral <{URL}>"
    assert rendered.html is not None
    assert f'<p><a href="{URL}">See the referral</a></p>' in rendered.html


@pytest.mark.parametrize(
    ("kind", "language"), [(k, lang) for k, c, lang in EVERY_TEMPLATE if c == SMS]
)
def test_an_sms_is_one_message_of_gsm_characters_with_the_link(
    kind: str, language: Language
) -> None:
    text = render(kind, SMS, language, **SAMPLES[kind]).text
    assert len(text) <= 160
    assert set(text) <= GSM_7, set(text) - GSM_7
    assert text.endswith(URL)
    assert "\n" not in text


def test_times_are_copenhagen_wall_time_as_each_language_writes_them() -> None:
    assert when(WINTER, Language.DA) == "20.12.2026 kl. 10:00"
    assert when(WINTER, Language.SV) == "2026-12-20 10:00"
    assert when(WINTER, Language.EN) == "20 December 2026, 10:00"
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # past midnight in Copenhagen (CEST)
    assert when(summer, Language.DA) == "02.07.2026 kl. 00:30"
    assert when(summer, Language.EN) == "2 July 2026, 00:30"


def test_a_day_is_written_without_a_time() -> None:
    assert when(date(2027, 1, 4), Language.DA) == "04.01.2027"
    assert when(date(2027, 1, 4), Language.SV) == "2027-01-04"
    assert when(date(2027, 1, 4), Language.EN) == "4 January 2027"


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        when(datetime(2026, 12, 20, 10, 0), Language.DA)


def test_numbers_are_grouped_and_marked_as_each_language_writes_them() -> None:
    assert number(1234567.5, Language.DA) == "1.234.567,5"
    assert number(1234567.5, Language.SV) == "1\N{NO-BREAK SPACE}234\N{NO-BREAK SPACE}567,5"
    assert number(1234567.5, Language.EN) == "1,234,567.5"
    assert number(1234567, Language.DA) == "1.234.567"
    assert number(Decimal("0.5"), Language.DA, decimals=2) == "0,50"
    with pytest.raises(TypeError):
        number(True, Language.DA)


def test_kroner_show_ore_only_when_there_are_any() -> None:
    assert kroner(1234567, Language.DA) == "1.234.567 kr."
    assert kroner(Decimal("1234.5"), Language.DA) == "1.234,50 kr."
    assert kroner(1234567, Language.SV) == "1\N{NO-BREAK SPACE}234\N{NO-BREAK SPACE}567 kr"
    assert kroner(1234567, Language.EN) == "DKK 1,234,567"


def test_a_danish_e_mail_shows_danish_times_days_and_amounts() -> None:
    rendered = render("pool_opened", EMAIL, Language.DA, **SAMPLES["pool_opened"])
    assert "i alt 1.234.567 kr. at uddele" in rendered.text
    assert "fra 04.01.2027 til og med 31.01.2027" in rendered.text
    offered = render("referral_offered", EMAIL, Language.DA, **SAMPLES["referral_offered"])
    assert offered.subject == "Ny henvisning til jer \N{EN DASH} svar inden 20.12.2026 kl. 10:00"


def test_codes_are_named_once_in_the_vocabularys_order_and_unknown_ones_kept() -> None:
    vocabulary = {"walking": "gåture", "chess": "skak"}
    assert named(["chess", "petanque", "walking", "chess"], vocabulary) == [
        "gåture",
        "skak",
        "petanque",
    ]


def test_what_a_follow_up_misses_reads_the_same_whatever_the_events_order() -> None:
    fields = SAMPLES["follow_up_escalated"]
    first = render("follow_up_escalated", INBOX, Language.DA, **fields)
    again = render(
        "follow_up_escalated",
        INBOX,
        Language.DA,
        **{**fields, "waiting_for": ["wellbeing", "participation"]},
    )
    assert first == again
    assert (
        "Mangler: partnerens besked om, hvorvidt borgeren deltager og omsorgssystemets svar om "
        "borgerens trivsel." in first.text
    )


# Every code an event can carry, in the field that carries it, and the other values that
# change what a text says.
VARIANTS = [
    ("offer_withdrawn", "reason", list(get_args(WithdrawalReason))),
    ("referral_escalated", "reason", list(get_args(EscalationReason))),
    ("deletion_requested", "cause", [cause.value for cause in DeletionCause]),
    ("follow_up_escalated", "waiting_for", [[part] for part in get_args(FollowUpPart)]),
    ("volunteer_named", "preferred_times", [[time] for time in get_args(TimeOfDay)] + [[]]),
    ("volunteer_named", "needs_accompaniment", [True, False]),
    ("referral_offered", "interests", [["walking"], []]),
    ("referral_escalated", "interests", [["walking"], []]),
    (
        "grant_decided",
        "outcome",
        list(get_args(ApplicationDecided.model_fields["outcome"].annotation)),
    ),
]


@pytest.mark.parametrize(("kind", "field", "values"), VARIANTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_an_event_carries_has_its_own_words_in_every_language(
    kind: str, field: str, values: list[object], language: Language
) -> None:
    channels = [c for c in KINDS[kind] if field in _variables(kind, c, language)]
    assert channels
    for channel in channels:
        texts = {
            render(kind, channel, language, **{**SAMPLES[kind], field: value}).text
            for value in values
        }
        assert len(texts) == len(values)
        # A code is shown in words; `cancelled` may well be one of them, `no_match` not.
        codes = [value for value in values if isinstance(value, str) and "_" in value]
        assert not [code for code in codes for text in texts if code in text]


def test_an_unknown_code_fails_the_rendering() -> None:
    with pytest.raises(RenderingFailed, match="inbox template for 'offer_withdrawn'"):
        render(
            "offer_withdrawn", INBOX, Language.DA, **{**SAMPLES["offer_withdrawn"], "reason": "x"}
        )


def test_the_digest_lists_each_message_by_its_subject_and_link() -> None:
    second = "https://brobygger.example.dk/beskeder/2"
    items = [
        DigestItem("En henvisning er trukket tilbage", URL),
        DigestItem("Ny pulje: <P>", second),
    ]
    digest = render_digest(Language.DA, items)
    assert digest.subject == "Brobygger: 2 nye beskeder"
    assert f"En henvisning er trukket tilbage <{URL}>" in digest.text
    assert f"Ny pulje: <P> <{second}>" in digest.text
    assert digest.html is not None
    assert _read_html(digest.html).hrefs == [URL, second]
    assert f'<a href="{second}">Ny pulje: &lt;P&gt;</a>' in digest.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_digests_text_and_html_parts_say_the_same_words(language: Language) -> None:
    digest = render_digest(language, [DigestItem("A", URL), DigestItem("B", URL)])
    assert digest.html is not None
    html = _read_html(digest.html)
    words, urls = _text_words_and_urls(digest.text)
    assert html.words == words
    assert html.hrefs == urls == [URL, URL]


def test_a_digest_of_one_message_says_one() -> None:
    one = [DigestItem("A", URL)]
    assert render_digest(Language.DA, one).subject == "Brobygger: 1 ny besked"
    assert render_digest(Language.SV, one).subject == "Brobygger: 1 nytt meddelande"
    assert render_digest(Language.EN, one).subject == "Brobygger: 1 new message"


def test_a_digest_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_digest(Language.DA, [])
