"""Fixtures for policy tests."""
import pytest


@pytest.fixture
def activate(client, auth):
    """activate(source, provider, recipient) -> agreement id, applied, approved by both sides and active."""
    def run(source: str, provider: str, recipient: str) -> str:
        response = client.post("/api/v1/agreements", json={"source": source}, headers=auth(provider, "governance"))
        assert response.status_code == 201, response.json()
        agreement_id = response.json()["id"]
        for org in (provider, recipient):
            moved = client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": "approved"},
                                headers=auth(org, "governance"))
            assert moved.status_code == 200, moved.json()
        moved = client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": "active"},
                            headers=auth(provider, "governance"))
        assert moved.json()["status"] == "active", moved.json()
        return agreement_id
    return run
