"""grants: grant pools with a budget, an open window and published criteria."""
