"""Benchmarks for councils and agencies: a council's figures beside Scotland's and its family group's."""
