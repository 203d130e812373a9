"""Must show: a gazetteer re-exported in full into a drop folder, in snapshot mode. The hub
deletes exactly the addresses removed from the export and receives only what changed; a
truncated export is refused (moved to failed/ with the reason, kept in rejects) and deletes
nothing, until an operator puts it back and accepts its deletes for one run."""
import shutil

import pytest

from agents.outbox import Outbox
from support.agents import GAZETTEER_HEADER, enrol, gazetteer_line, gazetteer_task, run_agent, write_config

pytestmark = pytest.mark.e2e


def write_export(path, numbers, changed=()):
    lines = [GAZETTEER_HEADER]
    for n in numbers:
        line = gazetteer_line(n)
        if n in changed:
            line = line.replace(",Edinburgh,", ",Leith,")
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def uprn(n: int) -> str:
    return str(906000000 + n)


@pytest.fixture
def snapshot_agent(hub, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    state = tmp_path / "state"
    enrol(hub, state)

    def configure(**options):
        task = gazetteer_task(drop, interval=300, identity="UPRN", snapshot=True, **options)
        return write_config(tmp_path / "agent.yaml", hub.url, state, [task])

    return drop, state, configure


def run_once(config):
    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_full_export_deletes_exactly_the_removed_keys_and_sends_only_changes(hub, snapshot_agent):
    drop, _, configure = snapshot_agent
    config = configure()
    write_export(drop / "gazetteer-2026-11-30.csv", range(40))
    checked = run_agent(config, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not list(snapshot_agent[1].rglob("snapshot-keys.sqlite"))  # a dry run leaves no key state behind
    run_once(config)
    assert set(hub.current("gazetteer-address")) == {uprn(n) for n in range(40)}
    assert list(snapshot_agent[1].rglob("snapshot-keys.sqlite"))
    sent_before = len(hub.records("gazetteer-address"))

    # The next day's export: 3 and 7 were removed, 5 changed town, 40 is new; the rest is as it was.
    write_export(drop / "gazetteer-2026-12-01.csv", [n for n in range(41) if n not in (3, 7)], changed={5})
    run_once(config)

    current = hub.current("gazetteer-address")
    assert set(current) == {uprn(n) for n in range(41) if n not in (3, 7)}
    assert current[uprn(5)]["town"] == "Leith"
    new = hub.records("gazetteer-address")[sent_before:]
    assert sorted((r["op"], r["key"]) for r in new) == [("delete", uprn(3)), ("delete", uprn(7)),
                                                      ("upsert", uprn(5)), ("upsert", uprn(40))]
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["gazetteer-2026-11-30.csv",
                                                                      "gazetteer-2026-12-01.csv"]


def test_a_truncated_export_is_refused_and_deletes_nothing_until_the_limit_is_raised(hub, snapshot_agent, tmp_path):
    drop, state, configure = snapshot_agent
    config = configure()
    write_export(drop / "gazetteer-2026-11-30.csv", range(40))
    run_once(config)

    # The export job was killed a quarter of the way through: 30 of the 40 addresses are missing.
    write_export(drop / "gazetteer-2026-12-01.csv", range(10))
    run_once(config)
    assert set(hub.current("gazetteer-address")) == {uprn(n) for n in range(40)}
    assert not [r for r in hub.records("gazetteer-address") if r["op"] == "delete"]
    refused = drop / "failed" / "gazetteer-2026-12-01.csv"
    assert refused.exists()
    reason = (drop / "failed" / "gazetteer-2026-12-01.csv.reason.txt").read_text()
    assert "refused as a snapshot: it would delete 30 of the 40 keys sent before (75.0%)" in reason
    assert "more than max_delete_percent (10%), so nothing was deleted" in reason
    rejects = Outbox(state / "outbox.sqlite").rejects()
    assert [r["location"] for r in rejects] == [{"file": "gazetteer-2026-12-01.csv"}]
    status = run_agent(config, "status", "--rejects")
    assert "refused as a snapshot" in status.stdout

    # The council confirms the 30 addresses really went: put the file back and accept its deletes once.
    shutil.move(refused, drop / refused.name)
    needs_task = run_agent(config, "run", "--once", "--accept-deletes")
    assert needs_task.returncode == 2 and "--accept-deletes goes with --once and --task NAME" in needs_task.stderr
    accepted = run_agent(config, "run", "--once", "--task", "gazetteer", "--accept-deletes")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert set(hub.current("gazetteer-address")) == {uprn(n) for n in range(10)}
    assert len([r for r in hub.records("gazetteer-address") if r["op"] == "delete"]) == 30


def test_snapshot_needs_an_identity(hub, snapshot_agent, tmp_path):
    drop, state, _ = snapshot_agent
    task = gazetteer_task(drop, interval=300, snapshot=True)
    config = write_config(tmp_path / "no-identity.yaml", hub.url, state, [task])
    write_export(drop / "gazetteer.csv", range(3))
    result = run_agent(config, "run", "--once")
    assert result.returncode == 1
    assert "option 'snapshot' needs 'identity'" in result.stdout + result.stderr
    assert hub.current("gazetteer-address") == {}
