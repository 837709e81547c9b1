"""Brobygger's taxonomies: interests (activity types), target groups and accessibility, each
term in Danish, Swedish and English, as HSDS 3.0 `taxonomy` and `taxonomy_term` records.

A term is one concept with one `code` (lower-case ASCII, the word referrals and directory use
today, e.g. `walking`, `hard_to_leave_home`) and one `taxonomy_term` record per language, each
with its own stable id. Attributes always point at the English term (`term_id`'s default), so
that a service has one attribute per concept; `code_of` reads any language's term back, so
records written by others that point at the Danish or Swedish term read the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID, uuid5

from directory.hsds.records import Record

NAMESPACE = UUID("e94a2a6d-f517-4761-b087-211a30c77d1f")
"""Of every id here: the same taxonomy, code and language give the same id on every machine."""

BASE_URI = "https://taxonomies.brobygger.example"
"""A placeholder under the reserved `.example` domain until the taxonomies are published."""

VERSION = "1"

LANGUAGES = ("da", "sv", "en")
"""ISO 639-1 codes of the languages every term is given in."""


class Taxonomy(StrEnum):
    INTERESTS = "interests"
    TARGET_GROUPS = "target_groups"
    ACCESSIBILITY = "accessibility"


@dataclass(frozen=True)
class _Words:
    name: str
    description: str


# Per taxonomy, per code: the term's name and description in da, sv and en (LANGUAGES' order).
_Terms = Mapping[str, tuple[_Words, _Words, _Words]]


def _w(name: str, description: str) -> _Words:
    return _Words(name, description)


_INTERESTS: _Terms = {
    "walking": (
        _w("Gåture", "Gåture i roligt tempo, alene med en ven eller i en gruppe."),
        _w("Promenader", "Promenader i lugnt tempo, med en vän eller i grupp."),
        _w("Walking", "Walks at an easy pace, with a friend or in a group."),
    ),
    "exercise": (
        _w("Motion", "Træning og bevægelse tilpasset deltagerne."),
        _w("Motion", "Träning och rörelse anpassad efter deltagarna."),
        _w("Exercise", "Training and movement suited to those taking part."),
    ),
    "talk": (
        _w("Snak og samvær", "Samtale og selskab, f.eks. over en kop kaffe."),
        _w("Samtal och samvaro", "Samtal och sällskap, t.ex. över en kopp kaffe."),
        _w("Conversation", "Talk and company, e.g. over a cup of coffee."),
    ),
    "cards": (
        _w("Kortspil", "Whist, kanasta, bridge og andre kortspil."),
        _w("Kortspel", "Whist, canasta, bridge och andra kortspel."),
        _w("Card games", "Whist, canasta, bridge and other card games."),
    ),
    "culture": (
        _w("Kultur", "Museer, teater, koncerter og foredrag."),
        _w("Kultur", "Museer, teater, konserter och föredrag."),
        _w("Culture", "Museums, theatre, concerts and talks."),
    ),
    "digital": (
        _w("Digital hjælp", "Hjælp til MitID, e-Boks, telefon og computer."),
        _w("Digital hjälp", "Hjälp med e-legitimation, telefon och dator."),
        _w("Digital help", "Help with digital ID, phones and computers."),
    ),
    "cooking": (
        _w("Madlavning", "At lave mad sammen."),
        _w("Matlagning", "Att laga mat tillsammans."),
        _w("Cooking", "Cooking together."),
    ),
    "gardening": (
        _w("Havearbejde", "At så, luge og høste i en fælles have."),
        _w("Trädgårdsarbete", "Att så, rensa och skörda i en gemensam trädgård."),
        _w("Gardening", "Sowing, weeding and harvesting in a shared garden."),
    ),
    "chess": (
        _w("Skak", "Skak for øvede og begyndere."),
        _w("Schack", "Schack för vana spelare och nybörjare."),
        _w("Chess", "Chess for practised players and beginners."),
    ),
    "singing": (
        _w("Sang", "Fællessang og kor."),
        _w("Sång", "Allsång och kör."),
        _w("Singing", "Singing together and choirs."),
    ),
    "knitting": (
        _w("Strikning", "Strikning og hækling i selskab med andre."),
        _w("Stickning", "Stickning och virkning i sällskap med andra."),
        _w("Knitting", "Knitting and crochet in company."),
    ),
    "music": (
        _w("Musik", "At spille eller lytte til musik sammen."),
        _w("Musik", "Att spela eller lyssna på musik tillsammans."),
        _w("Music", "Playing or listening to music together."),
    ),
    "reading": (
        _w("Læsning", "Læsekredse og højtlæsning."),
        _w("Läsning", "Läsecirklar och högläsning."),
        _w("Reading", "Reading circles and reading aloud."),
    ),
    "crafts": (
        _w("Kreativt værksted", "Træ, keramik, maling og andet håndværk."),
        _w("Hantverk", "Trä, keramik, målning och annat hantverk."),
        _w("Crafts", "Woodwork, pottery, painting and other crafts."),
    ),
    "dancing": (
        _w("Dans", "Seniordans, linedance og selskabsdans."),
        _w("Dans", "Seniordans, linedance och sällskapsdans."),
        _w("Dancing", "Senior dance, line dance and ballroom."),
    ),
    "games": (
        _w("Spil", "Brætspil, banko og andre spil."),
        _w("Spel", "Brädspel, bingo och andra spel."),
        _w("Games", "Board games, bingo and other games."),
    ),
    "excursions": (
        _w("Udflugter", "Ture ud af byen og besøg sammen med andre."),
        _w("Utflykter", "Utflykter och besök tillsammans med andra."),
        _w("Excursions", "Outings and visits together with others."),
    ),
    "meals": (
        _w("Fællesspisning", "At spise sammen med andre."),
        _w("Gemensamma måltider", "Att äta tillsammans med andra."),
        _w("Shared meals", "Eating together with others."),
    ),
    "faith": (
        _w("Tro", "Fællesskaber i kirke, moské og andre trossamfund."),
        _w("Tro", "Gemenskap i kyrka, moské och andra trossamfund."),
        _w("Faith", "Communities of churches, mosques and other faiths."),
    ),
    "nature": (
        _w("Natur", "Ture og oplevelser i naturen."),
        _w("Natur", "Turer och upplevelser i naturen."),
        _w("Nature", "Trips and time out in nature."),
    ),
}

_TARGET_GROUPS: _Terms = {
    "older_people": (
        _w("Ældre", "Borgere over pensionsalderen."),
        _w("Äldre", "Personer över pensionsåldern."),
        _w("Older people", "People past retirement age."),
    ),
    "minority_background": (
        _w("Minoritetsbaggrund", "Borgere med etnisk minoritets- eller flygtningebaggrund."),
        _w("Minoritetsbakgrund", "Personer med etnisk minoritets- eller flyktingbakgrund."),
        _w("Minority background", "People with an ethnic minority or refugee background."),
    ),
    "physical_disability": (
        _w("Fysisk funktionsnedsættelse", "Borgere med en fysisk funktionsnedsættelse."),
        _w("Fysisk funktionsnedsättning", "Personer med en fysisk funktionsnedsättning."),
        _w("Physical disability", "People with a physical disability."),
    ),
    "mental_disability": (
        _w("Psykisk funktionsnedsættelse", "Borgere med en psykisk funktionsnedsættelse."),
        _w("Psykisk funktionsnedsättning", "Personer med en psykisk funktionsnedsättning."),
        _w("Mental disability", "People with a mental disability."),
    ),
    "hard_to_leave_home": (
        _w("Svært ved at komme ud", "Borgere, der har svært ved at komme ud af hjemmet."),
        _w("Svårt att ta sig hemifrån", "Personer som har svårt att ta sig hemifrån."),
        _w("Hard to leave home", "People who find it hard to leave their home."),
    ),
    "dementia": (
        _w("Demens", "Demensvenligt: for borgere med demens og deres pårørende."),
        _w("Demens", "Demensvänligt: för personer med demens och deras anhöriga."),
        _w("Dementia", "Dementia-friendly: for people with dementia and their relatives."),
    ),
    "wheelchair_access": (
        _w("Kørestolsbrugere", "Borgere, der bruger kørestol."),
        _w("Rullstolsanvändare", "Personer som använder rullstol."),
        _w("Wheelchair users", "People who use a wheelchair."),
    ),
    "hearing_impairment": (
        _w("Hørenedsættelse", "Borgere med nedsat hørelse."),
        _w("Hörselnedsättning", "Personer med nedsatt hörsel."),
        _w("Hearing impairment", "People who are hard of hearing."),
    ),
    "visual_impairment": (
        _w("Synsnedsættelse", "Borgere med nedsat syn."),
        _w("Synnedsättning", "Personer med nedsatt syn."),
        _w("Visual impairment", "People with impaired sight."),
    ),
}

_ACCESSIBILITY: _Terms = {
    "wheelchair_accessible": (
        _w("Kørestolsvenlig", "Der er adgang for kørestol hele vejen ind."),
        _w("Rullstolsanpassad", "Det går att ta sig hela vägen in med rullstol."),
        _w("Wheelchair accessible", "A wheelchair can get all the way in."),
    ),
    "step_free": (
        _w("Niveaufri adgang", "Ingen trin eller trapper ved indgangen."),
        _w("Trappfri entré", "Inga trappsteg vid entrén."),
        _w("Step-free access", "No steps or stairs at the entrance."),
    ),
    "hearing_loop": (
        _w("Teleslynge", "Lokalet har teleslynge til høreapparater."),
        _w("Hörslinga", "Lokalen har hörslinga för hörapparater."),
        _w("Hearing loop", "The room has a hearing loop for hearing aids."),
    ),
    "accessible_toilet": (
        _w("Handicaptoilet", "Der er et handicaptoilet."),
        _w("Tillgänglig toalett", "Det finns en tillgänglig toalett."),
        _w("Accessible toilet", "There is an accessible toilet."),
    ),
}

_TAXONOMIES: Mapping[Taxonomy, tuple[_Words, _Terms]] = {
    Taxonomy.INTERESTS: (
        _Words("Brobygger interests", "Activity types a community offers and a citizen likes."),
        _INTERESTS,
    ),
    Taxonomy.TARGET_GROUPS: (
        _Words("Brobygger target groups", "Whom an activity is meant for, as referrals' needs."),
        _TARGET_GROUPS,
    ),
    Taxonomy.ACCESSIBILITY: (
        _Words("Brobygger accessibility", "What a location offers people with disabilities."),
        _ACCESSIBILITY,
    ),
}


def taxonomy_id(taxonomy: Taxonomy) -> UUID:
    return uuid5(NAMESPACE, f"taxonomy/{taxonomy}")


def taxonomy_uri(taxonomy: Taxonomy) -> str:
    return f"{BASE_URI}/{taxonomy}"


def codes(taxonomy: Taxonomy) -> frozenset[str]:
    """The valid codes of a taxonomy."""
    return frozenset(_TAXONOMIES[taxonomy][1])


def term_id(taxonomy: Taxonomy, code: str, language: str = "en") -> UUID:
    """The id of a term in one language; attributes use the English term's.

    Raises ValueError for a code or language the vocabulary does not have, so that nothing
    points at a term that is not published.
    """
    if code not in _TAXONOMIES[taxonomy][1]:
        raise ValueError(f"{code!r} is not a term of the {taxonomy} taxonomy")
    if language not in LANGUAGES:
        raise ValueError(f"terms are in {', '.join(LANGUAGES)}, not {language!r}")
    return _term_id(taxonomy, code, language)


def _term_id(taxonomy: Taxonomy, code: str, language: str) -> UUID:
    return uuid5(NAMESPACE, f"taxonomy_term/{taxonomy}/{code}/{language}")


_CODE_OF = {
    _term_id(taxonomy, code, language): (taxonomy, code)
    for taxonomy, (_, terms) in _TAXONOMIES.items()
    for code in terms
    for language in LANGUAGES
}


def code_of(term: UUID | str) -> tuple[Taxonomy, str] | None:
    """The taxonomy and code of a term in any language; None for a term not of this vocabulary
    (or not an id at all), which readers ignore."""
    try:
        key = term if isinstance(term, UUID) else UUID(term)
    except ValueError:
        return None
    return _CODE_OF.get(key)


def sibling_terms(term: UUID) -> frozenset[UUID]:
    """The same concept's terms in every language, `term` included, so that a filter by the
    Danish term also finds services tagged with the English one; a term not of this
    vocabulary is only itself."""
    found = code_of(term)
    if found is None:
        return frozenset({term})
    return frozenset(_term_id(*found, language) for language in LANGUAGES)


def term_names(term: UUID | str) -> list[str]:
    """The names of a term's concept in da, sv and en (what a search finds it by), whichever
    language's term is given; none for a term not of this vocabulary."""
    found = code_of(term)
    if found is None:
        return []
    taxonomy, code = found
    return [words.name for words in _TAXONOMIES[taxonomy][1][code]]


def taxonomy_records() -> list[Record]:
    """The `taxonomy` records, one per taxonomy."""
    return [
        Record(
            "taxonomy",
            {
                "id": str(taxonomy_id(taxonomy)),
                "name": about.name,
                "description": about.description,
                "uri": taxonomy_uri(taxonomy),
                "version": VERSION,
            },
        )
        for taxonomy, (about, _) in _TAXONOMIES.items()
    ]


def taxonomy_term_records() -> list[Record]:
    """The `taxonomy_term` records: every term of every taxonomy, once per language."""
    return [
        Record(
            "taxonomy_term",
            {
                "id": str(_term_id(taxonomy, code, language)),
                "code": code,
                "name": words.name,
                "description": words.description,
                "taxonomy": about.name,
                "taxonomy_id": str(taxonomy_id(taxonomy)),
                "language": language,
                "term_uri": f"{taxonomy_uri(taxonomy)}/{code}",
            },
        )
        for taxonomy, (about, terms) in _TAXONOMIES.items()
        for code, translations in terms.items()
        for language, words in zip(LANGUAGES, translations, strict=True)
    ]
