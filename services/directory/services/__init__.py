"""Use cases of the directory service: one function each, the only place that commits.

By role: `reading` (the HSDS API's reads), `editing` (the API's writes), `importing` (files
and the demo), `writing` (saving records, shared by those two), `matching`, `places`."""

from directory.services.common import (
    Clock,
    Editor,
    Forbidden,
    NotFound,
    ReferralEnded,
    Rejected,
    UnitOfWork,
    UnitOfWorkFactory,
)
from directory.services.editing import EDITABLE, AlreadyThere, change, create, replace
from directory.services.importing import Imported, import_records, keep_vocabulary, seed_demo
from directory.services.matching import match_referral
from directory.services.places import (
    count_escalation,
    forget_referral,
    give_place_back,
    take_place,
    unmet_need,
)
from directory.services.reading import (
    Page,
    Paging,
    all_records,
    all_services,
    export_documents,
    one,
    organizations,
    services,
    services_at_locations,
    taxonomies,
    taxonomy_terms,
)

__all__ = [
    "EDITABLE",
    "AlreadyThere",
    "Clock",
    "Editor",
    "Forbidden",
    "Imported",
    "NotFound",
    "Page",
    "Paging",
    "ReferralEnded",
    "Rejected",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "all_records",
    "all_services",
    "change",
    "count_escalation",
    "create",
    "export_documents",
    "forget_referral",
    "give_place_back",
    "import_records",
    "keep_vocabulary",
    "match_referral",
    "one",
    "organizations",
    "replace",
    "seed_demo",
    "services",
    "services_at_locations",
    "take_place",
    "taxonomies",
    "taxonomy_terms",
    "unmet_need",
]
