"""HTTP API of notifications, one router per subject: the inbox, webhooks and deliveries;
recipients (volunteers, everyone's preferences)."""

from notifications.api import inbox, recipients

routers = (inbox.router, recipients.router)

__all__ = ["routers"]
