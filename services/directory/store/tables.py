"""directory's tables: the HSDS publication as the standard's records, the views matching and
search read, and what directory keeps of referrals (place holds, unmet need)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from runtime.storage import UTCDateTime


class Base(SQLModel, registry=registry()):
    """This service's tables only; the outbox and inbox come from `runtime.storage`."""


class RecordRow(Base, table=True):
    """One HSDS record, its own fields as the standard's JSON (see `directory.hsds`): the
    publication, what every read of the HSDS API, import and export go through."""

    __tablename__ = "hsds_record"
    __table_args__ = (Index("ix_hsds_record_organization", "organization_id", "entity"),)

    entity: str = Field(primary_key=True, max_length=40)
    id: UUID = Field(primary_key=True)
    fields: str = Field(sa_column=Column(Text, nullable=False))
    name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The record's `name`, if it has one, to list records by."""
    organization_id: UUID | None = None
    """The organisation the record belongs to, whose partners may change it; None for
    taxonomies and their terms, which belong to the directory."""
    modified_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    """The last change of the record or, for a service, of anything nested in it."""


class ReferenceRow(Base, table=True):
    """A foreign key of a record (`phone.service_id`…), one row each, so that the children
    of a page of records are found with one indexed query per kind of child."""

    __tablename__ = "hsds_reference"
    __table_args__ = (Index("ix_hsds_reference_target", "target", "key", "entity"),)

    entity: str = Field(primary_key=True, max_length=40)
    id: UUID = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=40)
    target: UUID


class PointRow(Base, table=True):
    """Where an HSDS location is, for finding services by postcode and proximity."""

    __tablename__ = "hsds_point"

    location_id: UUID = Field(primary_key=True)
    postal_code: str | None = Field(default=None, max_length=20, index=True)
    latitude: float | None = None
    longitude: float | None = None


class LocationRow(Base, table=True):
    """A location as matching sees it."""

    __tablename__ = "location"

    id: UUID = Field(primary_key=True)
    organization_id: UUID = Field(index=True)
    name: str = Field(max_length=200)
    address_1: str = Field(max_length=200)
    postal_code: str = Field(max_length=20)
    city: str = Field(max_length=100)
    district: str = Field(max_length=100)
    # Text: folding can lengthen a district ('ß' becomes 'ss').
    district_key: str = Field(sa_column=Column(Text, nullable=False, index=True))
    wheelchair_accessible: bool
    latitude: float | None = None
    longitude: float | None = None


PLACES_RULE = "ck_service_places"


class ServiceRow(Base, table=True):
    """A service as matching sees it: one row for each service with what matching needs
    (a location, a language, a capacity), read from its HSDS records."""

    __tablename__ = "service"
    # The domain's rule, kept by the database too: a write that breaks it fails, whoever
    # writes, even two transactions changing capacity and free places at once.
    __table_args__ = (
        CheckConstraint(
            "capacity >= 1 AND free_places >= 0 AND free_places <= capacity", name=PLACES_RULE
        ),
        # Covering what the counts of a referral nothing fits read of every service
        # (`store.matching`): a scan of this index, not of the wide rows.
        Index(
            "ix_service_fit",
            "status",
            "wheelchair_accessible",
            "interest_bits",
            "target_group_bits",
            "language_bits",
            "other_terms",
            "id",
        ),
    )

    id: UUID = Field(primary_key=True)
    organization_id: UUID = Field(index=True)
    location_id: UUID = Field(foreign_key="location.id", index=True)
    name: str = Field(max_length=500)
    status: str = Field(max_length=20)
    schedules: str = Field(sa_column=Column(Text, nullable=False))
    """Its weekly schedules as JSON, for the time-of-day reason."""
    capacity: int
    free_places: int
    # What ranking reads, derived from the rest by `store.matching` when it projects the
    # service, so that a service is scored from its row alone.
    wheelchair_accessible: bool
    """Its location's."""
    parts_of_day: int
    """The parts of the day its schedules overlap, a bit each (`store.matching`)."""
    interest_bits: int = Field(sa_column=Column(BigInteger, nullable=False))
    target_group_bits: int = Field(sa_column=Column(BigInteger, nullable=False))
    language_bits: int = Field(sa_column=Column(BigInteger, nullable=False))
    """Its interests, target groups and languages, a bit each for the terms
    `store.matching` numbers."""
    other_terms: bool
    """Whether it has a term `store.matching` does not number (only in `service_term`)."""
    # How near its location is to each district's centroid (`domain.closeness`), in the
    # order of `geography.DISTRICTS`.
    near_0: float
    near_1: float
    near_2: float
    near_3: float
    near_4: float
    near_5: float
    near_6: float
    near_7: float
    near_8: float
    near_9: float


