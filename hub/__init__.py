"""The Causeway hub: validates, stores, decides and delivers records."""
