"""The migration graph says where the next migration goes: each domain's branch ends in one
head carrying the domain's label, and databases migrated before the labels upgrade as before
(Alembic stores revision ids only)."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from hub.db import make_engine
from hub.migrate import _config, is_current, upgrade

DOMAINS = {"agentconfig", "alerts", "benchmarks", "console", "delivery", "health", "notices", "opendata", "policy", "records",
           "returns"}


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def test_every_head_is_one_domains_labelled_head():
    heads = script().get_revisions("heads")
    labels = [label for head in heads for label in head.branch_labels]
    assert sorted(labels) == sorted(DOMAINS), "each head carries exactly its domain's label"
    for domain in DOMAINS:
        (head,) = script().get_revisions(f"{domain}@head")  # one head per domain: the next one's parent
        assert domain in head.branch_labels


def test_a_database_migrated_before_the_labels_upgrades_to_every_head(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002_policy")  # an older hub: core and policy only
    upgrade(engine)
    assert is_current(engine)
    with engine.connect() as conn:
        stored = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    assert stored == {head.revision for head in script().get_revisions("heads")}
    upgrade(engine)  # and again: nothing to do
    assert is_current(engine)
    engine.dispose()
