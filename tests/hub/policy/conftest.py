"""Fixtures for policy tests."""
import pytest
import yaml


@pytest.fixture
def activate(client, auth):
    """activate(source, provider, recipient) -> agreement id: applied by `provider`, approved by
    every party the source names, and put in force by `provider`."""
    def run(source: str, provider: str, recipient: str) -> str:
        response = client.post("/api/v1/agreements", json={"source": source}, headers=auth(provider, "governance"))
        assert response.status_code == 201, response.json()
        agreement_id = response.json()["id"]
        document = yaml.safe_load(source)
        parties = [provider, recipient] + sorted(set(document["providers"]) | set(document["recipients"]))
        for org in dict.fromkeys(parties):
            moved = client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": "approved"},
                                headers=auth(org, "governance"))
            assert moved.status_code == 200, moved.json()
        moved = client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": "active"},
                            headers=auth(provider, "governance"))
        assert moved.json()["status"] == "active", moved.json()
        return agreement_id
    return run
