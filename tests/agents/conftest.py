"""Fixtures for agent tests: real hub processes on SQLite and enrolled agents."""
import pytest

from support.agents import AgentHub, enrol


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
