"""Fixtures for agent tests: real hub processes on SQLite (over HTTP, or HTTPS with a private CA)
and enrolled agents."""
import shutil

import pytest
from agent_harness import HubProcess, TLSHub, enrol, make_certificates


@pytest.fixture(scope="session")
def shared_hub(tmp_path_factory):
    """One hub for tests that only add to it (each enrols its own agent)."""
    hub = HubProcess(tmp_path_factory.mktemp("shared-hub")).start()
    yield hub
    hub.close()


@pytest.fixture
def hub(tmp_path):
    """A hub of the test's own, which the test may stop and start."""
    process = HubProcess(tmp_path / "hub").start()
    yield process
    process.close()


@pytest.fixture
def agent_state(tmp_path, shared_hub):
    state = tmp_path / "agent-state"
    enrol(shared_hub, state)
    return state


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """(ca, cert, key): a private CA and a certificate for 127.0.0.1 it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed; it makes the test CA and certificate")
    return make_certificates(tmp_path_factory.mktemp("tls") / "pki")


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory, certificates):
    """A hub serving HTTPS only, with the certificate from `certificates`."""
    _, cert, key = certificates
    hub = TLSHub(tmp_path_factory.mktemp("tls-hub"), cert, key).start()
    yield hub
    hub.close()
