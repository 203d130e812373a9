"""Property: over random orgs, agreements (several providers and recipients each, parties added
and removed between versions), partial approvals, moves by parties and outsiders, consents,
objections, records, dry runs and orders of events, the decision point agrees with a simply
written oracle; no record is allowed under a version that some party named in it has not
approved; and no delivered payload holds a field outside the allow-list or a field it should
have pseudonymised."""
import hashlib
import hmac
import itertools
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub import sealing
from hub.auth import Principal
from hub.db import utcnow
from hub.errors import HubError
from hub.policy.models import agreement_approvals
from hub.policy.models import agreements as agreements_table
from support.factories import example_payload

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
PURPOSES = ["ServiceProvision", "EmergencyResponse"]
DAYS = [-20, -10, 0, 10, 20, 30]
SUBJECTS = ["subj-a", "subj-b"]
PSEUDONYM = re.compile(r"^ps_[0-9a-f]{32}$")
DATASETS = {"referral": "referral_id", "gazetteer-address": "uprn"}
VERSIONS = {"referral": 3, "gazetteer-address": 1}  # referral 3: the first version to name its addressee
FIELDS = {name: list(example_payload(name, VERSIONS[name])) + (["saon"] if name == "gazetteer-address" else [])
          for name in DATASETS}
FIELDS["referral"] = sorted(set(FIELDS["referral"]) | {"consent_reference", "date_of_birth", "postcode"})
GENERALISE = {"referral": {"date_of_birth": "year", "postcode": "district", "referred_at": "month"},
              "gazetteer-address": {"postcode": "district", "last_updated": "year"}}
CONDITIONS = {"referral": ["payload.referring_org == provider", "payload.benefit_duration_months >= 12"],
              "gazetteer-address": ["payload.custodian == provider", 'payload.status in ["approved", "provisional"]']}
_run = itertools.count()


# -- the oracle: written plainly, sharing nothing with hub.policy but the pseudonym formula --
def oracle_condition(text, payload, provider):
    if text == "payload.referring_org == provider":
        return payload.get("referring_org") == provider
    if text == "payload.benefit_duration_months >= 12":
        value = payload.get("benefit_duration_months")
        return isinstance(value, int) and value >= 12
    if text == "payload.custodian == provider":
        return payload.get("custodian") == provider
    if text == 'payload.status in ["approved", "provisional"]':
        return payload.get("status") in ("approved", "provisional")
    raise AssertionError(text)


