"""The language rules of a citizen's search, on their own: folding, words and ranking."""

from __future__ import annotations

import pytest

from directory.search import (
    MAX_QUERY_WORDS,
    MAX_WORD_LENGTH,
    Part,
    fold,
    hits,
    index_words,
    query_words,
)


def found_by(query: str, text: str) -> bool:
    """Whether a service named `text` is found by `query`."""
    return hits(query_words(query), index_words(text, []))[1] > 0


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("norrebro", "Nørrebro"),
        ("noerrebro", "Nørrebro"),
        ("NØRREBRO", "nørrebro"),
        ("Nørrebro", "Norrebro"),
        ("Nørrebro", "Noerrebro"),
        ("gaatur", "gåtur"),
        ("gatur", "gåtur"),
        ("gåtur", "gaatur"),
        ("gåtur", "gatur"),
        ("faelled", "Fælledparken"),
        ("felled", "Fælledparken"),
        ("falled", "Fælledparken"),
        ("Fælled", "Faelledparken"),
        ("vasteras", "Västerås"),
        ("vaesteraas", "Västerås"),
        ("Väster", "Vesterbro"),
        ("malmo", "Malmö"),
        ("Malmö", "Malmoe"),
        ("ostersund", "Östersund"),
        ("cafe", "Café"),
        ("Café", "cafe"),
        ("café", "Cafe\u0301"),  # the accent sent as a combining mark
        ("strasse", "Straße"),
    ],
)
def test_both_spellings_of_a_danish_or_swedish_word_meet(query: str, text: str) -> None:
    assert found_by(query, text)


@pytest.mark.parametrize(
    ("query", "text"),
    [("gåt", "gåtur"), ("gat", "Gåtur"), ("norre", "Nørrebro"), ("ga", "gåtur")],
)
def test_the_start_of_a_word_finds_the_word(query: str, text: str) -> None:
    assert found_by(query, text)


@pytest.mark.parametrize(
    ("query", "text"),
    [("tur", "gåtur"), ("brosten", "Nørrebro"), ("osterbro", "Nørrebro"), ("skak", "kortklub")],
)
def test_a_word_is_not_found_by_its_middle_or_by_another_word(query: str, text: str) -> None:
    assert not found_by(query, text)


def test_text_is_split_into_folded_words_at_anything_but_letters_and_digits() -> None:
    assert fold("Ældre Sagen Nørrebro \u2013 gågruppe, 3\u20135 km; older_people") == [
        "eldre",
        "sagen",
        "norrebro",
        "gagruppe",
        "3",
        "5",
        "km",
        "older",
        "people",
    ]


def test_folding_a_folded_word_changes_nothing() -> None:
    for word in ["Nørrebro", "gåtur", "Fælledparken", "Västerås", "Malmö", "Café"]:
        [folded] = fold(word)
        assert fold(folded) == [folded]


def test_a_query_counts_each_word_once_and_only_the_first_words() -> None:
    assert query_words("Gåtur gaatur GATUR nørrebro") == ["gatur", "norrebro"]
    many = " ".join(f"ord{n}" for n in range(MAX_QUERY_WORDS + 5))
    assert query_words(many) == [f"ord{n}" for n in range(MAX_QUERY_WORDS)]
    assert query_words(" \u2013 !? ") == []


def test_a_very_long_word_is_cut_alike_in_the_text_and_the_query() -> None:
    word = "a" + "b" * 3000
    [(_, indexed)] = index_words(word, [])
    assert len(indexed) == MAX_WORD_LENGTH
    assert found_by(word, word)


def test_a_service_is_found_by_its_name_and_its_other_texts_apart() -> None:
    indexed = index_words("Gåtur", ["Rolige ture på Nørrebro", "walking"])
    assert (Part.NAME, "gatur") in indexed
    assert (Part.TEXT, "norrebro") in indexed
    assert (Part.TEXT, "walking") in indexed
    assert (Part.NAME, "norrebro") not in indexed


def test_hits_count_the_query_words_matched_in_the_name_and_anywhere() -> None:
    indexed = index_words("Gåtur på Nørrebro", ["kaffe bagefter", "walking"])
    assert hits(query_words("gåtur kaffe"), indexed) == (1, 2)
    assert hits(query_words("nørrebro gå"), indexed) == (2, 2)
    assert hits(query_words("walk skak"), indexed) == (0, 1)
    assert hits(query_words("skak"), indexed) == (0, 0)
