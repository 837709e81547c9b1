"""A citizen whose personal data the end-to-end tests look for wherever it must never be:
on Kafka, in logs, in what other services keep."""

from __future__ import annotations

import re

PERSONAL_NUMBER = "230439-4821"
NAME = "Karen Skovgaard Mortensen"
PHONE = "+45 31 42 59 26"
ADDRESS = "Skovgårdsvej 17, 2400 København NV"
NOTE = "Hørehæmmet, elsker fællessang og kaffe om formiddagen"

PERSONAL_DATA = {
    "the personal number": re.compile(r"230439-?4821"),
    "the name": re.compile(r"Karen|Skovgaard|Mortensen"),
    "the phone": re.compile(r"31\s?42\s?59\s?26"),
    "the address": re.compile(r"Skovgårdsvej|Skovg\\u00e5rdsvej"),
    "the note": re.compile(r"Hørehæmmet|H\\u00f8reh\\u00e6mmet|fællessang og kaffe"),
}


def found_in(text: str) -> list[str]:
    return [what for what, pattern in PERSONAL_DATA.items() if pattern.search(text)]
