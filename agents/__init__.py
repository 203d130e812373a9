"""The Causeway agent: runs beside a council's systems, outbound connections only."""

__version__ = "0.1.0"