class ServiceTermRow(Base, table=True):
    """A service's interests, languages and target groups, one row each, for plain SQL; by
    term and area also the posting lists through which matching visits the services that
    can rank best first (`store.matching`)."""

    __tablename__ = "service_term"
    __table_args__ = (
        # Covering: a term's services in some areas, and how many target groups each
        # shares with a referral, are read from the index alone.
        Index(
            "ix_service_term_lookup", "taxonomy", "term", "area", "service_id", "target_group_bits"
        ),
    )

    service_id: UUID = Field(foreign_key="service.id", primary_key=True)
    taxonomy: str = Field(primary_key=True, max_length=20)
    # Text: lower-casing can lengthen a keyword ('İ' becomes 'i' and a combining dot).
    term: str = Field(sa_column=Column(Text, primary_key=True))
    area: int
    """The service's area (`store.matching`): the district whose centroid its location is
    nearest, numbered as `geography.DISTRICTS`, or one past them when it is near none."""
    target_group_bits: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The service's (`ServiceRow.target_group_bits`)."""


class ReachRow(Base, table=True):
    """How near to a district's centroid any service of an area has been: the highest
    closeness (`domain.closeness`) to `home` of a location projected into `area`, only ever
    raised, so that matching bounds what an area's services can score for distance."""

    __tablename__ = "service_reach"

    home: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    area: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    closeness: float


class SearchWordRow(Base, table=True):
    """A folded word an HSDS service or organisation is found by (see `directory.search`),
    one row each, so that a search is a prefix LIKE on an index, the same on SQLite and
    PostgreSQL."""

    __tablename__ = "search_word"
    __table_args__ = (
        # text_pattern_ops: PostgreSQL uses the index for LIKE 'prefix%' in any collation.
        # Covering: a search reads this index alone, never the table.
        Index(
            "ix_search_word_word",
            "entity",
            "word",
            "record_id",
            "part",
            postgresql_ops={"word": "text_pattern_ops"},
        ),
    )

    record_id: UUID = Field(primary_key=True)
    entity: str = Field(max_length=40)
    """The record's: a search looks among services or among organisations."""
    part: str = Field(primary_key=True, max_length=10)
    word: str = Field(sa_column=Column(Text, primary_key=True))


class PlaceHoldRow(Base, table=True):
    """A place of a service taken by an accepted referral, until the referral ends."""

    __tablename__ = "place_hold"

    referral_id: UUID = Field(primary_key=True)
    service_id: UUID


class UnmetReferralRow(Base, table=True):
    """A referral for which no community was found, for the unmet-need report: coded
    categories only, and gone when the referral is erased."""

    __tablename__ = "unmet_referral"

    referral_id: UUID = Field(primary_key=True)
    unmet_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The day in the city's calendar, so that a period is a plain range on an index.
    unmet_on: date = Field(index=True)
    reason: str = Field(max_length=40)
    district: str = Field(sa_column=Column(Text, nullable=False))


class UnmetReferralTermRow(Base, table=True):
    """An unmet referral's interests and target groups, one row each, for grouping in SQL."""

    __tablename__ = "unmet_referral_term"

    referral_id: UUID = Field(foreign_key="unmet_referral.referral_id", primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    term: str = Field(sa_column=Column(Text, primary_key=True))
