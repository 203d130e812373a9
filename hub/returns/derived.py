"""Returns derived from records a council already publishes ("collect once").

For a return whose version declares `derived_from` (see hub.returns.derivation), the hub
computes each council's row set per period from that council's own current records of the
source dataset (records it published; never another org's), and stores it as the council's
draft, so sign-off is exactly that of any row set: draft -> submitted -> approved -> accepted or
sent back, and the requesting org sees nothing before approval. Beside the draft the hub keeps
the computation it came from: the records behind every figure.

Recomputing (the `derived-returns` job, or the council asking for it) when the council's records
change:
- a draft the hub made and nobody has edited is replaced by the new figures;
- a draft the council has edited by hand, or a set already submitted, approved, accepted or sent
  back, is left as it is: the new figures are kept beside it as "newer", listed cell by cell
  against the draft, until the council takes them (`replace_edits`) or the set moves on.
Reading the council's own records is no disclosure; every computation that changes something
is audited (`return.derived`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, HubError, NotFound, not_found
from hub.records.models import records
from hub.timeutil import iso_utc

from .declaration import ReturnDeclaration
from .derivation import Computed, Derivation, check_derivation, compute
from .derived_models import return_derivations
from .models import return_rows, return_submissions, return_versions
from .rowsets import replace_rows

log = logging.getLogger("causeway.hub.returns.derived")
OPEN = ("draft",)  # recomputed on its own; a set sent back is recomputed when the council asks
ASKED_OPEN = ("draft", "sent_back")


# The council's set changed while the hub computed it: computed again at once, or next round.
CHANGED = "changed-while-computed"


@dataclass(frozen=True)
class DerivedBy(Principal):
    """The hub itself, computing a council's draft from its records."""

    @property
    def actor(self) -> str:
        return f"{self.org}/derived-from/{self.credential_id}"


def _canonical(rows: list[dict]) -> str:
    return json.dumps(sorted(rows, key=lambda r: r["key"]), sort_keys=True)


