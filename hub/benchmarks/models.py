"""Tables of the benchmarks domain. The figures themselves are not stored: they are computed
on every read from the returns (row sets and periodic datasets), so they never go stale."""
from sqlalchemy import Boolean, Column, DateTime, Float, String, Table, Text

from hub.db import metadata

# Groups of councils compared with each other (as the Local Government Benchmarking Framework's
# family groups: by rurality, by deprivation), configured by the hub's admin.
benchmark_groups = Table(
    "benchmark_groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("basis", String(200), nullable=True),  # what the councils have in common, e.g. "rurality"
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

benchmark_group_members = Table(
    "benchmark_group_members",
    metadata,
    Column("group_name", String(64), primary_key=True),
    Column("org", String(64), primary_key=True),
)

# Indicators a return's requesting org defines over its fields: sum(numerator) / sum(denominator) x per.
benchmark_indicators = Table(
    "benchmark_indicators",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("numerator", Text, nullable=False),  # JSON list of field names, added up
    Column("denominator", Text, nullable=False),  # JSON list of field names, or ["population"]
    Column("per", Float, nullable=False),
    Column("unit", String(100), nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# Per return, set by its requesting org: who sees other councils' figures by name
# (`requester`: only the requesting org; `councils`: every council the return is asked of).
benchmark_settings = Table(
    "benchmark_settings",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("named_figures", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)
