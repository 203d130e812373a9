"""Create or upgrade the database schema with Alembic (idempotent)."""
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def upgrade(engine: Engine) -> None:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        # Each domain keeps its own branch of migrations off the core one.
        command.upgrade(config, "heads")


def is_current(engine: Engine) -> bool:
    """True when every migration has been applied."""
    heads = set(ScriptDirectory.from_config(_config()).get_heads())
    with engine.connect() as conn:
        applied = set(MigrationContext.configure(conn).get_current_heads())
    return heads == applied
