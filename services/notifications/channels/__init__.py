"""Ways of reaching a recipient: e-mail, SMS, webhooks."""
