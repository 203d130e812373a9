"""docs/alerting-rules.yml: valid for Prometheus (`promtool check rules`), behaving as its
unit tests say (`promtool test rules`: each condition fires when it should and not before),
and naming only metrics the hub's /metrics exposes."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.alerts.registry import RULES as HUB_RULES
from hub.app import build_services
from hub.config import Settings
from hub.db import make_engine
from hub.migrate import upgrade

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "docs" / "alerting-rules.yml"
RULE_TESTS = Path(__file__).parent / "alerting-rules.test.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool (Debian package prometheus) is missing: run scripts/ensure-test-servers.sh as root")
    return found


def test_the_rules_are_valid_and_pass_their_unit_tests():
    check = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True,
                          timeout=120)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "SUCCESS" in test.stdout


def test_every_alert_of_the_hub_has_a_prometheus_rule_and_each_rule_a_test():
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["labels"]["rule"] for r in rules} == set(HUB_RULES)
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
              for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert tested == {r["alert"] for r in rules}


def test_the_rules_name_only_metrics_the_hub_exposes(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(make_engine(url))
    services = build_services(Settings(db_url=url))
    exposed = set(re.findall(r"^# TYPE (\S+)", services.metrics.exposition().decode(), re.M))
    exposed |= {f"{name}_total" for name in exposed}  # counters are named without _total in TYPE lines
    named = set(re.findall(r"\bcauseway_[a-z_]+", "\n".join(
        r["expr"] for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"])))
    assert named and named <= exposed, f"not on /metrics: {sorted(named - exposed)}"
    services.engine.dispose()
