"""Returns as data: drafted by the requesting org's governance through the API or console,
approved into force by the hub's admin, with no file on the hub and no restart.

A return has immutable versions. Version 1 applies from the period containing its
`introduced` day; a later version applies from the period it names (`applies_from`), so a
period is always judged by the version in force for it. Lifecycle dates (`reviewed`,
`retired`) belong to the return, not to a version. Returns declared in a dataset.yaml keep
working as they are (their version 1); they are changed by changing that file.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher

import jsonschema_rs
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from causeway_common.catalogue import CatalogueError, PayloadValidator, load_format_schema
from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.orgs.models import orgs
from hub.timeutil import iso_utc

from .declaration import (
    ComputedRate,
    ReturnDeclaration,
    check_fields,
    declaration_from_block,
    declaration_of,
    numeric_fields_of,
)
from .derivation import check_derivation, not_totalled
from .models import return_definitions, return_versions
from .periods import PeriodError, parse_period, period_containing
from .rules import RuleError, rule_from

NAME = re.compile(r"^data-return\.[a-z0-9][a-z0-9-]{1,80}$")
MAX_FIELDS = 200
# Fields nearly every return has: sharing them says nothing about duplicate collection.
COMMON_FIELDS = {"period", "council", "org", "organisation", "submitted_by", "return_id", "id", "name", "notes",
                 "comments", "key"}
TITLE_NOISE = {"data", "return", "returns", "the", "and", "for", "of", "per", "by", "quarterly", "monthly",
               "weekly", "annual", "daily", "figures", "council", "councils"}
SPEC_SETTINGS = ("frequency", "due_days_after_period_end", "expected_publishers", "guidance", "remind_days", "checks")


def _definition_schema() -> dict:
    periodic = load_format_schema("periodic")
    props = periodic["properties"]
    expression = {"type": "string", "minLength": 1, "maxLength": 500}
    return {
        "type": "object", "additionalProperties": False, "$defs": periodic.get("$defs", {}),
        "required": ["name", "title", "fields", "frequency", "due_days_after_period_end", "expected_publishers"],
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "fields": {"type": "object"},
            "frequency": props["frequency"],
            "due_days_after_period_end": props["due_days_after_period_end"],
            "expected_publishers": props["expected_publishers"],
            "requesting_org": props["requesting_org"],
            "guidance": {"type": "string", "maxLength": 20000},
            "introduced": props["introduced"],
            "reviewed": props["reviewed"],
            "applies_from": {"type": "string", "maxLength": 20},
            "remind_days": props["remind_days"],
            "checks": props["checks"],
            # computed from records a council publishes: checked by hub.returns.derivation
            "derived_from": {"type": "object"},
            "rules": {"type": "array", "maxItems": 200, "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "left", "operator", "right"],
                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                               "left": expression, "right": expression,
                               "operator": {"enum": ["==", "!=", "<", "<=", ">", ">="]},
                               "importance": {"enum": ["high", "medium", "low"]},
                               "scope": {"enum": ["row", "totals"]}}}},
            "rates": {"type": "array", "maxItems": 50, "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "numerator", "denominator"],
                "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
                               "numerator": {"type": "string"}, "denominator": {"type": "string"},
                               "per": {"type": "number", "exclusiveMinimum": 0}}}},
        },
    }


@dataclass
class StoredVersion:
    name: str
    version: int
    status: str
    applies_from: str
    spec: dict
    drafted_by: str
    drafted_at: object
    approved_by: str | None
    approved_at: object


def _problem(path: str, message: str) -> Invalid:
    return Invalid(f"{path}: {message}", errors=[{"path": path, "message": message}])


class ReturnDefinitions:
    """The returns drafted as data: their versions, drafting, approval and lifecycle."""

    def __init__(self, engine: Engine, catalogue, clock):
        self.engine = engine
        self.catalogue = catalogue
        self.clock = clock
        self._validator = PayloadValidator(_definition_schema(), prefix="")

    # -- reading -----------------------------------------------------------
    def _versions(self, conn: Connection, name: str | None = None) -> list[StoredVersion]:
        query = select(return_versions).order_by(return_versions.c.name, return_versions.c.version)
        if name is not None:
            query = query.where(return_versions.c.name == name)
        return [StoredVersion(r.name, r.version, r.status, r.applies_from, json.loads(r.spec), r.drafted_by,
                              r.drafted_at, r.approved_by, r.approved_at) for r in conn.execute(query)]

    def _definition(self, conn: Connection, name: str):
        return conn.execute(select(return_definitions).where(return_definitions.c.name == name)).first()

    @staticmethod
    def _declaration(definition, stored: StoredVersion) -> ReturnDeclaration:
        spec = stored.spec
        block = {key: spec[key] for key in SPEC_SETTINGS if key in spec}
        block.update(requesting_org=definition.owner_org, introduced=definition.introduced)
        for name in ("reviewed", "retired"):
            if getattr(definition, name):
                block[name] = getattr(definition, name)
        numeric = numeric_fields_of(spec["fields"])
        return declaration_from_block(
            stored.name, spec["title"], block, source="rows", version=stored.version,
            applies_from=stored.applies_from, schema=spec["fields"],
            rules=tuple(rule_from(r, numeric, "rules") for r in spec.get("rules", [])),
            computed_rates=tuple(ComputedRate(r["name"], r["numerator"], r["denominator"], r.get("per", 100))
                                 for r in spec.get("rates", [])),
            not_totalled=not_totalled(spec.get("derived_from")))

    def approved(self, conn: Connection) -> dict[str, list[ReturnDeclaration]]:
        """name -> its approved versions, oldest first."""
        definitions = {d.name: d for d in conn.execute(select(return_definitions))}
        found: dict[str, list[ReturnDeclaration]] = {}
        for stored in self._versions(conn):
            if stored.status == "approved" and stored.name in definitions:
                found.setdefault(stored.name, []).append(self._declaration(definitions[stored.name], stored))
        return found

    def in_force(self) -> list[ReturnDeclaration]:
        """The latest approved version of every return drafted as data."""
        with self.engine.connect() as conn:
            return [versions[-1] for versions in self.approved(conn).values()]

    def versions_in_force(self, name: str) -> list[ReturnDeclaration]:
        with self.engine.connect() as conn:
            return self.approved(conn).get(name, [])

    # -- drafting ----------------------------------------------------------
    def draft(self, spec: dict, caller: Principal) -> dict:
        """Write a new draft version (version 1 of a new return, or the next of one the caller's org owns)."""
        caller.require("governance")
        if not isinstance(spec, dict):
            raise _problem("/", "a return is an object of settings")
        errors = self._validator.errors(spec)
        if errors:
            raise Invalid(f"the return has {len(errors)} mistake{'s' if len(errors) > 1 else ''}: "
                          f"{errors[0].path or '/'}: {errors[0].message}",
                          errors=[e.as_dict() for e in errors])
        name = spec["name"]
        if not NAME.match(name):
            raise _problem("/name", f"{name!r} must look like data-return.school-rolls "
                                    "(data-return. then lower-case letters, digits and hyphens)")
        if self.catalogue.get(name) is not None:
            raise Conflict(f"{name} is a dataset in the hub's catalogue; choose another name for a new return")
        owner = spec.get("requesting_org") or caller.org
        if owner != caller.org and not caller.is_admin:
            raise Forbidden(f"your credential belongs to {caller.org}: it drafts returns requested by {caller.org}, "
                            f"not by {owner}")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            if not conn.execute(select(orgs.c.slug).where(orgs.c.slug == owner)).first():
                raise _problem("/requesting_org", f"{owner} is not an org of this hub")
            definition = self._definition(conn, name)
            if definition is not None and definition.owner_org != caller.org and not caller.is_admin:
                raise Forbidden(f"{name} is requested by {definition.owner_org}; only its governance drafts new versions")
            existing = self._versions(conn, name)
            introduced = definition.introduced if definition else spec.get("introduced")
            if introduced is None:
                raise _problem("/introduced", "a new return needs the day it is introduced (its first period contains it)")
            applies_from = self._applies_from(spec, introduced, existing)
            self._checked(spec, introduced, owner, name, applies_from, len(existing) + 1)
            if existing and existing[0].spec["frequency"] != spec["frequency"]:
                raise _problem("/frequency", f"{name} is {existing[0].spec['frequency']}; a return of another "
                                             "frequency is a new return (another name)")
            if definition is None:
                conn.execute(return_definitions.insert().values(
                    name=name, owner_org=owner, introduced=introduced, reviewed=spec.get("reviewed"), retired=None,
                    created_at=now, created_by=caller.actor))
            version = len(existing) + 1
            stored = {key: value for key, value in spec.items() if key not in ("introduced", "reviewed", "name")}
            conn.execute(return_versions.insert().values(
                name=name, version=version, status="draft", applies_from=applies_from,
                spec=json.dumps(stored), drafted_by=caller.actor, drafted_at=now))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.drafted",
                         target=f"{name}/{version}", detail={"applies_from": applies_from, "title": spec["title"]})
        return self.get(name, caller)

    def _applies_from(self, spec: dict, introduced: str, existing: list[StoredVersion]) -> str:
        frequency = spec["frequency"]
        first = period_containing(frequency, date.fromisoformat(introduced)).name
        named = spec.get("applies_from")
        if named is None:
            if any(v.status == "approved" for v in existing):
                raise _problem("/applies_from", "a new version names the period it applies from (e.g. 2027-Q1)")
            return first
        try:
            period = parse_period(frequency, named)
        except PeriodError as exc:
            raise _problem("/applies_from", str(exc)) from None
        if period.name < first:
            raise _problem("/applies_from", f"{named} is before the return's first period {first}")
        return period.name

    def _checked(self, spec: dict, introduced: str, owner: str, name: str, applies_from: str,
                 version: int) -> ReturnDeclaration:
        """The declaration the spec makes, or Invalid naming the first mistake in its meaning."""
        fields = spec["fields"]
        try:
            jsonschema_rs.validator_for(fields)
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            raise _problem("/fields", f"not a valid JSON Schema: {exc}") from None
        properties = fields.get("properties")
        if fields.get("type") != "object" or not isinstance(properties, dict) or not properties:
            raise _problem("/fields", 'give the fields as a JSON Schema object: {"type": "object", "properties": {...}}')
        if len(properties) > MAX_FIELDS:
            raise _problem("/fields", f"a return may have at most {MAX_FIELDS} fields; it has {len(properties)}")
        for field_name, field_spec in properties.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", field_name):
                raise _problem(f"/fields/properties/{field_name}",
                               "a field name is letters, digits and _ (so rules can name it), at most 63 characters")
            if not isinstance(field_spec, dict) or "type" not in field_spec and "enum" not in field_spec:
                raise _problem(f"/fields/properties/{field_name}", "say the field's type (or its enum of values)")
        if spec.get("introduced") and spec.get("reviewed") and spec["reviewed"] < spec["introduced"]:
            raise _problem("/reviewed", f"reviewed {spec['reviewed']} is before introduced {spec['introduced']}")
        numeric = numeric_fields_of(fields)
        for index, rate in enumerate(spec.get("rates", [])):
            for side in ("numerator", "denominator"):
                if rate[side] not in numeric:
                    raise _problem(f"/rates/{index}/{side}", f"{rate[side]!r} is not a number field of the return")
        try:
            for index, rule in enumerate(spec.get("rules", [])):
                rule_from(rule, numeric, f"rule {index + 1}")
        except RuleError as exc:
            raise Invalid(str(exc), errors=[{"path": f"/rules/{index}", "message": str(exc)}]) from None
        if "derived_from" in spec:
            check_derivation(spec["derived_from"], fields, self.catalogue, spec["frequency"])
        stored = StoredVersion(name, version, "draft", applies_from, spec, "", None, None, None)
        definition = type("Definition", (), {"owner_org": owner, "introduced": introduced,
                                             "reviewed": spec.get("reviewed"), "retired": None})
        declaration = self._declaration(definition, stored)
        try:
            check_fields(properties, declaration, "checks", "the return")
        except CatalogueError as exc:
            raise _problem("/checks", str(exc).removeprefix("checks: ")) from None
        return declaration

    # -- approval and lifecycle --------------------------------------------
    def approve(self, name: str, version: int, caller: Principal) -> dict:
        """The hub's admin puts a draft into force: from its `applies_from` period on."""
        if not caller.is_admin:
            raise Forbidden("the hub's admin approves returns into force")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            versions = {v.version: v for v in self._versions(conn, name)}
            stored = versions.get(version)
            if stored is None:
                raise NotFound(f"return {name} has no version {version}")
            if stored.status != "draft":
                raise Conflict(f"version {version} of {name} is already {stored.status}")
            later = [v for v in versions.values() if v.status == "approved"
                     and (v.version > version or v.applies_from >= stored.applies_from)]
            if later:
                raise Conflict(f"version {later[-1].version} of {name} is in force from {later[-1].applies_from}; "
                               f"version {version} would apply from {stored.applies_from}: draft a version "
                               "that applies from a later period")
            conn.execute(update(return_versions).where(return_versions.c.name == name,
                                                       return_versions.c.version == version)
                         .values(status="approved", approved_by=caller.actor, approved_at=now))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.approved",
                         target=f"{name}/{version}", detail={"applies_from": stored.applies_from})
        return self.get(name, caller)

    def set_lifecycle(self, name: str, changes: dict, caller: Principal) -> dict:
        """Record a review, or retire the return (it stops asking from periods starting that day)."""
        caller.require("governance")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            definition = self._definition(conn, name)
            if definition is None:
                if self.catalogue.get(name) is not None:
                    raise Conflict(f"{name} is declared in its dataset.yaml; its dates are changed there")
                raise NotFound(f"return {name} not found")
            if definition.owner_org != caller.org and not caller.is_admin:
                raise NotFound(f"return {name} not found")
            values = {}
            for setting in ("reviewed", "retired"):
                if setting in changes:
                    text = changes[setting]
                    if text is not None:
                        try:
                            day = date.fromisoformat(text)
                        except (TypeError, ValueError):
                            raise _problem(f"/{setting}", f"{text!r} is not a date (write it like 2026-04-01)") from None
                        if day.isoformat() < definition.introduced:
                            raise _problem(f"/{setting}", f"{text} is before the return was introduced "
                                                          f"({definition.introduced})")
                    values[setting] = text
            if not values:
                raise _problem("/", "say reviewed, retired or both")
            conn.execute(update(return_definitions).where(return_definitions.c.name == name).values(**values))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.lifecycle",
                         target=name, detail=values)
        return self.get(name, caller)

    # -- what the caller sees ----------------------------------------------
    def _may_see_drafts(self, definition, caller: Principal) -> bool:
        return caller.is_admin or caller.org == definition.owner_org

    def get(self, name: str, caller: Principal) -> dict:
        with self.engine.connect() as conn:
            definition = self._definition(conn, name)
            versions = self._versions(conn, name) if definition else []
        drafts_visible = definition is not None and self._may_see_drafts(definition, caller)
        shown = [v for v in versions if drafts_visible or v.status == "approved"]
        if definition is None or not shown:
            raise NotFound(f"return {name} not found")
        today = self.clock().date()
        latest = self._declaration(definition, shown[-1])
        fields = sorted((shown[-1].spec["fields"].get("properties") or {}))
        return {
            "name": name, "owner_org": definition.owner_org, "title": shown[-1].spec["title"],
            "introduced": definition.introduced, "reviewed": definition.reviewed, "retired": definition.retired,
            "review_due": latest.review_due().isoformat(),
            "due_for_review": drafts_visible and latest.due_for_review(today),
            "versions": [{"version": v.version, "status": v.status, "applies_from": v.applies_from,
                          "drafted_by": v.drafted_by, "drafted_at": iso_utc(v.drafted_at),
                          "approved_by": v.approved_by, "approved_at": iso_utc(v.approved_at) if v.approved_at else None,
                          "spec": v.spec} for v in shown],
            "similar": self.similar(shown[-1].spec["title"], fields, name),
        }

    def list(self, caller: Principal) -> list[dict]:
        with self.engine.connect() as conn:
            names = [r.name for r in conn.execute(select(return_definitions.c.name).order_by(return_definitions.c.name))]
        found = []
        for name in names:
            try:
                found.append(self.get(name, caller))
            except NotFound:
                continue
        return found

    def similar(self, title: str, fields: list[str], exclude: str) -> list[dict]:
        """Datasets and returns that already collect fields like these, or have a title like this one,
        so a duplicate collection is visible before it is approved."""
        wanted = {_normal(f) for f in fields} - {_normal(f) for f in COMMON_FIELDS}
        words = _title_words(title)
        candidates: dict[str, tuple[str, str, set[str]]] = {}
        for dataset in self.catalogue.all():
            schema = dataset.schemas[dataset.latest_version]
            kind = "return" if declaration_of(dataset) else "dataset"
            candidates[dataset.name] = (kind, dataset.title, set((schema.get("properties") or {})))
        with self.engine.connect() as conn:
            for stored in self._versions(conn):
                candidates[stored.name] = ("return", stored.spec["title"],
                                           set(stored.spec["fields"].get("properties") or {}))
        found = []
        for name, (kind, other_title, other_fields) in candidates.items():
            if name == exclude:
                continue
            shared = sorted(f for f in other_fields if _normal(f) in wanted)
            shared_words = sorted(words & _title_words(other_title))
            alike = SequenceMatcher(None, title.lower(), other_title.lower()).ratio()
            if len(shared) >= 2 or shared_words or alike >= 0.75:
                found.append({"kind": kind, "name": name, "title": other_title, "shared_fields": shared,
                              "title_words": shared_words})
        return sorted(found, key=lambda s: (-len(s["shared_fields"]), -len(s["title_words"]), s["name"]))


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _title_words(title: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", title.lower()) if len(w) > 2 and w not in TITLE_NOISE}
