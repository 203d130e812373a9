"""Alembic environment: the hub runs migrations itself (causeway-hub init)."""
from alembic import context

from hub.models import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    raise RuntimeError("run migrations through `causeway-hub init`, which passes the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
