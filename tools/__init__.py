"""Developer tools: contract generation and checks, migration generation."""

SERVICES = ("referrals", "directory", "grants", "notifications")
"""Every service, by package name (`services/<name>/`)."""
