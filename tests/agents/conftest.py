"""Fixtures for agent tests: real hub processes on SQLite (over HTTP, or HTTPS with a private CA)
and enrolled agents."""
import shutil

import pytest

from support.agents import AgentHub, enrol
from support.tls import make_certificates


@pytest.fixture(scope="session")
def shared_hub(tmp_path_factory):
    """One hub for tests that only add to it (each enrols its own agent)."""
    hub = AgentHub(tmp_path_factory.mktemp("shared-hub")).start()
    yield hub
    hub.close()


@pytest.fixture
def hub(tmp_path):
    """A hub of the test's own, which the test may stop and start."""
    process = AgentHub(tmp_path / "hub").start()
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
    ca, cert, key = certificates  # `causeway-hub serve --tls-cert --tls-key`: the same hub, over HTTPS only
    hub = AgentHub(tmp_path_factory.mktemp("tls-hub"), extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
                   ca_bundle=str(ca)).start()
    yield hub
    hub.close()
