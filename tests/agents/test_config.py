"""agent.yaml: valid files load; every mistake is named with its line."""
import textwrap

import pytest

from agents.config import ConfigError, load_config

GOOD = """\
hub:
  url: https://causeway.example.scot
  proxy: http://proxy.council.local:3128
state_dir: state
tasks:
  - name: planning
    direction: publish
    dataset: planning-application
    connector:
      kind: spreadsheet
      options: {folder: drop}
    mapping:
      fields: {reference: Ref}
    schedule: {cron: "*/15 7-19 * * mon-fri"}
  - name: referrals-in
    direction: subscribe
    subscription: sub-123
    connector: {kind: sql, options: {url: "sqlite:///cases.db", table: referrals}}
    schedule: {interval_seconds: 60}
"""


def write(tmp_path, text):
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_a_good_file_loads_with_paths_relative_to_it(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.state_dir == tmp_path / "state"
    assert [t.name for t in config.tasks] == ["planning", "referrals-in"]
    planning = config.task("planning")
    assert (planning.dataset, planning.connector, planning.options) == ("planning-application", "spreadsheet", {"folder": "drop"})
    assert config.task("referrals-in").subscription == "sub-123"
    assert config.proxy == "http://proxy.council.local:3128"
    assert config.heartbeat_seconds == 30


def test_a_bad_cron_expression_is_named_with_its_line(tmp_path):
    found = problems(tmp_path, GOOD.replace("*/15 7-19 * * mon-fri", "every tuesday"))
    assert len(found) == 1
    assert found[0].startswith("line 14: tasks[0].schedule.cron: bad cron expression 'every tuesday'")


def test_a_missing_field_points_at_the_task(tmp_path):
    found = problems(tmp_path, GOOD.replace("    subscription: sub-123\n", ""))
    assert found == ['line 15: tasks[1]: "subscription" is a required property']


def test_a_wrong_type_points_at_the_value(tmp_path):
    found = problems(tmp_path, GOOD.replace("interval_seconds: 60", "interval_seconds: soon"))
    assert len(found) == 1 and found[0].startswith('line 19: tasks[1].schedule.interval_seconds: "soon" is not')


def test_an_unknown_key_is_refused_so_typos_are_not_ignored(tmp_path):
    found = problems(tmp_path, GOOD.replace("state_dir: state", "state_dir: state\nstate_directory: x"))
    assert found == ["line 1: top level: Additional properties are not allowed ('state_directory' was unexpected)"]


def test_duplicate_task_names_are_refused(tmp_path):
    found = problems(tmp_path, GOOD.replace("name: referrals-in", "name: planning"))
    assert found == ["line 15: tasks[1].name: task name 'planning' is already used on line 6"]


def test_every_problem_is_reported_at_once(tmp_path):
    found = problems(tmp_path, GOOD.replace("https://causeway.example.scot", "causeway").replace("publish", "push"))
    assert [p.split(":")[0] for p in found] == ["line 2", "line 6", "line 7"]


def test_broken_yaml_names_the_line(tmp_path):
    found = problems(tmp_path, GOOD.replace("    direction: subscribe", "    direction: [subscribe"))
    assert found[0].startswith("line 16: not valid YAML")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nowhere.yaml")


def test_two_tasks_cannot_read_one_subscription(tmp_path):
    extra = GOOD + """  - name: referrals-copy
    direction: subscribe
    subscription: sub-123
    connector: {kind: spreadsheet, options: {folder: inbox}}
    schedule: {interval_seconds: 60}
"""
    found = problems(tmp_path, extra)
    assert found == ["line 22: tasks[2].subscription: subscription 'sub-123' is already read by the task on line 15; "
                     "each subscribe task needs its own"]


@pytest.mark.parametrize("before, after, expected", [
    pytest.param("options: {folder: drop}", "options:\n        folder: drop\n        pattrn: '*.csv'",
                 "line 13: tasks[0].connector.options: unknown option 'pattrn'; known options: chunk_rows, ",
                 id="misspelt option"),
    pytest.param("options: {folder: drop}", "options: {folder: drop, path: one.csv}",
                 "line 11: tasks[0].connector.options: give exactly one of 'path' (one file) or 'folder' (a drop folder)",
                 id="rule between options"),
    # `key` is a sql *source* option; a subscribe task's sink does not take it.
    pytest.param("table: referrals}", "table: referrals, key: id}",
                 "line 18: tasks[1].connector.options: unknown option 'key'", id="sink options"),
    pytest.param("options: {folder: drop}", "options: {folder: drop, identity: Ref, snapshot: true,\n"
                 "        max_delete_percent: 150}",
                 "line 12: tasks[0].connector.options: option 'max_delete_percent' must be at most 100, not 150",
                 id="snapshot limit"),
    pytest.param("table: referrals}", "table: referrals, overlap_minutes: 5}",
                 "line 18: tasks[1].connector.options: unknown option 'overlap_minutes'", id="overlap is a source option"),
    pytest.param("kind: spreadsheet", "kind: caselink",
                 "line 10: tasks[0].connector.kind: unknown connector 'caselink'; installed connectors:",
                 id="unknown connector"),
])
def test_a_connector_mistake_is_named_on_its_line(tmp_path, before, after, expected):
    found = problems(tmp_path, GOOD.replace(before, after))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_connector_options_of_the_wrong_kind_are_named_on_their_lines(tmp_path):
    found = problems(tmp_path, GOOD.replace("options: {folder: drop}",
                                            "options:\n        folder: drop\n        header_row: 0\n        format: ods"))
    assert found == [
        "line 13: tasks[0].connector.options: option 'header_row' must be at least 1, not 0",
        "line 14: tasks[0].connector.options: option 'format' must be one of 'auto', 'csv', 'xlsx', not 'ods'",
    ]
