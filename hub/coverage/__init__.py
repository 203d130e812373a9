"""Coverage and freshness: which council publishes which dataset, and how recently."""
