"""How a citizen's words meet the directory's: Danish and Swedish spellings folded to one key,
for the indexed text and the query alike. Rules only, no I/O.

Every variant of a letter folds to one canonical form, so that both spellings meet:
å, aa -> a; ø, ö, oe -> o; æ, ä, ae -> e; other accents go (é -> e, ü -> u); case goes.
"norrebro", "noerrebro" and "Nørrebro" all become "norrebro"; "gåtur", "gaatur" and "gatur"
all become "gatur"; Swedish "Väster" meets Danish "Vester". A word written with æ or ä is
also indexed with it as a plain a, as a keyboard without it types it ("Fælled" is found by
"faelled", "felled" and "falled")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

MAX_QUERY_WORDS = 10
"""The first words of a query that count: each is a condition of the query."""

MAX_WORD_LENGTH = 50
"""Words are cut to this length on both sides, so that one very long word cannot outgrow an
index entry; a prefix of that length still tells words apart."""

_WORD = re.compile(r"[^\W_]+")
_LETTERS = str.maketrans({"æ": "e", "ä": "e", "ø": "o", "ö": "o", "å": "a"})
_PLAIN_A = str.maketrans({"æ": "a", "ä": "a"})
_DIGRAPHS = re.compile(r"aa|ae|oe")
_DIGRAPH_KEY = {"aa": "a", "ae": "e", "oe": "o"}


class Part(StrEnum):
    """Part a word of a service stands: a match in the name ranks first."""

    NAME = "name"
    TEXT = "text"


def _tokens(text: str) -> list[str]:
    # NFKC first: a letter sent decomposed (a + combining ring) is one letter again.
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _fold_token(token: str) -> str:
    letters = unicodedata.normalize("NFKD", token.translate(_LETTERS))
    bare = "".join(c for c in letters if not unicodedata.combining(c))
    return _DIGRAPHS.sub(lambda m: _DIGRAPH_KEY[m.group()], bare)[:MAX_WORD_LENGTH]


def fold(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return [_fold_token(token) for token in _tokens(text)]


def query_words(query: str) -> list[str]:
    """The folded words of a query, each once, at most `MAX_QUERY_WORDS`; a service matches
    a word when one of its words starts with it."""
    return list(dict.fromkeys(fold(query)))[:MAX_QUERY_WORDS]


def index_words(name: str, texts: Iterable[str]) -> set[tuple[Part, str]]:
    """What a service is found by: the words of its name, and of its other texts."""
    return {
        (part, key)
        for part, text in [(Part.NAME, name), *((Part.TEXT, text) for text in texts)]
        for token in _tokens(text)
        for key in {_fold_token(token), _fold_token(token.translate(_PLAIN_A))}
    }


def document_words(
    service: Mapping[str, Any], term_names: Callable[[str], list[str]]
) -> set[tuple[Part, str]]:
    """What an HSDS service (nested, as the API serves it) is found by: its name; its other
    name and description, the districts it serves, its locations' names and towns, and its
    taxonomy terms in every language `term_names` knows them in ("gåtur" finds a service
    tagged `walking`)."""
    texts: list[str] = [service.get("alternate_name", ""), service.get("description", "")]
    texts += [area.get("name", "") for area in service.get("service_areas", [])]
    for at in service.get("service_at_locations", []):
        location = at.get("location") or {}
        texts.append(location.get("name", ""))
        for address in location.get("addresses", []):
            texts += [address.get("city", ""), address.get("region", "")]
    for attribute in service.get("attributes", []):
        # Nested, an attribute names its term by the term it nests, not by its key.
        term = attribute.get("taxonomy_term") or {}
        term_id = attribute.get("taxonomy_term_id") or term.get("id", "")
        texts += [term.get("name", ""), *term_names(term_id)]
    return index_words(service.get("name", ""), [text for text in texts if isinstance(text, str)])


def hits(query: list[str], indexed: set[tuple[Part, str]]) -> tuple[int, int]:
    """How many of the query's words the service's name matches, and how many its words
    match in all: what the results are ranked by."""

    def matched(words: Iterable[str]) -> int:
        words = list(words)
        return sum(any(word.startswith(q) for word in words) for q in query)

    return (
        matched(key for part, key in indexed if part is Part.NAME),
        matched(key for _, key in indexed),
    )
