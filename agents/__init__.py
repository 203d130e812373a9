"""The Causeway agent: runs beside a council's systems, outbound connections only."""
