"""directory: the city's overview of communities, and the matching of referrals to them."""