def oracle_pseudonym(key: bytes, value) -> str:
    """Text as it is; anything else as its canonical JSON (sorted keys, no spaces)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "ps_" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def oracle_generalise(method, value):
    if method == "year":
        return value[:4]
    if method == "month":
        return value[:7]
    return value.split(" ")[0]  # the example postcodes are written with their space


def oracle_project(spec, payload, key):
    out = {f: payload[f] for f in spec["fields"] if f in payload}
    for f in spec.get("pseudonymise", []):
        if f in payload:
            out[f] = oracle_pseudonym(key, payload[f])
    for f, method in spec.get("generalise", {}).items():
        if f in payload:
            out[f] = oracle_generalise(method, payload[f])
    return out


class Oracle:
    def __init__(self):
        self.agreements = {}  # id -> list of {"doc", "status", "approvals"}
        self.consents = []
        self.objections = []

    # lifecycle, as the governance guide describes it
    def apply(self, doc):
        versions = self.agreements.setdefault(doc["id"], [])
        if versions and versions[-1]["doc"] == doc:
            return
        for v in versions:
            if v["status"] in ("draft", "approved"):
                v["status"] = "retired"
        versions.append({"doc": doc, "status": "draft", "approvals": set()})

    def _in_force(self, versions):
        return next((v for v in reversed(versions) if v["status"] in ("active", "suspended")), None)

    @staticmethod
    def parties(v):
        return set(v["doc"]["providers"]) | set(v["doc"]["recipients"])

    def approve(self, agreement_id, org) -> bool:
        """Every party named in the version, each for itself, approves that version."""
        v = self.agreements[agreement_id][-1]
        if v["status"] != "draft" or org not in self.parties(v):
            return False
        v["approvals"].add(org)
        if v["approvals"] >= self.parties(v):
            v["status"] = "approved"
        return True

    def move(self, agreement_id, to, actor=None) -> bool:
        """`actor` None: the hub operator (admin); otherwise an org, which acts only on versions naming it."""
        versions = self.agreements[agreement_id]
        in_force = self._in_force(versions)
        if to == "active":
            v = versions[-1] if versions[-1]["status"] == "approved" or in_force is None else in_force
            if actor is not None and actor not in self.parties(v):
                return False
            if v["status"] not in ("approved", "suspended"):
                return False
            if v["status"] == "approved":
                for other in versions:
                    if other is not v and other["status"] in ("active", "suspended"):
                        other["status"] = "retired"
        else:
            v = in_force or versions[-1]
            if actor is not None and actor not in self.parties(v):
                return False
            allowed = {"suspended": ("active",), "retired": ("draft", "approved", "active", "suspended")}[to]
            if v["status"] not in allowed:
                return False
        v["status"] = to
        return True

    def decide(self, record, recipient, purpose, at, keys, state_at=None):
        """`state_at`: the moment whose consent and objection state counts (a dry run's: now)."""
        state_at = state_at or at
        provider, dataset = record["publisher"], record["dataset"]
        if dataset == "referral" and (record["payload"] or {}).get("receiving_org") != recipient:
            return None  # a referral goes to its addressee only; a delete names none, so goes nowhere
        for agreement_id in sorted(self.agreements):
            for v in self.agreements[agreement_id]:
                doc = v["doc"]
                if v["status"] != "active" or provider not in doc["providers"] or recipient not in doc["recipients"]:
                    continue
                if dataset not in doc["datasets"] or purpose not in doc["purposes"]:
                    continue
                starts = datetime.fromisoformat(doc["valid_from"]).replace(tzinfo=timezone.utc)
                ends = datetime.fromisoformat(doc["valid_until"]).replace(tzinfo=timezone.utc) + timedelta(days=1)
                if not starts <= at < ends:
                    continue
                spec = doc["datasets"][dataset]
                key = keys[agreement_id]
                subject = record.get("subject")
                expected = {"agreement_id": agreement_id, "agreement_version": self.agreements[agreement_id].index(v) + 1,
                            "subject": oracle_pseudonym(key, subject) if subject else None,
                            "key": oracle_pseudonym(key, record["key"]) if DATASETS[dataset] in spec.get("pseudonymise", []) else record["key"]}
                if record["op"] == "delete":
                    return {**expected, "payload": None}
                if not all(oracle_condition(c, record["payload"], provider) for c in spec.get("conditions", [])):
                    continue
                if doc["lawful_basis"] == "consent":
                    if not subject or not any(
                            c["subject"] == subject and c["controller"] == provider and c["purpose"] == purpose
                            and recipient in c["recipients"] and c["given"] <= state_at
                            and (c["expires"] is None or state_at < c["expires"])
                            and (c["withdrawn"] is None or state_at < c["withdrawn"]) for c in self.consents):
                        continue
                if doc["lawful_basis"] == "public-task" and subject and any(
                        o["subject"] == subject and o["controller"] == provider
                        and o["purpose"] in (None, purpose) and o["lodged"] <= state_at
                        and (o["withdrawn"] is None or state_at < o["withdrawn"]) for o in self.objections):
                    continue
                return {**expected, "payload": oracle_project(spec, record["payload"], key)}
        return None


# -- drawing the world ---------------------------------------------------------------------
def draw_agreement(data, agreement_id, providers, recipients):
    datasets = data.draw(st.sets(st.sampled_from(sorted(DATASETS)), min_size=1))
    basis = data.draw(st.sampled_from(["consent", "public-task", "legal-obligation"]))
    if basis == "consent":
        datasets = {"referral"}  # consent needs personal data; the format refuses it otherwise
    specs = {}
    for name in sorted(datasets):
        fields = FIELDS[name]
        roles = {f: data.draw(st.sampled_from(["out", "plain", "plain", "pseudo", "general"]), label=f"{name}.{f}")
                 for f in fields}
        key_field = DATASETS[name]
        if roles[key_field] not in ("plain", "pseudo"):
            roles[key_field] = "plain"
        spec = {"fields": [f for f in fields if roles[f] == "plain"],
                "pseudonymise": [f for f in fields if roles[f] == "pseudo"],
                "generalise": {f: m for f, m in GENERALISE[name].items() if roles[f] == "general"},
                "conditions": data.draw(st.lists(st.sampled_from(CONDITIONS[name]), max_size=2, unique=True))}
        specs[name] = spec
    starts = data.draw(st.sampled_from([-30, -20, -10, 0]))
    return {
        "id": agreement_id, "title": f"Agreement {agreement_id}",
        "providers": sorted(data.draw(st.sets(st.sampled_from(providers), min_size=1))),
        "recipients": sorted(data.draw(st.sets(st.sampled_from(recipients), min_size=1))),
        "datasets": specs, "purposes": sorted(data.draw(st.sets(st.sampled_from(PURPOSES), min_size=1))),
        "lawful_basis": basis,
        "valid_from": (T0 + timedelta(days=starts)).date().isoformat(),
        # The last day is inclusive, so the agreement ends at midnight after it: on one of DAYS.
        "valid_until": (T0 + timedelta(days=starts + data.draw(st.sampled_from([10, 20, 40, 60])) - 1)).date().isoformat(),
        "retention_days": 30,
    }


def draw_record(data, providers, others, hint=None):
    """A record; with `hint` (an agreement), often one on a route that agreement covers."""
    if hint is not None and data.draw(st.integers(0, 3)) > 0:
        dataset = data.draw(st.sampled_from(sorted(hint["datasets"])))
        provider = data.draw(st.sampled_from(hint["providers"]))
    else:
        dataset = data.draw(st.sampled_from(["referral", "referral", "gazetteer-address"]))
        provider = data.draw(st.sampled_from(providers))
    payload = example_payload(dataset, VERSIONS[dataset], data.draw(st.integers(0, 1)))
    if dataset == "referral":
        payload["referring_org"] = data.draw(st.sampled_from([provider, others[0]]))
        payload["receiving_org"] = data.draw(st.sampled_from(others), label="addressee")
        payload["benefit_duration_months"] = data.draw(st.integers(0, 30))
        payload.setdefault("date_of_birth", "1990-04-01")
        payload.setdefault("postcode", "EH1 1YJ")
    else:
        payload["custodian"] = data.draw(st.sampled_from([provider, others[0]]))
        payload["status"] = data.draw(st.sampled_from(["approved", "provisional", "historic"]))
    op = data.draw(st.sampled_from(["upsert", "upsert", "upsert", "delete"]))
    key = str(payload[DATASETS[dataset]])
    record = {"id": f"rec-{next(_run)}", "dataset": dataset, "schema_version": VERSIONS[dataset], "key": key, "op": op,
              "publisher": provider, "occurred_at": "2026-06-01T00:00:00Z",
              "payload": None if op == "delete" else payload}
    if dataset == "referral" or data.draw(st.booleans()):
        record["subject"] = data.draw(st.sampled_from(SUBJECTS))
    return record


def at_day(data):
    """Few distinct moments, so that events often fall on the same instant (boundaries matter)."""
    return T0 + timedelta(days=data.draw(st.sampled_from(DAYS)))


def give_consent(data, policy, operator, oracle, consent_ids, controller, purposes, recipients, expiries):
    """Record a drawn consent through the service and in the oracle."""
    given_at = at_day(data)
    expires = data.draw(st.sampled_from(expiries))
    body = {"subject": data.draw(st.sampled_from(SUBJECTS)), "controller": controller,
            "purpose": data.draw(st.sampled_from(purposes)),
            "recipients": sorted(data.draw(st.sets(st.sampled_from(recipients), min_size=1))),
            "method": "form", "evidence_ref": "EV", "given_at": given_at.isoformat(),
            "expires_at": (given_at + timedelta(days=expires)).isoformat() if expires else None}
    consent_ids.append(policy.consents.give(body, operator)["id"])
    oracle.consents.append({**body, "given": given_at, "withdrawn": None,
                            "expires": given_at + timedelta(days=expires) if expires else None})


def withdraw_consent(data, policy, operator, oracle, consent_ids):
    """Withdraw a drawn consent (if still standing) through the service and in the oracle."""
    index = data.draw(st.integers(0, len(consent_ids) - 1))
    if oracle.consents[index]["withdrawn"] is None:
        when = max(at_day(data), oracle.consents[index]["given"])
        policy.consents.withdraw(consent_ids[index], operator, at=when)
        oracle.consents[index]["withdrawn"] = when


@pytest.fixture
def world(services):
    if services.engine.dialect.name != "sqlite":
        pytest.skip("the property runs on SQLite; the same service code is covered on PostgreSQL by the API tests")
    return services


def amend(data, document, providers, recipients):
    """The same agreement with one party added or removed (each side keeps at least one)."""
    changed = {**document, "providers": list(document["providers"]), "recipients": list(document["recipients"])}
    side = data.draw(st.sampled_from(["providers", "recipients"]), label="amend side")
    pool = providers if side == "providers" else recipients
    absent = [o for o in pool if o not in changed[side]]
    if absent and (len(changed[side]) == 1 or data.draw(st.booleans(), label="add")):
        changed[side] = sorted(changed[side] + [data.draw(st.sampled_from(absent), label="added")])
    elif len(changed[side]) > 1:
        changed[side].remove(data.draw(st.sampled_from(changed[side]), label="removed"))
    return changed


class Approvals:
    """Reads back from the database which orgs approved each version (to check that every
    allowed decision rests on a version every party named in it approved)."""

    def __init__(self, engine):
        self.engine = engine

    def of(self, agreement_id, version):
        with self.engine.connect() as conn:
            return set(conn.execute(select(agreement_approvals.c.org).where(
                agreement_approvals.c.agreement_id == agreement_id,
                agreement_approvals.c.version == version)).scalars())


@settings(max_examples=100, deadline=None, database=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_decisions_match_the_oracle(world, data):
    services, policy = world, world.policy
    run = next(_run)
    providers = [f"r{run}-council-{i}" for i in range(3)]
    recipients = [f"r{run}-agency-{i}" for i in range(3)]
    for org in providers + recipients:
        services.orgs.add_org(org, org, "council" if "council" in org else "agency", actor="test")
    governance = {org: Principal(org=org, role="governance", credential_id=f"k-{org}") for org in providers + recipients}
    operator = Principal(org="causeway", role="admin", credential_id="test")
    agreement_ids = [f"ag-{run}-{i}" for i in range(2)]
    oracle = Oracle()
    approvals = Approvals(services.engine)
    consent_ids, objection_ids = [], []

    def approve(agreement_id, org):
        try:
            policy.agreements.transition(agreement_id, "approved", governance[org])
            succeeded = True
        except HubError:
            succeeded = False
        assert succeeded == oracle.approve(agreement_id, org), (agreement_id, org)

    def move(agreement_id, to, actor=None):
        """actor None: the hub operator (admin); else an org's governance, party or not."""
        try:
            policy.agreements.transition(agreement_id, to, operator if actor is None else governance[actor], reason="property test")
            succeeded = True
        except HubError:
            succeeded = False
        assert succeeded == oracle.move(agreement_id, to, actor), (agreement_id, to, actor)

    def actor():
        return data.draw(st.one_of(st.none(), st.sampled_from(providers + recipients)), label="actor")

    def write(document):
        result = policy.agreements.apply(yaml.safe_dump(document, sort_keys=False), operator)
        oracle.apply(document)
        assert result["version"] == len(oracle.agreements[document["id"]])

    # Most worlds start with an agreement in force; the events then change it at random.
    kinds = ["apply", "enact"]
    kinds += data.draw(st.lists(st.sampled_from(
        ["decide", "consent", "decide", "withdraw", "enact", "decide", "object", "consent", "withdraw", "apply",
         "approve", "move", "object", "unobject", "decide", "amend", "enact", "dry-run", "dry-run"]),
        min_size=6, max_size=40),
        label="events")
    for kind in kinds:
        applied = [a for a in agreement_ids if a in oracle.agreements]
        if kind == "apply":
            write(draw_agreement(data, data.draw(st.sampled_from(agreement_ids)), providers, recipients))
        elif kind == "amend" and applied:
            write(amend(data, oracle.agreements[data.draw(st.sampled_from(applied))][-1]["doc"], providers, recipients))
        elif kind == "approve" and applied:
            approve(data.draw(st.sampled_from(applied)), data.draw(st.sampled_from(providers + recipients)))
        elif kind == "enact" and applied:
            # Approval by some (often all) of the latest version's parties, then activation by someone.
            agreement_id = data.draw(st.sampled_from(applied))
            latest = oracle.agreements[agreement_id][-1]["doc"]
            parties = sorted(set(latest["providers"]) | set(latest["recipients"]))
            everyone = data.draw(st.integers(0, 3), label="everyone approves") > 0
            for org in parties if everyone else data.draw(st.lists(st.sampled_from(parties), unique=True)):
                approve(agreement_id, org)
            move(agreement_id, "active", actor())
        elif kind == "move" and applied:
            move(data.draw(st.sampled_from(applied)),
                 data.draw(st.sampled_from(["suspended", "active", "suspended", "active", "retired"])), actor())
        elif kind == "consent":
            parties = oracle.agreements[data.draw(st.sampled_from(applied))][-1]["doc"] if applied else {
                "providers": providers, "recipients": recipients, "purposes": PURPOSES}
            give_consent(data, policy, operator, oracle, consent_ids,
                         controller=data.draw(st.sampled_from(parties["providers"])),
                         purposes=parties["purposes"], recipients=recipients, expiries=[None, None, 10, 30])
        elif kind == "withdraw" and consent_ids:
            withdraw_consent(data, policy, operator, oracle, consent_ids)
        elif kind == "object":
            parties = oracle.agreements[data.draw(st.sampled_from(applied))][-1]["doc"] if applied else {
                "providers": providers, "purposes": PURPOSES}
            body = {"subject": data.draw(st.sampled_from(SUBJECTS)), "controller": data.draw(st.sampled_from(parties["providers"])),
                    "purpose": data.draw(st.one_of(st.none(), st.sampled_from(parties["purposes"]))), "method": "letter",
                    "evidence_ref": "OBJ", "lodged_at": at_day(data).isoformat()}
            objection_ids.append(policy.consents.object(body, operator)["id"])
            oracle.objections.append({**body, "lodged": datetime.fromisoformat(body["lodged_at"]), "withdrawn": None})
        elif kind == "unobject" and objection_ids:
            index = data.draw(st.integers(0, len(objection_ids) - 1))
            if oracle.objections[index]["withdrawn"] is None:
                when = max(at_day(data), oracle.objections[index]["lodged"])
                policy.consents.withdraw_objection(objection_ids[index], operator, at=when)
                oracle.objections[index]["withdrawn"] = when
        elif kind in ("decide", "dry-run"):
            # A batch, as a feed read decides it, for every recipient and purpose at one moment;
            # or one record tried by governance of its publisher or of the recipient.
            hint = oracle.agreements[data.draw(st.sampled_from(applied))][-1]["doc"] if applied else None
            at = at_day(data)
            batch = [draw_record(data, providers, recipients, hint) for _ in range(data.draw(st.integers(1, 4)))]
            with services.engine.connect() as conn:
                keys = {r.id: bytes.fromhex(sealing.for_engine(services.engine).open(r.pseudonym_key))
                        for r in conn.execute(select(agreements_table))}
            for recipient in recipients:
                for purpose in PURPOSES:
                    if kind == "decide":
                        for record, decision in zip(batch, policy.decide_many(batch, recipient, purpose, at)):
                            check(record, decision, oracle.decide(record, recipient, purpose, at, keys), oracle,
                                  approvals)
                    else:
                        for record in batch:
                            dry_run(policy, oracle, approvals, keys, record, recipient, purpose, at,
                                    governance[data.draw(st.sampled_from([record["publisher"], recipient]), label="asker")],
                                    consent_ids + objection_ids)


def dry_run(policy, oracle, approvals, keys, record, recipient, purpose, at, asker, control_ids):
    """Try `record` (inline) through the dry run as `asker`, and check the answer."""
    answer = policy.dry_run({"record": record, "recipient": recipient, "purpose": purpose}, asker, at)
    expected = oracle.decide(record, recipient, purpose, at, keys, state_at=utcnow())
    check_dry_run(record, answer, expected, oracle, approvals, asker.org, control_ids)


def check(record, decision, expected, oracle, approvals=None):
    """The decision agrees with the oracle, and what would leave holds only what may leave."""
    assert decision.allowed == (expected is not None), (record, decision.reasons, expected)
    assert decision.reasons
    if expected is None:
        assert decision.payload is None
        return
    got = {"agreement_id": decision.agreement_id, "agreement_version": decision.agreement_version,
           "subject": decision.subject, "key": decision.key, "payload": decision.payload}
    assert got == expected
    version = oracle.agreements[decision.agreement_id][decision.agreement_version - 1]["doc"]
    if approvals is not None:  # as stored, not as the oracle thinks: every party said yes to this very version
        parties = set(version["providers"]) | set(version["recipients"])
        assert approvals.of(decision.agreement_id, decision.agreement_version) >= parties, (decision, parties)
    spec = version["datasets"][record["dataset"]]
    allowed_fields = set(spec["fields"]) | set(spec["pseudonymise"]) | set(spec["generalise"])
    assert set(decision.payload or {}) <= allowed_fields
    for field in spec["pseudonymise"]:
        if decision.payload and field in decision.payload:
            assert PSEUDONYM.match(decision.payload[field])
            assert decision.payload[field] != record["payload"][field]
    if record.get("subject"):
        assert decision.subject != record["subject"] and PSEUDONYM.match(decision.subject)


def check_dry_run(record, answer, expected, oracle, approvals, asker, control_ids):
    """A dry run decides as the decision point would with today's consent and objection state,
    and names the controller's consent and objection ids only to the controller."""
    assert answer["decision"] == ("allow" if expected is not None else "deny"), (record, answer, expected)
    if expected is not None:
        got = {k: answer[k] for k in ("agreement_id", "agreement_version", "subject", "key", "payload")}
        assert got == expected
        version = oracle.agreements[answer["agreement_id"]][answer["agreement_version"] - 1]["doc"]
        assert approvals.of(answer["agreement_id"], answer["agreement_version"]) >= (
            set(version["providers"]) | set(version["recipients"]))
    else:
        assert answer["payload"] is None
    if asker != record["publisher"]:
        shown = json.dumps(answer)
        assert not any(i in shown for i in control_ids), answer["reasons"]


def consent_world(services, run):
    """A provider and two recipients; one agreement under consent, one under public task."""
    provider, r1, r2 = f"t{run}-council", f"t{run}-agency-1", f"t{run}-agency-2"
    for org in (provider, r1, r2):
        services.orgs.add_org(org, org, "council" if org == provider else "agency", actor="test")
    documents = [
        {"id": f"tl-{run}-consent", "title": "under consent", "providers": [provider], "recipients": [r1, r2],
         "datasets": {"referral": {"fields": ["referral_id", "reason_for_referral"],
                                   "pseudonymise": ["personal_details_ref"], "generalise": {"date_of_birth": "year"},
                                   "conditions": []}},
         "purposes": PURPOSES, "lawful_basis": "consent", "valid_from": "2026-05-01", "valid_until": "2026-06-30",
         "retention_days": 30},
        {"id": f"tl-{run}-task", "title": "under public task", "providers": [provider], "recipients": [r2],
         "datasets": {"referral": {"fields": ["referral_id", "receiving_service"], "pseudonymise": [],
                                   "generalise": {}, "conditions": []}},
         "purposes": ["EmergencyResponse"], "lawful_basis": "public-task", "valid_from": "2026-05-01",
         "valid_until": "2026-06-30", "retention_days": 30},
    ]
    return provider, [r1, r2], documents


@settings(max_examples=60, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_consent_objection_and_suspension_timelines_match_the_oracle(world, data):
    services, policy = world, world.policy
    run = next(_run)
    provider, recipients, documents = consent_world(services, run)
    operator = Principal(org="causeway", role="admin", credential_id="test")
    oracle = Oracle()
    for document in documents:
        policy.agreements.apply(yaml.safe_dump(document, sort_keys=False), operator)
        oracle.apply(document)
        for org in [provider] + document["recipients"]:
            policy.agreements.transition(document["id"], "approved", Principal(org=org, role="governance", credential_id=org))
            assert oracle.approve(document["id"], org)
        policy.agreements.transition(document["id"], "active", operator)
        assert oracle.move(document["id"], "active")
    with services.engine.connect() as conn:
        keys = {r.id: bytes.fromhex(sealing.for_engine(services.engine).open(r.pseudonym_key))
                for r in conn.execute(select(agreements_table))}
    consent_ids, objection_ids = [], []
    events = data.draw(st.lists(st.sampled_from(["consent", "withdraw", "object", "unobject", "move", "decide", "decide",
                                                 "dry-run"]), min_size=4, max_size=25), label="events")
    approvals = Approvals(services.engine)
    for kind in events:
        if kind == "consent":
            give_consent(data, policy, operator, oracle, consent_ids, controller=provider,
                         purposes=PURPOSES, recipients=recipients, expiries=[None, 10, 30])
        elif kind == "withdraw" and consent_ids:
            withdraw_consent(data, policy, operator, oracle, consent_ids)
        elif kind == "object":
            body = {"subject": data.draw(st.sampled_from(SUBJECTS)), "controller": provider,
                    "purpose": data.draw(st.one_of(st.none(), st.sampled_from(PURPOSES))), "method": "letter",
                    "evidence_ref": "OBJ", "lodged_at": at_day(data).isoformat()}
            objection_ids.append(policy.consents.object(body, operator)["id"])
            oracle.objections.append({**body, "lodged": datetime.fromisoformat(body["lodged_at"]), "withdrawn": None})
        elif kind == "unobject" and objection_ids:
            index = data.draw(st.integers(0, len(objection_ids) - 1))
            if oracle.objections[index]["withdrawn"] is None:
                when = max(at_day(data), oracle.objections[index]["lodged"])
                policy.consents.withdraw_objection(objection_ids[index], operator, at=when)
                oracle.objections[index]["withdrawn"] = when
        elif kind == "move":
            agreement_id = data.draw(st.sampled_from([d["id"] for d in documents]))
            to = data.draw(st.sampled_from(["suspended", "active"]))
            try:
                policy.agreements.transition(agreement_id, to, operator, reason="property test")
                succeeded = True
            except HubError:
                succeeded = False
            assert succeeded == oracle.move(agreement_id, to)
        elif kind in ("decide", "dry-run"):
            at = at_day(data)
            batch = []
            for subject in SUBJECTS:
                payload = example_payload("referral", 3)
                payload["receiving_org"] = data.draw(st.sampled_from(recipients), label="addressee")
                op = data.draw(st.sampled_from(["upsert", "upsert", "upsert", "delete"]))
                batch.append({"id": f"rec-{next(_run)}", "dataset": "referral", "schema_version": 3,
                              "key": payload["referral_id"], "op": op, "publisher": provider,
                              "occurred_at": "2026-06-01T00:00:00Z", "subject": subject,
                              "payload": None if op == "delete" else payload})
            for recipient in recipients:
                for purpose in PURPOSES:
                    if kind == "decide":
                        for record, decision in zip(batch, policy.decide_many(batch, recipient, purpose, at)):
                            check(record, decision, oracle.decide(record, recipient, purpose, at, keys), oracle,
                                  approvals)
                        continue
                    for record in batch:
                        asker = data.draw(st.sampled_from([provider, recipient]), label="asker")
                        dry_run(policy, oracle, approvals, keys, record, recipient, purpose, at,
                                Principal(org=asker, role="governance", credential_id=asker),
                                consent_ids + objection_ids)
