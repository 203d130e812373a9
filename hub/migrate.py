"""Create or upgrade the database schema with Alembic (idempotent)."""
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        # Each domain keeps its own branch of migrations off the core one.
        command.upgrade(config, "heads")
