"""Open Referral HSDS 3.0, the form in which directory publishes, imports and exports:
records as the standard's tables hold them, nested documents as its API serves them."""
