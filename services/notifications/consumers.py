"""Thin subscribers: turn consumed events into service-layer calls."""

from __future__ import annotations

from contracts import (
    ApplicationDecided,
    CareFollowUpDue,
    ConsentWithdrawn,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    OfferExpired,
    OfferWithdrawn,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralOffered,
    ReferralStatusChanged,
    ReportOverdue,
    VolunteerNamed,
)
from contracts.referrals import CareSystemEvent
from notifications import services
from notifications.domain import Language
from runtime.consumer import Handler
from runtime.storage import utcnow


def handlers(language: Language, clock: services.Clock = utcnow) -> dict[type, Handler]:
    def on_referral_offered(event: ReferralOffered, uow: services.UnitOfWork) -> None:
        services.notify_referral_offered(event, uow, language, clock)

    def on_offer_withdrawn(event: OfferWithdrawn, uow: services.UnitOfWork) -> None:
        services.notify_offer_withdrawn(event, uow, language, clock)

    def on_offer_expired(event: OfferExpired, uow: services.UnitOfWork) -> None:
        services.notify_offer_expired(event, uow, language, clock)

    def on_referral_escalated(event: ReferralEscalated, uow: services.UnitOfWork) -> None:
        services.notify_operators_of_escalation(event, uow, language, clock)

    def on_follow_up_due(event: FollowUpDue, uow: services.UnitOfWork) -> None:
        services.notify_follow_up_due(event, uow, language, clock)

    def on_follow_up_overdue(event: FollowUpOverdue, uow: services.UnitOfWork) -> None:
        services.remind_of_overdue_follow_up(event, uow, language, clock)

    def on_follow_up_escalated(event: FollowUpEscalated, uow: services.UnitOfWork) -> None:
        services.notify_operators_of_follow_up_escalation(event, uow, language, clock)

    def on_consent_withdrawn(event: ConsentWithdrawn, uow: services.UnitOfWork) -> None:
        services.request_deletion_after_withdrawal(event, uow, language, clock)

    def on_referral_erased(event: ReferralErased, uow: services.UnitOfWork) -> None:
        services.erase_referral(event, uow, language, clock)

    def on_pool_opened(event: PoolOpened, uow: services.UnitOfWork) -> None:
        services.announce_pool(event, uow, language, clock)

    # A letter about an application is in the language the application was written in.
    def on_application_decided(event: ApplicationDecided, uow: services.UnitOfWork) -> None:
        services.send_decision_letter(event, uow, clock)

    def on_report_overdue(event: ReportOverdue, uow: services.UnitOfWork) -> None:
        services.remind_of_overdue_report(event, uow, clock)

    def on_care_system_event(event: CareSystemEvent, uow: services.UnitOfWork) -> None:
        services.forward_to_care_system(event, uow, clock)

    def on_volunteer_named(event: VolunteerNamed, uow: services.UnitOfWork) -> None:
        services.notify_volunteer_named(event, uow, language, clock)

    return {
        ReferralOffered: on_referral_offered,
        OfferWithdrawn: on_offer_withdrawn,
        OfferExpired: on_offer_expired,
        ReferralEscalated: on_referral_escalated,
        FollowUpDue: on_follow_up_due,
        FollowUpOverdue: on_follow_up_overdue,
        FollowUpEscalated: on_follow_up_escalated,
        ConsentWithdrawn: on_consent_withdrawn,
        ReferralErased: on_referral_erased,
        PoolOpened: on_pool_opened,
        ApplicationDecided: on_application_decided,
        ReportOverdue: on_report_overdue,
        VolunteerNamed: on_volunteer_named,
        ReferralStatusChanged: on_care_system_event,
        CareFollowUpDue: on_care_system_event,
    }
