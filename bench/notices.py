"""Notice benchmark: consent withdrawn for 100 subjects, each notice delivered to its
recipients' webhooks while nothing else is published.

Every part runs in its own process, as in production: the hub (`causeway-hub serve`
with its in-process delivery worker), 10 webhook receivers (the test suite's
receiver: it verifies every signature, de-duplicates by webhook-id and stores what
it gets), and this script as the governance client going through the HTTP API.

Ten agencies receive referrals from one council under consent (one agreement, one
webhook subscription per agency). N referrals (default 100, one per subject, each
subject consenting to all ten agencies) are published and delivered, so each agency
holds every subject's record. Then the subscribers are left idle, and consent is
withdrawn for every subject, one API call after the other: each withdrawal makes one
`consent.withdrawn` notice per agency. Prints the withdrawal rate, and the notice
delivery latency p50/p99/max (from the moment the hub appended the notice, its
CloudEvent `time`, to its arrival at the receiver) over all notices (aim: p99 < 2 s).

It runs twice, with new subjects: subscriptions in batch mode (as in bench/fanout.py),
then subscriptions that take one event per request.

    python bench/notices.py [--subjects 100] [--db URL]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import requests
import yaml
from fanout import (  # also puts the repository on sys.path
    RECEIVERS,
    Hub,
    Receivers,
    floor,
    parse_time,
    percentile,
    wait_for,
)
from results import record

AGENCIES = [f"agency-{i:02d}" for i in range(RECEIVERS)]
PURPOSE = "ServiceProvision"
NOTICE = "uk.causeway.consent.withdrawn"


def subject(n: int) -> str:
    return f"subj-{n:04d}"


def prepare(db_url: str, subjects: int) -> tuple[dict, list[str]]:
    """A migrated database: the council, ten agencies, their keys, an active consent agreement,
    and each subject's consent to all ten. Returns the keys and the consent ids."""
    from causeway_common.catalogue import load_catalogue
    from hub.app import build_services
    from hub.config import Settings
    from hub.db import make_engine
    from hub.migrate import upgrade
    from hub.records.service import sync_catalogue

    engine = make_engine(db_url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    services = build_services(Settings(db_url=db_url), engine=engine)
    services.orgs.add_org("edinburgh", "Edinburgh", "council")
    for slug in AGENCIES:
        services.orgs.add_org(slug, slug, "agency")
    keys = {"publisher": services.orgs.issue_key("edinburgh", "publisher"),
            "governance": services.orgs.issue_key("edinburgh", "governance"),
            **{slug: services.orgs.issue_key(slug, "subscriber") for slug in AGENCIES}}
    governance = {org: services.orgs.authenticate(services.orgs.issue_key(org, "governance"))
                  for org in ["edinburgh", *AGENCIES]}
    document = {"id": "bench-referrals", "title": "bench", "providers": ["edinburgh"], "recipients": AGENCIES,
                "purposes": [PURPOSE], "lawful_basis": "consent", "valid_from": "2020-01-01",
                "valid_until": "2099-12-31", "retention_days": 365,
                "datasets": {"referral": {"fields": ["referral_id", "receiving_service", "goals"]}}}
    agreements = services.policy.agreements
    agreements.apply(yaml.safe_dump(document), governance["edinburgh"])
    for org in ["edinburgh", *AGENCIES]:  # every party approves
        if agreements.get("bench-referrals", governance["edinburgh"])["status"] == "draft":
            agreements.transition("bench-referrals", "approved", governance[org])
    agreements.transition("bench-referrals", "active", governance["edinburgh"])
    consents = [services.policy.consents.give({
        "subject": subject(n), "purpose": PURPOSE, "recipients": AGENCIES, "method": "signed form",
        "evidence_ref": f"EV-{n}", "given_at": "2026-01-05T10:00:00Z"}, governance["edinburgh"])["id"]
        for n in range(subjects)]
    services.engine.dispose()
    return keys, consents


def referrals(subjects: range) -> list[dict]:
    from causeway_common.catalogue import load_catalogue

    example = load_catalogue()["referral"].schemas[3]["examples"][0]
    made = []
    for n in subjects:  # each subject referred to every agency: a referral reaches its addressee only
        for agency in AGENCIES:
            payload = dict(example, referral_id=f"REF-{n:05d}-{agency}", referring_org="edinburgh", receiving_org=agency)
            made.append({"id": str(uuid.uuid4()), "dataset": "referral", "schema_version": 3,
                         "key": payload["referral_id"], "op": "upsert", "subject": subject(n),
                         "occurred_at": "2026-11-02T09:30:00Z", "payload": payload})
    return made


def measure(hub: Hub, receivers: Receivers, keys: dict, consents: list[str], subjects: range, batch: bool,
            idle: float, name: str) -> None:
    """One webhook subscription per agency (batch or one event per request); the subjects' referrals
    delivered; idle; then every subject's consent withdrawn. Prints the notice latency."""
    subs = []
    for i, org in enumerate(AGENCIES):
        sub = hub.post("/subscriptions", keys[org], {"dataset": "referral", "purpose": PURPOSE, "channel": "webhook",
                                                     "url": receivers.url(i, name), "batch": batch, "start": "now"})
        receivers.control(i, secrets={name: sub["secret"], "floor": sub["secret"]})
        subs.append((org, sub["id"], sub["secret"]))
    held = receivers.count()
    hub.post("/records", keys["publisher"], {"records": referrals(subjects)})
    wait_for(held + len(subjects) * RECEIVERS, receivers.count, timeout=300)
    mode = "batch" if batch else "one event per request"
    print(f"{len(subjects)} referrals delivered to each of {RECEIVERS} agencies ({mode}); subscribers idle for "
          f"{idle:g} s", flush=True)
    time.sleep(idle)

    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {keys['governance']}"}
    made = 0
    started = time.perf_counter()
    for consent_id in consents:
        response = session.post(f"{hub.url}/consents/{consent_id}/withdraw", headers=headers, timeout=60)
        response.raise_for_status()
        made += len(response.json()["notices"])
    withdrawing = time.perf_counter() - started
    expected = len(subjects) * RECEIVERS
    if made != expected:
        raise SystemExit(f"expected {expected} notices, the withdrawals made {made}")
    wait_for(held + len(subjects) * RECEIVERS + expected, receivers.count, timeout=300, interval=0.05)
    latencies, appended, received = [], [], []
    for i in range(RECEIVERS):
        notices = {e["id"] for e in receivers.events(i, name) if e["type"] == NOTICE}
        for event_id, at, sent in receivers.arrivals(i, name):
            if event_id in notices:
                latencies.append(at - parse_time(sent))
                appended.append(parse_time(sent))
                received.append(at)
    if len(latencies) != expected:
        raise SystemExit(f"{len(latencies)} notices arrived, {expected} expected")
    # The floor: the same notice bodies posted to the same receivers by a bare loop (one thread per
    # receiver, no database, no policy), as the hub sends them (one batch, or one event per request).
    events = [e for e in receivers.events(0, name) if e["type"] == NOTICE]
    events = [{k: v for k, v in e.items() if not k.startswith("_")} for e in events]
    bodies = [json.dumps(events if batch else event, separators=(",", ":")).encode("utf-8")
              for event in (events[:1] if batch else events)]
    floor_s, _ = floor(receivers, bodies, [secret for _, _, secret in subs])
    print(f"  withdrawals: {len(subjects)} through the HTTP API in {withdrawing:.1f} s "
          f"= {len(subjects) / withdrawing:,.0f}/s, {expected} notices ({RECEIVERS} per withdrawal)")
    print(f"  notice delivery latency ({mode}), appended to received, over {expected} notices to {RECEIVERS} idle "
          f"webhook subscribers: p50 {percentile(latencies, 50) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (aim p99 < 2000 ms)",
          flush=True)
    print(f"  the hub delivered them all {max(received) - min(appended):.1f} s after the first was appended "
          f"(withdrawals took {withdrawing:.1f} s); floor: a bare loop of posts delivers the same notices to the same "
          f"receivers in {floor_s:.2f} s", flush=True)
    record(f"notices p99, {mode}", percentile(latencies, 99) * 1000, "ms", aim_max=2000)
    for org, sub_id, _ in subs:
        response = requests.delete(f"{hub.url}/subscriptions/{sub_id}", timeout=30,
                                   headers={"Authorization": f"Bearer {keys[org]}"})
        response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds the subscribers sit idle before the withdrawals")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="causeway-notices-"))
    db_url = args.db or f"sqlite:///{workdir / 'hub.db'}"
    # One key file seals secrets for the set-up here and the hub process alike.
    os.environ["CAUSEWAY_SECRETS_KEY_FILE"] = str(workdir / "secrets-key")
    keys, consents = prepare(db_url, 2 * args.subjects)
    receivers = Receivers(workdir)
    env = {**os.environ, "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32"}
    hub = Hub(db_url, workdir, env)
    print(f"hub pid {hub.proc.pid}; work files in {workdir}", flush=True)
    try:
        # Batch subscribers first (as in bench/fanout.py), then one event per request.
        for phase, batch in enumerate((True, False)):
            subjects = range(phase * args.subjects, (phase + 1) * args.subjects)
            measure(hub, receivers, keys, consents[phase * args.subjects:(phase + 1) * args.subjects], subjects,
                    batch, args.idle, f"hub{phase}")
    finally:
        hub.stop()
        receivers.stop()


if __name__ == "__main__":
    main()
