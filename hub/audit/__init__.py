"""The hash-chained audit log of publishes, decisions, disclosures and admin actions."""
