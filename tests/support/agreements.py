"""Sharing agreements for tests: the examples in policies/, YAML builders, putting one in force;
and publishing and reading feeds through the API."""
from support import ROOT

POLICIES = ROOT / "policies"

REFERRAL_PUBLIC_TASK = """\
id: referral-edinburgh-glasgow
title: Referrals from Edinburgh to Glasgow under public task
providers: [edinburgh]
recipients: [glasgow]
purposes: [ServiceProvision]
lawful_basis: public-task
valid_from: 2026-01-01
valid_until: 2030-12-31
retention_days: 365
datasets:
  referral:
    fields: [referral_id, receiving_service]
    pseudonymise: [personal_details_ref]
"""

GAZETTEER_SFRS = """\
id: gazetteer-to-sfrs
title: Gazetteer addresses to the fire service
providers: [edinburgh, glasgow]
recipients: [sfrs]
purposes: [EmergencyResponse]
lawful_basis: public-task
valid_from: 2026-01-01
valid_until: 2030-12-31
retention_days: 3650
datasets:
  gazetteer-address:
    fields: [uprn, paon, street, town, postcode, status, custodian]
    conditions:
      - payload.custodian == provider
"""

# An agreement with five mistakes, one of each kind the validator reports at its line: an
# unknown org, an unknown lawful basis, a window that ends before it starts, a field the
# dataset lacks and a condition that does not parse.
FIVE_MISTAKES = """\
id: five-mistakes
title: Referrals with five mistakes
providers: [edinburgh, atlantis]
recipients: [sds]
purposes: [ServiceProvision]
lawful_basis: because
valid_from: 2026-06-01
valid_until: 2026-01-01
retention_days: 365
datasets:
  referral:
    fields: [referral_id, goalz]
    conditions:
      - payload.referring_org == == provider
"""


def example(name: str) -> str:
    return (POLICIES / f"{name}.yaml").read_text(encoding="utf-8")


def publish(client, headers, records):
    response = client.post("/api/v1/records", json={"records": records}, headers=headers)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def read_feed(client, headers, dataset, purpose, after=0):
    response = client.get(f"/api/v1/feeds/{dataset}?purpose={purpose}&after={after}&limit=1000", headers=headers)
    assert response.status_code == 200, response.json()
    return response.json()


def agreement_yaml(agreement_id: str, providers, recipients, datasets: dict, purposes=("ServiceProvision",),
                   lawful_basis: str = "public-task", title: str | None = None, valid_from: str = "2026-01-01",
                   valid_until: str = "2030-12-31", retention_days: int = 365) -> str:
    """A sharing agreement as the YAML a governance user writes; `datasets` maps each dataset
    to its terms ({"fields": [...], "conditions": [...], "pseudonymise": [...]})."""
    import yaml

    return yaml.safe_dump({
        "id": agreement_id, "title": title or f"Test agreement {agreement_id}", "providers": list(providers),
        "recipients": list(recipients), "purposes": list(purposes), "lawful_basis": lawful_basis,
        "valid_from": valid_from, "valid_until": valid_until, "retention_days": retention_days,
        "datasets": datasets,
    }, sort_keys=False)


def gazetteer_agreement(agreement_id: str, providers, recipients, purpose: str = "EmergencyResponse") -> str:
    """A public-task gazetteer agreement as YAML, each provider sharing only its own addresses."""
    return agreement_yaml(agreement_id, providers, recipients, purposes=[purpose],
                          title=f"Gazetteer addresses ({agreement_id})",
                          datasets={"gazetteer-address": {"fields": ["uprn", "street", "town", "postcode", "custodian"],
                                                          "conditions": ["payload.custodian == provider"]}})


def activate_agreement(services, source: str, parties: list[str]) -> str:
    """Write an agreement through the policy service, have every party's governance approve
    it and put it in force; returns its id. For tests that need an active agreement as a
    precondition (approval itself is tested in tests/hub/policy)."""
    from hub.auth import Principal

    def governance(org):
        return Principal(org=org, role="governance", credential_id="test")

    agreements = services.policy.agreements
    agreement_id = agreements.apply(source, governance(parties[0]), mode="create")["id"]
    for org in parties:
        agreements.transition(agreement_id, "approved", governance(org))
    assert agreements.transition(agreement_id, "active", governance(parties[0]))["status"] == "active"
    return agreement_id
