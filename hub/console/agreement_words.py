"""Agreements in sentences: the plain-English summary, and what a status change will change
(who starts or stops receiving what), for the agreement page and its confirmations."""
from __future__ import annotations

from hub.policy.conditions import describe_condition
from hub.policy.vocabulary import purpose_label

from .blueprint import services
from .filters import uk_date

LAWFUL_BASIS_WORDS = {
    "consent": "the data subject's consent",
    "public-task": "a task carried out in the public interest (public task)",
    "legal-obligation": "a legal obligation",
    "contract": "a contract with the data subject",
    "vital-interests": "protecting someone's vital interests",
}
GENERALISE_WORDS = {"year": "only the year", "district": "only the postcode district", "month": "only the month"}


def org_name(slug: str) -> str:
    found = services().orgs.get_org(slug)
    return found["name"] if found else slug


def dataset_title(name: str) -> str:
    dataset = services().catalogue.get(name)
    return dataset.title if dataset else name


def and_(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def purposes_in_words(purposes) -> str:
    return and_(f"{purpose_label(p)} ({p})" for p in purposes)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def plain_summary(document: dict) -> list[str]:
    """Who shares what with whom, why, on what basis, until when: sentences for people."""
    providers = document["providers"]
    sentences = [
        f"{and_(org_name(p) for p in providers)} share{'s' if len(providers) == 1 else ''} "
        f"{and_(dataset_title(d) for d in sorted(document['datasets']))} "
        f"with {and_(org_name(r) for r in document['recipients'])}.",
        f"Why: {_sentence(purposes_in_words(document['purposes']))}.",
        f"On what basis: {LAWFUL_BASIS_WORDS.get(document['lawful_basis'], document['lawful_basis'])}.",
        f"When: from {uk_date(document['valid_from'])} until {uk_date(document['valid_until'])}; recipients keep "
        f"what they receive for at most {document.get('retention_days', '?')} days.",
    ]
    for name, terms in sorted(document["datasets"].items()):
        fields = terms.get("fields") or []
        part = f"From {name}, only these fields are sent: {and_(fields)}." if fields else f"From {name}: every field."
        if terms.get("pseudonymise"):
            part += f" Replaced by a pseudonym: {and_(terms['pseudonymise'])}."
        if terms.get("generalise"):
            part += " Made less precise: " + and_(
                f"{f} ({GENERALISE_WORDS.get(how, how)})" for f, how in sorted(terms["generalise"].items())) + "."
        for condition in terms.get("conditions") or []:
            part += f" Sent only when a record meets this: {describe_condition(condition)}."
        sentences.append(part)
    return sentences


def _sent_fields(terms: dict) -> set[str]:
    return set(terms.get("fields") or []) | set(terms.get("pseudonymise") or []) | set(terms.get("generalise") or {})


def _flows(document: dict) -> str:
    return (f"{and_(dataset_title(d) for d in sorted(document['datasets']))} from "
            f"{and_(org_name(p) for p in document['providers'])}")


def _replacing(before: dict, after: dict) -> list[str]:
    """What activating `after` in place of `before` changes for the recipients."""
    changes = []
    for org in after["recipients"]:
        if org not in before["recipients"]:
            changes.append(f"{org_name(org)} starts receiving {_flows(after)}.")
    for org in before["recipients"]:
        if org not in after["recipients"]:
            changes.append(f"{org_name(org)} stops receiving {_flows(before)}.")
    kept = [org_name(org) for org in after["recipients"] if org in before["recipients"]]
    for name in sorted(set(after["datasets"]) | set(before["datasets"])):
        if name not in before["datasets"]:
            changes.append(f"{and_(kept)} also start{'s' if len(kept) == 1 else ''} receiving {dataset_title(name)}."
                           if kept else "")
        elif name not in after["datasets"]:
            changes.append(f"{and_(kept)} stop{'s' if len(kept) == 1 else ''} receiving {dataset_title(name)}."
                           if kept else "")
        else:
            added = sorted(_sent_fields(after["datasets"][name]) - _sent_fields(before["datasets"][name]))
            removed = sorted(_sent_fields(before["datasets"][name]) - _sent_fields(after["datasets"][name]))
            if added and kept:
                changes.append(f"From {name}, {and_(kept)} also receive{'s' if len(kept) == 1 else ''}: {and_(added)}.")
            if removed and kept:
                changes.append(f"From {name}, {and_(kept)} no longer receive{'s' if len(kept) == 1 else ''}: {and_(removed)}.")
    for org in after["providers"]:
        if org not in before["providers"] and kept:
            changes.append(f"{and_(kept)} start{'s' if len(kept) == 1 else ''} receiving records from {org_name(org)}.")
    for org in before["providers"]:
        if org not in after["providers"] and kept:
            changes.append(f"{and_(kept)} stop{'s' if len(kept) == 1 else ''} receiving records from {org_name(org)}.")
    return [c for c in changes if c] or ["The recipients receive the same records and fields as now; the other terms change."]


def what_changes(to: str, document: dict, status: str, in_force: dict | None = None,
                 in_force_version: int | None = None, last_approval: bool = False) -> list[str]:
    """Sentences saying what moving a version (`document`, now `status`) to `to` changes for whom."""
    recipients = and_(org_name(r) for r in document["recipients"])
    plural = "" if len(document["recipients"]) > 1 else "s"
    if to == "approved":
        if last_approval:
            return ["Yours is the last approval awaited: the version becomes approved. Nothing is delivered "
                    "under it until it is activated."]
        return ["Your approval is recorded for your organisation. Nothing is delivered under this version until "
                "every party has approved it and it is activated."]
    if to == "active" and status == "suspended":
        return [f"Deliveries resume: {recipients} receive{plural} {_flows(document)} again, "
                "from where they stopped (nothing held back is lost)."]
    if to == "active":
        if in_force is None:
            return [f"{recipients} start{plural} receiving {_flows(document)} "
                    f"for {purposes_in_words(document['purposes'])}."]
        return _replacing(in_force, document) + [f"Version {in_force_version}, in force now, is retired."]
    if to == "suspended":
        return [f"{recipients} stop{plural} receiving {_flows(document)} at once, until the agreement is "
                "activated again; their subscriptions keep their place."]
    if to == "retired":
        if status in ("draft", "approved"):
            return ["Nobody receives anything under this version yet; retiring it ends it before it starts. "
                    "It cannot be approved or activated afterwards."]
        return [f"{recipients} stop{plural} receiving {_flows(document)} under this agreement, for good: "
                "a retired agreement cannot be activated again."]
    return []
