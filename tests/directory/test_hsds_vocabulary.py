"""Brobygger's taxonomies as HSDS taxonomy and taxonomy_term records, in da, sv and en."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from directory.domain import WHEELCHAIR_NEED
from directory.hsds.vocabulary import (
    LANGUAGES,
    Taxonomy,
    code_of,
    codes,
    sibling_terms,
    taxonomy_id,
    taxonomy_records,
    taxonomy_term_records,
    term_id,
    term_names,
)
from tests import hsds

ROOT = Path(__file__).resolve().parents[2]


def test_every_term_exists_once_in_danish_swedish_and_english_with_one_code() -> None:
    languages: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in taxonomy_term_records():
        languages[record.fields["taxonomy_id"], record.fields["code"]].append(
            record.fields["language"]
        )
    expected = {(str(taxonomy_id(t)), code) for t in Taxonomy for code in codes(t)}
    assert set(languages) == expected
    assert all(sorted(found) == sorted(LANGUAGES) for found in languages.values())


def test_each_languages_term_reads_back_as_its_taxonomy_and_code() -> None:
    for taxonomy in Taxonomy:
        for code in codes(taxonomy):
            ids = {term_id(taxonomy, code, language) for language in LANGUAGES}
            assert len(ids) == 3
            assert {code_of(i) for i in ids} == {(taxonomy, code)}
            assert code_of(str(term_id(taxonomy, code, "sv"))) == (taxonomy, code)


def test_a_term_of_another_vocabulary_or_no_id_at_all_reads_as_nothing() -> None:
    assert code_of(uuid4()) is None
    assert code_of("walking") is None


def test_the_taxonomies_hold_the_activity_types_target_groups_and_accessibility_features() -> None:
    assert codes(Taxonomy.INTERESTS) >= {
        "walking", "exercise", "talk", "cards", "culture", "digital", "cooking", "gardening",
        "chess", "singing", "knitting", "music", "reading", "crafts", "dancing", "games",
        "excursions", "meals", "faith", "nature",
    }  # fmt: skip
    # What referrals sends as a citizen's needs, the wheelchair need included.
    assert codes(Taxonomy.TARGET_GROUPS) >= {
        "older_people", "minority_background", "physical_disability", "mental_disability",
        "hard_to_leave_home", "dementia", WHEELCHAIR_NEED,
    }  # fmt: skip
    assert codes(Taxonomy.ACCESSIBILITY) == {
        "wheelchair_accessible", "step_free", "hearing_loop", "accessible_toilet",
    }  # fmt: skip
    every_code = [code for taxonomy in Taxonomy for code in codes(taxonomy)]
    assert all(code.isascii() and code == code.lower() for code in every_code)


def test_a_terms_siblings_and_names_are_its_concept_in_every_language() -> None:
    danish = term_id(Taxonomy.INTERESTS, "walking", "da")
    every = {term_id(Taxonomy.INTERESTS, "walking", language) for language in LANGUAGES}
    assert sibling_terms(danish) == every
    assert term_names(str(danish)) == ["Gåture", "Promenader", "Walking"]
    assert term_names(term_id(Taxonomy.INTERESTS, "walking", "en")) == term_names(danish)
    stranger = uuid4()
    assert sibling_terms(stranger) == {stranger}
    assert term_names(stranger) == []


def test_a_code_or_language_the_vocabulary_lacks_has_no_term_id() -> None:
    with pytest.raises(ValueError, match="not a term of the interests taxonomy"):
        term_id(Taxonomy.INTERESTS, "older_people")
    with pytest.raises(ValueError, match="not 'de'"):
        term_id(Taxonomy.INTERESTS, "walking", "de")


def test_attributes_point_at_the_english_term_by_default() -> None:
    english = term_id(Taxonomy.INTERESTS, "walking", "en")
    assert term_id(Taxonomy.INTERESTS, "walking") == english
    [record] = [r for r in taxonomy_term_records() if r.fields["id"] == str(english)]
    assert (record.fields["language"], record.fields["name"]) == ("en", "Walking")


def _ids() -> str:
    records = taxonomy_records() + taxonomy_term_records()
    return json.dumps(sorted(record.id for record in records))


def test_ids_are_the_same_in_another_run_and_are_pinned() -> None:
    script = "from tests.directory.test_hsds_vocabulary import _ids; print(_ids())"
    environment = os.environ | {"PYTHONHASHSEED": "12345", "PYTHONPATH": f"{ROOT}:{ROOT}/services"}
    other_run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert other_run.returncode == 0, other_run.stderr
    assert other_run.stdout.strip() == _ids()
    # Pinned: a changed namespace or naming would orphan every attribute already published.
    assert term_id(Taxonomy.INTERESTS, "walking", "da") == UUID(
        "734335b8-b4d2-50b2-9e44-a37d4a0a2a0e"
    )


def test_taxonomies_have_a_name_description_https_uri_under_example_and_version() -> None:
    records = taxonomy_records()
    assert {r.id for r in records} == {str(taxonomy_id(t)) for t in Taxonomy}
    for record in records:
        assert record.fields["uri"].startswith("https://")
        assert record.fields["uri"].split("/")[2].endswith(".example")
        assert record.fields["name"] and record.fields["description"] and record.fields["version"]


def test_every_taxonomy_and_term_record_validates_strictly_against_hsds() -> None:
    for record in taxonomy_records() + taxonomy_term_records():
        assert hsds.validate(record.entity, record.fields) == [], record.fields
