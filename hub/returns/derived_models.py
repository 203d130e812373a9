"""The table of returns derived from records ("collect once"): per council row set, what the
hub computed from the council's records, with the records behind every figure."""
from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from hub.db import BigInt, metadata

# One row per derived row set (return_submissions.id). `basis` is the computation the draft's
# rows were last set from ({rows, lineage, not_counted} as JSON); `newer` a later computation
# that was not applied, because the council had edited the draft by hand or had already
# submitted it (the council decides whether to take it). `source_seq` is the last record-log
# seq of the council's source records that the basis read.
return_derivations = Table(
    "return_derivations",
    metadata,
    Column("submission_id", Integer, primary_key=True, autoincrement=False),
    Column("source_dataset", String(100), nullable=False),
    Column("source_seq", BigInt, nullable=False),
    # The last seq any computation for this set read (the basis's, or a newer one not applied).
    Column("checked_seq", BigInt, nullable=False),
    Column("records_read", Integer, nullable=False),
    # The set's revision the basis was applied as: a later revision is the council's own edit.
    Column("applied_revision", Integer, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("computed_by", String(200), nullable=False),
    Column("basis", Text, nullable=False),
    Column("newer", Text, nullable=True),  # JSON: {source_seq, computed_at, rows, lineage, not_counted, why}
)
