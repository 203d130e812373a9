"""Enrolment: a key pair made on the agent, the private key and credential encrypted at rest."""
import stat
import subprocess
import sys

import pytest

from agents.state import StateDir, StateError
from support import ROOT
from support.agents import PASSPHRASE, agent_env

pytestmark = pytest.mark.e2e


def enrol_cli(hub_url, token, state, **env):
    return subprocess.run([sys.executable, "-m", "agents.cli", "enrol", "--hub", hub_url, "--token", token,
                           "--state", str(state), "--name", "caselink-agent"],
                          cwd=ROOT, env=agent_env(**env), capture_output=True, text=True, timeout=60)


def test_enrolment_stores_an_encrypted_key_and_credential_readable_only_by_the_owner(shared_hub, tmp_path):
    state = tmp_path / "state"
    token = shared_hub.enrolment_token()
    result = enrol_cli(shared_hub.url, token, state)
    assert result.returncode == 0, result.stderr
    assert "enrolled agent" in result.stdout

    stored = StateDir(state)
    for path in (stored.credential_path, stored.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in stored.key_path.read_bytes()
    document = stored.credential_path.read_text()
    assert "cw_" not in document and token not in document and "cw_" not in result.stdout + result.stderr

    credential = stored.load_credential(PASSPHRASE)
    assert credential.org == "edinburgh"
    assert credential.api_key.startswith("cw_")
    # The hub knows the agent by the public key made here.
    assert shared_hub.orgs.agent_public_key(credential.agent_id) is not None
    assert "cw_" not in repr(credential)


def test_the_wrong_passphrase_opens_nothing(shared_hub, tmp_path):
    state = tmp_path / "state"
    assert enrol_cli(shared_hub.url, shared_hub.enrolment_token(), state).returncode == 0
    with pytest.raises(StateError, match="wrong passphrase"):
        StateDir(state).load_credential("not the passphrase at all")


def test_a_key_file_others_can_read_is_refused(shared_hub, tmp_path):
    state = tmp_path / "state"
    assert enrol_cli(shared_hub.url, shared_hub.enrolment_token(), state).returncode == 0
    (state / "agent-key.pem").chmod(0o644)
    with pytest.raises(StateError, match="chmod 600"):
        StateDir(state).load_credential(PASSPHRASE)


def test_a_used_token_is_refused_with_advice(shared_hub, tmp_path):
    token = shared_hub.enrolment_token()
    assert enrol_cli(shared_hub.url, token, tmp_path / "one").returncode == 0
    again = enrol_cli(shared_hub.url, token, tmp_path / "two")
    assert again.returncode == 2
    assert "already used or expired" in again.stderr
    assert not (tmp_path / "two" / "credential.json").exists()


def test_no_passphrase_no_enrolment(shared_hub, tmp_path):
    result = enrol_cli(shared_hub.url, shared_hub.enrolment_token(), tmp_path / "s", CAUSEWAY_AGENT_PASSPHRASE="")
    assert result.returncode == 2
    assert "CAUSEWAY_AGENT_PASSPHRASE" in result.stderr


def test_the_passphrase_may_come_from_a_file(shared_hub, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("a long passphrase from a file\n")
    result = enrol_cli(shared_hub.url, shared_hub.enrolment_token(), tmp_path / "s",
                       CAUSEWAY_AGENT_PASSPHRASE="", CAUSEWAY_AGENT_PASSPHRASE_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert StateDir(tmp_path / "s").load_credential("a long passphrase from a file").org == "edinburgh"


def test_an_unreachable_hub_is_named(tmp_path):
    from support.servers import free_port

    result = enrol_cli(f"http://127.0.0.1:{free_port()}", "cwe_0123456789abcdef_" + "x" * 43, tmp_path / "s")
    assert result.returncode == 2
    assert "cannot reach the hub" in result.stderr and "connection refused" in result.stderr


def test_enrolment_goes_through_the_configured_proxy(shared_hub, tmp_path):
    from support.proxy import ForwardProxy

    with ForwardProxy() as proxy:
        result = enrol_cli(shared_hub.url, shared_hub.enrolment_token(), tmp_path / "s",
                           HTTP_PROXY=proxy.url, NO_PROXY="")
        assert result.returncode == 0, result.stderr
        assert any("/api/v1/agents/enrol" in line for line in proxy.requests)
