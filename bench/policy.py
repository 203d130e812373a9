"""Decision-point benchmark: decisions/s against the floor, in one run.

Sets up a hub database (SQLite in a temporary folder by default) with 50 active
multi-party agreements, each approved by every party it names (the gazetteer
agreement of 32 councils to the emergency services, and 49 referral agreements
under consent, each of three councils to two agencies, with pseudonymised,
generalised and conditioned fields, so a council's records have several candidate
agreements) and 100,000 consents imported through the CSV import. Then
decides records for recipients in batches through `decide_many` (the hot path a
feed read or a delivery takes, including its one check for policy changes per
batch), and runs the same loop with the decision replaced by a dict lookup (the
floor). Prints both rates and their ratio.

    python bench/policy.py [--decisions 300000] [--batch 1000] [--db URL]
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from causeway_common.catalogue import load_catalogue  # noqa: E402
from hub.app import build_services  # noqa: E402
from hub.auth import Principal  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.db import make_engine  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.records.service import sync_catalogue  # noqa: E402

CONSENTS = 100_000
ADDRESSEES = ["sds", "improvement-service"]  # whom each referral names (it reaches that org only)
AT = datetime(2026, 9, 1, tzinfo=timezone.utc)
OPERATOR = Principal(org="causeway", role="admin", credential_id="bench")


def governance(org):
    return Principal(org=org, role="governance", credential_id=f"bench-{org}")


def referral_agreement(number: int, providers: list[str], recipients: list[str]) -> str:
    return yaml.safe_dump({
        "id": f"referral-group-{number:02d}", "title": f"Referrals from {', '.join(providers)}",
        "providers": providers, "recipients": recipients, "purposes": ["ServiceProvision"],
        "lawful_basis": "consent", "valid_from": "2026-01-01", "valid_until": "2027-12-31", "retention_days": 365,
        "datasets": {"referral": {
            "fields": ["referral_id", "referring_org", "receiving_service", "qualifications", "goals",
                       "reason_for_referral", "referred_at"],
            "pseudonymise": ["personal_details_ref"],
            "generalise": {"date_of_birth": "year", "postcode": "district"},
            "conditions": ["payload.referring_org == provider"]}},
    }, sort_keys=False)


def set_up(url: str):
    engine = make_engine(url)
    upgrade(engine)
    catalogue = load_catalogue()
    sync_catalogue(engine, catalogue)
    engine.dispose()
    services = build_services(Settings(db_url=url))
    orgs = yaml.safe_load((ROOT / "policies" / "orgs.yaml").read_text())
    for org in orgs:
        services.orgs.ensure_org(org["slug"], org["name"], org["kind"], actor="bench")
    councils = [o["slug"] for o in orgs if o["kind"] == "council"]
    policy = services.policy

    def enact(source: str) -> None:
        """Apply, approve as every provider and every recipient, and activate."""
        result = policy.agreements.apply(source, OPERATOR)
        document = yaml.safe_load(source)
        for org in dict.fromkeys(document["providers"] + document["recipients"]):
            policy.agreements.transition(result["id"], "approved", governance(org))
        policy.agreements.transition(result["id"], "active", governance(document["providers"][0]))

    enact((ROOT / "policies" / "gazetteer-emergency-services.yaml").read_text())
    for number in range(49):
        providers = [councils[(number + i) % len(councils)] for i in range(3)]
        enact(referral_agreement(number, providers, ["sds", "improvement-service"]))

    rng = random.Random(11)
    subjects = {}
    for start in range(0, CONSENTS, 50_000):
        by_council: dict[str, list[str]] = {}
        for n in range(start, start + 50_000):
            council = councils[n % len(councils)]
            subject = f"psn-{n:08d}"
            subjects.setdefault(council, []).append(subject)
            by_council.setdefault(council, []).append(
                f"{subject},ServiceProvision,sds improvement-service,signed form,EV-{n},2026-0{1 + n % 6}-01T09:00:00Z,")
        for council, rows in by_council.items():
            text = "subject,purpose,recipients,method,evidence_ref,given_at,expires_at\n" + "\n".join(rows) + "\n"
            result = policy.consents.import_csv(text, OPERATOR, controller=council)
            assert result["rejected"] == 0, result["rows"][:3]
    return services, councils, subjects, rng, catalogue


def make_records(councils, subjects, rng, catalogue, count: int) -> list[dict]:
    referral = catalogue["referral"].schemas[3]["examples"][0]
    gazetteer = catalogue["gazetteer-address"].schemas[1]["examples"][0]
    made = []
    for n in range(count):
        council = rng.choice(councils)
        if rng.random() < 0.8:
            payload = copy.deepcopy(referral)
            payload["referral_id"] = f"REF-{n:08d}"
            payload["referring_org"] = council if rng.random() < 0.95 else "sds"
            payload["receiving_org"] = rng.choice(ADDRESSEES)
            subject = rng.choice(subjects[council]) if rng.random() < 0.9 else f"unknown-{n}"
            made.append({"id": f"r-{n}", "dataset": "referral", "schema_version": 3, "key": payload["referral_id"],
                         "op": "upsert", "publisher": council, "occurred_at": "2026-08-01T00:00:00Z",
                         "payload": payload, "subject": subject})
        else:
            payload = dict(gazetteer, uprn=str(100000 + n), custodian=council)
            made.append({"id": f"g-{n}", "dataset": "gazetteer-address", "schema_version": 1, "key": payload["uprn"],
                         "op": "upsert", "publisher": council, "occurred_at": "2026-08-01T00:00:00Z", "payload": payload})
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{folder}/bench.db"
        started = time.perf_counter()
        services, councils, subjects, rng, catalogue = set_up(url)
        print(f"set-up: 50 active multi-party agreements, {CONSENTS:,} consents in {time.perf_counter() - started:.1f} s")
        records = make_records(councils, subjects, rng, catalogue, 20_000)
        batches = [records[i:i + args.batch] for i in range(0, len(records), args.batch)]
        recipients = [("sds", "ServiceProvision"), ("improvement-service", "ServiceProvision"), ("sfrs", "EmergencyResponse")]
        policy = services.policy
        policy.refresh()

        def run(decide) -> tuple[float, int]:
            done, allowed, began = 0, 0, time.perf_counter()
            while done < args.decisions:
                for batch in batches:
                    for recipient, purpose in recipients:
                        results = decide(batch, recipient, purpose)
                        allowed += sum(1 for r in results if r)
                        done += len(batch)
                        if done >= args.decisions:
                            break
                    if done >= args.decisions:
                        break
            return done / (time.perf_counter() - began), allowed

        def decide(batch, recipient, purpose):
            return [d.allowed for d in policy.decide_many(batch, recipient, purpose, AT)]

        floor_table = {(r["publisher"], r["dataset"]): True for r in records}

        def floor(batch, recipient, purpose):
            return [floor_table.get((r["publisher"], r["dataset"])) for r in batch]

        cold, _ = run(decide)  # the first pass also fills the pseudonym memo
        rate, allowed = run(decide)
        floor_rate, _ = run(floor)
        print(f"decide_many: {rate:,.0f} decisions/s warm, {cold:,.0f} on the first pass "
              f"({allowed / args.decisions:.0%} allowed, batches of {args.batch}, {services.engine.dialect.name})")
        print(f"floor (dict lookup): {floor_rate:,.0f} lookups/s")
        print(f"ratio decide/floor: {rate / floor_rate:.3f}; target at least 100,000 decisions/s: "
              f"{'met' if rate >= 100_000 else 'NOT met'}")
        record("policy decisions", rate, "decisions/s", aim_min=100_000)
        services.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
