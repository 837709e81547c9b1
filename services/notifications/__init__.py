"""notifications: turns events into inbox messages and signed webhooks, and records delivery."""
