"""The catalogue of datasets and the append-only record log."""
