"""Must show: against a hub serving HTTPS with a certificate from a private CA, an agent
given that CA (hub.ca_bundle or --ca-bundle) enrols and publishes; without it, enrolment
and publishing fail with a message naming the certificate, and nothing reaches the hub."""
import subprocess
import sys

import certifi
import pytest
import yaml

from support import ROOT
from support.agents import agent_env, gazetteer_task, run_agent, write_gazetteer_csv

pytestmark = pytest.mark.e2e

# Neither the system store nor an inherited bundle may make the hub's certificate trusted by accident.
NO_INHERITED_CA = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "NO_PROXY": "*"}

def agent_config(path, hub_url, state, drop, ca_bundle=None):
    hub = {"url": hub_url, "timeout_seconds": 5}
    if ca_bundle:
        hub["ca_bundle"] = str(ca_bundle)
    document = {"hub": hub, "state_dir": str(state), "heartbeat_seconds": 5,
                "sender": {"max_backoff_seconds": 1}, "tasks": [gazetteer_task(drop, interval=300)]}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def agent(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT, env=agent_env(**NO_INHERITED_CA),
                          capture_output=True, text=True, timeout=timeout)


def assert_clear_certificate_failure(result):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "certificate" in output, output
    assert "ca_bundle" in output, output  # the advice: where to name the CA
    assert "Traceback" not in output, output


def test_an_agent_given_the_private_ca_enrols_and_publishes_over_https(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "addresses.csv", rows=3)
    state = tmp_path / "state"
    config = agent_config(tmp_path / "agent.yaml", tls_hub.url, state, drop, ca_bundle=ca)
    before = len(tls_hub.records("gazetteer-address"))

    enrolled = agent("enrol", "-c", str(config), "--token", tls_hub.enrolment_token(), "--name", "tls-agent")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert tls_hub.url in enrolled.stdout

    # A machine-wide bundle in the environment (which does not hold the private CA) must not
    # override the one named in agent.yaml.
    published = run_agent(config, "run", "--once", timeout=60, REQUESTS_CA_BUNDLE=certifi.where(),
                          CURL_CA_BUNDLE="", NO_PROXY="*")
    assert published.returncode == 0, published.stdout + published.stderr
    assert len(tls_hub.records("gazetteer-address")) == before + 3
    assert set(tls_hub.current("gazetteer-address")) >= {"906000000", "906000001", "906000002"}


def test_the_ca_bundle_may_be_given_on_the_enrol_command_line(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    result = agent("enrol", "--hub", tls_hub.url, "--token", tls_hub.enrolment_token(), "--state",
                   str(tmp_path / "state"), "--name", "tls-agent", "--ca-bundle", str(ca))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "state" / "credential.json").exists()


def test_without_the_private_ca_the_agent_names_the_certificate_and_publishes_nothing(tls_hub, certificates,
                                                                                       tmp_path):
    ca, _, _ = certificates
    token = tls_hub.enrolment_token()
    refused = agent("enrol", "--hub", tls_hub.url, "--token", token, "--state", str(tmp_path / "refused"),
                    "--name", "tls-agent")
    assert_clear_certificate_failure(refused)
    assert not (tmp_path / "refused" / "credential.json").exists()

    # An agent enrolled with the CA, whose agent.yaml then lacks it: the run fails and nothing is published.
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "addresses.csv", rows=3, start=500)
    state = tmp_path / "state"
    with_ca = agent_config(tmp_path / "with-ca.yaml", tls_hub.url, state, drop, ca_bundle=ca)
    enrolled = agent("enrol", "-c", str(with_ca), "--token", token, "--name", "tls-agent")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    before = len(tls_hub.records("gazetteer-address"))

    without_ca = agent_config(tmp_path / "without-ca.yaml", tls_hub.url, state, drop)
    result = run_agent(without_ca, "run", "--once", timeout=60, **NO_INHERITED_CA)
    assert_clear_certificate_failure(result)
    assert len(tls_hub.records("gazetteer-address")) == before
    assert "906000500" not in tls_hub.current("gazetteer-address")