class DerivedReturns:
    def __init__(self, engine: Engine, returns, clock):
        self.engine = engine
        self.returns = returns  # hub.returns.service.ReturnService
        self.catalogue = returns.catalogue
        self.clock = clock
        self._checked: dict[tuple[str, str], int] = {}  # (return, council) -> the last seq computed from

    # -- declarations ------------------------------------------------------
    def derivation(self, conn: Connection, declaration: ReturnDeclaration) -> Derivation | None:
        """The derivation a version of a return declares (None for a return councils fill in)."""
        if declaration.source != "rows":
            return None
        spec = conn.execute(select(return_versions.c.spec).where(
            return_versions.c.name == declaration.dataset, return_versions.c.version == declaration.version)).scalar()
        raw = json.loads(spec or "{}").get("derived_from")
        if raw is None:
            return None
        return check_derivation(raw, declaration.schema or {}, self.catalogue, declaration.frequency)

    def derived_returns(self) -> list[ReturnDeclaration]:
        """The returns in force whose latest version is derived."""
        with self.engine.connect() as conn:
            return [d for d in self.returns.definitions.in_force() if self.derivation(conn, d) is not None]

    def is_derived(self, name: str) -> bool:
        return any(d.dataset == name for d in self.derived_returns())

    # -- computing ---------------------------------------------------------
    def run(self) -> int:
        """The job: recompute every (derived return, council) whose source records changed since; how many."""
        done = 0
        for declaration in self.derived_returns():
            with self.engine.connect() as conn:
                councils = [slug for slug, _ in self.returns.expected_publishers(conn, declaration)]
                derivation = self.derivation(conn, declaration)
                assert derivation is not None
                latest = dict(conn.execute(
                    select(records.c.publisher, func.max(records.c.seq))
                    .where(records.c.dataset == derivation.dataset, records.c.publisher.in_(councils))
                    .group_by(records.c.publisher)).all())
            for org in councils:
                seq = latest.get(org)
                if seq is None or self._last_checked(declaration.dataset, org) >= seq:
                    continue
                try:
                    self.refresh(declaration, org, DerivedBy(org=org, role="publisher",
                                                             credential_id=derivation.dataset))
                    done += 1
                except HubError as exc:  # moved on meanwhile (next round), or figures the return refuses
                    log.log(logging.INFO if exc.slug == CHANGED else logging.WARNING,
                            "derived return %s for %s not computed: %s", declaration.dataset, org, exc)
        return done

    def _last_checked(self, name: str, org: str) -> int:
        """The log seq up to which every set of the council was last computed (after a restart,
        from the database: the oldest of its sets, so none is skipped)."""
        if (name, org) not in self._checked:
            with self.engine.connect() as conn:
                oldest = conn.execute(
                    select(func.min(return_derivations.c.checked_seq))
                    .join(return_submissions, return_submissions.c.id == return_derivations.c.submission_id)
                    .where(return_submissions.c.name == name, return_submissions.c.org == org)).scalar()
            self._checked[name, org] = -1 if oldest is None else oldest
        return self._checked[name, org]

    def _live(self, conn: Connection, dataset: str, org: str) -> tuple[list[dict], int]:
        """The council's current records of the dataset (the latest of each key, deletes taken out)
        and the last log seq read."""
        live: dict[str, dict] = {}
        last = 0
        query = (select(records.c.seq, records.c.id, records.c.key, records.c.op, records.c.payload)
                 .where(records.c.dataset == dataset, records.c.publisher == org).order_by(records.c.seq))
        for row in conn.execute(query):
            last = row.seq
            if row.op == "delete" or row.payload is None:
                live.pop(row.key, None)
            else:
                live[row.key] = {"key": row.key, "id": row.id, "seq": row.seq, "payload": json.loads(row.payload)}
        return list(live.values()), last

    def refresh(self, declaration: ReturnDeclaration, org: str, caller: Principal, only: str | None = None,
                replace_edits: bool = False) -> dict[str, str]:
        """Recompute the council's sets (every period, or `only`); period -> what happened."""
        today = self.clock().date()
        outcomes = {}
        with self.engine.connect() as conn:
            derivation = self.derivation(conn, declaration)
            if derivation is None:
                raise Conflict(f"{declaration.dataset} is not derived from records: the council fills it in")
            live, last_seq = self._live(conn, derivation.dataset, org)
            existing = {row.period: row for row in conn.execute(
                select(return_submissions, return_derivations.c.submission_id.label("derived_id"),
                       return_derivations.c.basis, return_derivations.c.applied_revision,
                       return_derivations.c.checked_seq)
                .select_from(return_submissions.outerjoin(
                    return_derivations, return_derivations.c.submission_id == return_submissions.c.id))
                .where(return_submissions.c.name == declaration.dataset, return_submissions.c.org == org))}
            by_version: dict[int, dict[str, Computed]] = {}
            periods = sorted(set(existing) | set(compute(derivation, live)) | ({only} if only else set()))
            plans = []
            for name in periods:
                if only and name != only:
                    continue
                try:
                    period = self.returns._period(declaration, name)
                except NotFound:
                    continue
                in_force = self.returns.declaration_for(declaration, period)
                version_derivation = self.derivation(conn, in_force) if in_force else None
                if in_force is None or version_derivation is None or period.first_day > today:
                    continue
                if in_force.version not in by_version:
                    by_version[in_force.version] = compute(version_derivation, live)
                computed = by_version[in_force.version].get(name) or Computed([], {}, [])
                plans.append((in_force, period, computed, existing.get(name)))
        for in_force, period, computed, found in plans:
            outcomes[period.name] = self._apply(in_force, period, org, computed, found, derivation.dataset, last_seq,
                                                len(live), caller, asked=only is not None,
                                                replace_edits=replace_edits)
        if only is None:
            self._checked[declaration.dataset, org] = last_seq
        return outcomes

    def _apply(self, declaration: ReturnDeclaration, period, org: str, computed: Computed, found, source: str,
               last_seq: int, records_read: int, caller: Principal, asked: bool, replace_edits: bool) -> str:
        now = self.clock()
        if found is None and not computed.rows:
            return "no records in this period"
        if found is not None and found.derived_id is not None and found.checked_seq >= last_seq and not asked:
            return "unchanged"
        basis = json.loads(found.basis) if found is not None and found.basis else None
        edited = found is not None and (basis is None or found.revision != found.applied_revision)
        state = found.state if found is not None else None
        target = f"{declaration.dataset}/{period.name}/{org}"
        detail = {"source_dataset": source, "records_read": records_read,
                  "source_seq": last_seq, "rows": len(computed.rows), "version": declaration.version}
        may_apply = state is None or state in (ASKED_OPEN if asked else OPEN)
        if may_apply and (not edited or replace_edits):
            if basis is not None and not edited and _canonical(basis["rows"]) == _canonical(computed.rows):
                with db.write_transaction(self.engine) as conn:
                    self._write(conn, found.id, source, computed, last_seq, records_read, found.revision, caller, now,
                                new=False)
                return "unchanged figures"

            def record(conn: Connection, before, submission_id: int, revision: int) -> None:
                # Decided again inside the transaction: the council may have acted meanwhile.
                if (before is None) != (found is None) or before is not None and (
                        before.state != state or before.revision != found.revision):
                    raise Conflict(f"the {period.name} return of {org} changed while it was computed", slug=CHANGED)
                self._write(conn, submission_id, source, computed, last_seq, records_read, revision, caller, now,
                            new=found is None or found.derived_id is None)
                audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.derived", target=target,
                             detail={**detail, "applied": True, "replaced_edits": bool(edited)})

            replace_rows(self.engine, declaration, period, org, computed.rows, caller, now, also=record,
                         via="derived")
            return "replaced the council's edits" if edited else "draft computed"
        if basis is not None and _canonical(basis["rows"]) == _canonical(computed.rows) and not edited:
            self._touch(found.id, last_seq)
            return "unchanged figures"
        why = "edited by hand" if edited else f"{state.replace('_', ' ')}"
        if replace_edits and not may_apply:
            raise Conflict(f"the {period.name} return of {org} is {why}: it changes only as a draft "
                           "(or once the requesting org sends it back)")
        with db.write_transaction(self.engine) as conn:
            newer = {**computed.as_json(), "source_seq": last_seq, "computed_at": iso_utc(now), "why": why}
            if found.derived_id is None:  # a set the council sent itself before the return was derived
                self._write(conn, found.id, source, Computed([], {}, []), last_seq, records_read, -1, caller, now,
                            new=True)
            conn.execute(update(return_derivations).where(return_derivations.c.submission_id == found.id)
                         .values(newer=json.dumps(newer), checked_seq=last_seq))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.derived", target=target,
                         detail={**detail, "applied": False, "why": why})
        return f"kept beside the set ({why})"

    def _source(self, declaration: ReturnDeclaration) -> str:
        with self.engine.connect() as conn:
            derivation = self.derivation(conn, declaration)
        return derivation.dataset if derivation else ""

    @staticmethod
    def _write(conn: Connection, submission_id: int, source: str, computed: Computed, last_seq: int,
               records_read: int, revision: int, caller: Principal, now, new: bool) -> None:
        values = {"source_dataset": source, "source_seq": last_seq, "checked_seq": last_seq,
                  "records_read": records_read, "applied_revision": revision, "computed_at": now,
                  "computed_by": caller.actor, "basis": json.dumps(computed.as_json(), sort_keys=True), "newer": None}
        if new:
            conn.execute(return_derivations.insert().values(submission_id=submission_id, **values))
        else:
            conn.execute(update(return_derivations).where(return_derivations.c.submission_id == submission_id)
                         .values(**values))

    def _touch(self, submission_id: int, last_seq: int) -> None:
        with db.write_transaction(self.engine) as conn:
            conn.execute(update(return_derivations).where(return_derivations.c.submission_id == submission_id)
                         .values(checked_seq=last_seq))

    # -- what the council sees ---------------------------------------------
    def derive(self, name: str, period_name: str, org: str, replace_edits: bool, caller: Principal) -> dict:
        """The council (or admin) asks for its set to be computed now from its records."""
        caller.require("publisher", "submitter", "governance")
        caller.require_org(org)
        declaration = self.returns.declaration(name)
        period = self.returns._period(declaration, period_name)
        with self.engine.connect() as conn:
            if org not in {slug for slug, _ in self.returns.expected_publishers(conn, declaration)}:
                raise NotFound(f"{name} is not asked of {org}")
        if period.first_day > self.clock().date():
            raise Conflict(f"{period.name} has not begun: nothing is derived for it yet")
        source = self._source(declaration)
        for attempt in range(3):
            try:
                outcome = self.refresh(declaration, org, caller, only=period.name,
                                       replace_edits=replace_edits).get(period.name, "no records in this period")
                break
            except Conflict as exc:
                if exc.slug != CHANGED or attempt == 2:
                    raise
        if outcome == "no records in this period":
            raise NotFound(f"no {source} record of {org} falls in {period.name}: nothing to derive")
        return {**self.lineage(name, period.name, org, caller), "outcome": outcome}

    def lineage(self, name: str, period_name: str, org: str, caller: Principal) -> dict:
        """Which of the council's records every figure of its set came from: to the council and admin
        only (the requesting org sees figures from approval on, never which records they count)."""
        if not (caller.is_admin or caller.org == org):
            raise not_found(f"return of {org}")
        declaration = self.returns.declaration(name)
        period = self.returns._period(declaration, period_name)
        with self.engine.connect() as conn:
            found = conn.execute(
                select(return_submissions, return_derivations)
                .join(return_derivations, return_derivations.c.submission_id == return_submissions.c.id)
                .where(return_submissions.c.name == name, return_submissions.c.period == period.name,
                       return_submissions.c.org == org)).first()
            if found is None:
                raise NotFound(f"nothing derived for the {period.name} return of {org} yet")
            current = [(r.row_key, json.loads(r.payload)) for r in conn.execute(
                select(return_rows).where(return_rows.c.submission_id == found.id).order_by(return_rows.c.position))]
            derivation = self.derivation(conn, self.returns.declaration_for(declaration, period) or declaration)
        basis = json.loads(found.basis)
        computed = {r["key"]: r["values"] for r in basis["rows"]}
        measures = [m.target for m in derivation.measures] if derivation else []
        groups = [target for _, target in derivation.group_by] if derivation else []
        rows = []
        for key, values in current:
            from_records = computed.get(key)
            figures = []
            for field in groups + measures + [f for f in values if f not in groups and f not in measures]:
                value = values.get(field)
                entry = {"field": field, "value": value}
                if field in measures:
                    expected = from_records.get(field) if from_records is not None else None
                    records_behind = basis["lineage"].get(key, {}).get(field, []) if from_records is not None else []
                    entry.update(kind="measure", from_records=expected,
                                 by_hand=from_records is None or expected != value, records=records_behind)
                elif field in groups:
                    entry["kind"] = "group"
                else:
                    entry.update(kind="entered", by_hand=True)
                figures.append(entry)
            rows.append({"key": key, "derived": from_records is not None, "figures": figures})
        kept = {key for key, _ in current}
        newer = json.loads(found.newer) if found.newer else None
        return {
            "dataset": name, "period": period.name, "org": org, "source_dataset": found.source_dataset,
            "state": found.state, "revision": found.revision,
            "edited": found.revision != found.applied_revision,
            "computed_at": iso_utc(found.computed_at), "computed_by": found.computed_by,
            "source_seq": found.source_seq, "records_read": found.records_read,
            "rows": rows,
            "removed_by_hand": sorted(key for key in computed if key not in kept),
            "not_counted": basis["not_counted"],
            "newer": None if newer is None else {
                "computed_at": newer["computed_at"], "source_seq": newer["source_seq"], "why": newer["why"],
                "differences": _differences(current, newer["rows"]), "not_counted": newer["not_counted"],
                "lineage": newer["lineage"]},
        }


def _differences(current: list[tuple[str, dict]], rows: list[dict]) -> list[dict]:
    """Cell by cell, where figures from the records now differ from the set."""
    now = dict(current)
    then = {r["key"]: r["values"] for r in rows}
    found = []
    for key in sorted(set(now) | set(then)):
        mine, theirs = now.get(key), then.get(key)
        if mine is None or theirs is None:
            found.append({"key": key, "field": None, "in_set": None if mine is None else "row",
                          "from_records": None if theirs is None else "row"})
            continue
        for field in sorted(set(mine) | set(theirs)):
            if mine.get(field) != theirs.get(field):
                found.append({"key": key, "field": field, "in_set": mine.get(field), "from_records": theirs.get(field)})
    return found

