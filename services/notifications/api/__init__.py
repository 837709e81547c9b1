"""HTTP API of notifications, one router per subject: the inbox and deliveries; recipients
(volunteers, everyone's preferences); webhook endpoints."""

from notifications.api import inbox, recipients, webhooks

routers = (inbox.router, recipients.router, webhooks.router)

__all__ = ["routers"]
