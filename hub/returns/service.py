"""Which publisher has sent which return for which period, whether on time,
and whether its figures look plausible.

Statuses (one per expected publisher and period):
  submitted  first received by the deadline
  late       first received after the deadline
  missing    nothing received and the deadline has passed
  awaited    nothing received yet, and it is not yet due
`resubmitted` is said besides the status when a later version replaced an
earlier one. Flags are computed from the latest version on every read, so
they always match what the grid shows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound, not_found
from hub.orgs.models import orgs
from hub.timeutil import iso_utc

from . import checks, rules
from .agent_sign_off import settle
from .contributions import edit_row
from .declaration import ALL_COUNCILS, ReturnDeclaration, declaration_of
from .definitions import ReturnDefinitions
from .periods import Period, PeriodError, parse_period, period_containing, periods_between
from .reference import populations_for_year
from .row_changes import history as change_history
from .row_changes import row_version, via_of
from .rowsets import DISCLOSED, replace_rows, set_auto_approve, sign_off, submission_row
from .scopes import require_in_scope, scoped_returns
from .submissions import Submission, read_submissions
from .submitter_assignments import assign, submitter_choices, submitters
from .workbook import read_upload, template_workbook

STATUSES = ("submitted", "late", "missing", "awaited")


def no_sharing(recipient: str, dataset: str, at: datetime) -> set[str]:
    return set()


@dataclass
class View:
    """What a caller may see of one return: the rows of the publishers whose figures it may read."""
    declaration: ReturnDeclaration
    publishers: list[tuple[str, str]]  # (slug, name) of every expected publisher
    visible: set[str]


class ReturnService:
    def __init__(self, engine: Engine, catalogue, clock,
                 providers_sharing_with: Callable[[str, str, datetime], set[str]] = no_sharing,
                 definitions: ReturnDefinitions | None = None):
        self.engine = engine
        self.catalogue = catalogue
        self.clock = clock
        # Returns drafted as data, read from the database on every call: no restart after an approval.
        self.definitions = definitions or ReturnDefinitions(engine, catalogue, clock)
        # (recipient, dataset, at) -> the providers an active agreement lets share the dataset with it
        self.providers_sharing_with = providers_sharing_with

    # -- declarations and who may see what ---------------------------------
    def declarations(self) -> list[ReturnDeclaration]:
        """Every return in force: the catalogue's periodic datasets, then those drafted as data."""
        declared = [d for d in (declaration_of(ds) for ds in self.catalogue.all()) if d is not None]
        return declared + self.definitions.in_force()

    def declaration(self, dataset: str) -> ReturnDeclaration:
        """A return's declaration (for one drafted as data, its latest approved version)."""
        found = self.catalogue.get(dataset)
        declaration = declaration_of(found) if found else None
        if declaration is None and found is None:
            versions = self.definitions.versions_in_force(dataset)
            declaration = versions[-1] if versions else None
        if declaration is None:
            raise not_found(f"periodic return {dataset}")
        return declaration

    def declaration_for(self, declaration: ReturnDeclaration, period: Period) -> ReturnDeclaration | None:
        """The version in force for a period: the latest approved one applying from it or earlier
        (None when the first version applies from a later period)."""
        if declaration.source != "rows":
            return declaration
        applying = [v for v in self.definitions.versions_in_force(declaration.dataset)
                    if parse_period(v.frequency, v.applies_from) <= period]
        return applying[-1] if applying else None

    def expected_publishers(self, conn: Connection, declaration: ReturnDeclaration) -> list[tuple[str, str]]:
        if declaration.expected_publishers == ALL_COUNCILS:
            query = select(orgs.c.slug, orgs.c.name).where(orgs.c.kind == "council")
            return [(r.slug, r.name) for r in conn.execute(query.order_by(orgs.c.slug))]
        names = dict(conn.execute(select(orgs.c.slug, orgs.c.name).where(
            orgs.c.slug.in_(declaration.expected_publishers))).all())
        return sorted((slug, names.get(slug, slug)) for slug in declaration.expected_publishers)

    def _view(self, conn: Connection, dataset: str, caller: Principal) -> View:
        declaration = self.declaration(dataset)
        names = scoped_returns(conn, caller)
        if names is not None and dataset not in names:
            raise not_found(f"periodic return {dataset}")
        publishers = self.expected_publishers(conn, declaration)
        slugs = {slug for slug, _ in publishers}
        allowed = self.visible_publishers(declaration, caller)
        visible = slugs if allowed is None else slugs & allowed
        if not visible:
            # The same answer as for a return that does not exist: outsiders learn nothing of it.
            raise not_found(f"periodic return {dataset}")
        return View(declaration, publishers, visible)

    def visible_publishers(self, declaration: ReturnDeclaration, caller: Principal) -> set[str] | None:
        """Whose figures the caller may read (None: every publisher's), for admin and the requesting org;
        its own as a submitting council; and those of the providers an active agreement for the
        dataset names it a recipient of. Any role of the org: the org is entitled, not the key."""
        if caller.is_admin or caller.org == declaration.requesting_org:
            return None
        return {caller.org} | self.providers_sharing_with(caller.org, declaration.dataset, self.clock())

    @staticmethod
    def _readable(submissions: dict, declaration: ReturnDeclaration, caller: Principal) -> dict:
        """A council's row set (or its agent's submission) is its own until its approver approves it:
        before that, to anyone else (the requesting org, an agreement's recipients, peers' comparisons)
        it is not there. Submissions with no sign-off (records sent with an API key) are read as sent."""
        if caller.is_admin:
            return submissions
        return {k: s for k, s in submissions.items()
                if s.sign_off is None or s.publisher == caller.org or s.sign_off.get("state") in DISCLOSED}

    # -- periods -----------------------------------------------------------
    def _period(self, declaration: ReturnDeclaration, name: str) -> Period:
        """A period of this return; one of another frequency, or outside the return's life, does not exist."""
        try:
            period = parse_period(declaration.frequency, name)
        except PeriodError as exc:
            raise NotFound(f"{declaration.dataset} has no period {name!r}: {exc}") from None
        if period.last_day < declaration.introduced:
            raise NotFound(f"{declaration.dataset} was introduced on {declaration.introduced}; "
                           f"no return is expected for {period.name}")
        if declaration.retired and period.first_day >= declaration.retired:
            raise NotFound(f"{declaration.dataset} was retired on {declaration.retired}; "
                           f"no return is expected for {period.name}")
        return period

    def latest_due_period(self, declaration: ReturnDeclaration, now: datetime) -> Period:
        """The most recent period whose return is already due (or the first one, if none is yet)."""
        period = period_containing(declaration.frequency, now.date()).previous()
        first = period_containing(declaration.frequency, declaration.introduced)
        while period.deadline(declaration.due_days) > now and period > first:
            period = period.previous()
        if declaration.retired:
            while period.first_day >= declaration.retired and period > first:
                period = period.previous()
        return max(period, first)

    # -- one period --------------------------------------------------------
    def period_status(self, dataset: str, period_name: str | None, caller: Principal) -> dict:
        now = self.clock()
        with self.engine.connect() as conn:
            view = self._view(conn, dataset, caller)
            declaration = view.declaration
            period = (self._period(declaration, period_name) if period_name
                      else self.latest_due_period(declaration, now))
            submissions = self._readable(read_submissions(conn, declaration), declaration, caller)
            rows = self._rows(conn, view, period, submissions, now)
        return {
            "dataset": dataset, "title": declaration.title, "requesting_org": declaration.requesting_org,
            **_period_facts(declaration, period), "as_of": iso_utc(now),
            "totals": totals_of(rows), "publishers": rows,
        }

    def _rows(self, conn: Connection, view: View, period: Period, submissions: dict, now: datetime) -> list[dict]:
        declaration = self.declaration_for(view.declaration, period) or view.declaration
        flags = self._flags(conn, declaration, period, [s for s, _ in view.publishers], submissions)
        deadline = period.deadline(declaration.due_days)
        rows = []
        for slug, name in view.publishers:
            if slug not in view.visible:
                continue
            found = submissions.get((slug, period.name))
            rows.append(_row(slug, name, found, deadline, now, flags.get(slug, [])))
            if declaration.source == "rows":
                rows[-1]["figures"] = figures_of(declaration, found)
                rows[-1]["sign_off"] = found.sign_off if found else None
            elif found is not None and found.sign_off is not None:
                rows[-1]["sign_off"] = found.sign_off  # an agent's submission
        return rows

    def _flags(self, conn: Connection, declaration: ReturnDeclaration, period: Period,
               publishers: list[str], submissions: dict[tuple[str, str], Submission]) -> dict[str, list[dict]]:
        """Flags for every publisher's submission for the period (peers are compared with all of them)."""
        outlier = declaration.outlier
        fields = {c.field for c in declaration.rates} | set(outlier.fields if outlier else ())
        populations = populations_for_year(conn, period.last_day.year) if fields else {}
        totals = {slug: checks.field_totals(s.payloads, fields)
                  for (slug, name), s in submissions.items() if name == period.name and slug in publishers}
        flags: dict[str, list[dict]] = {}
        for slug, submission in submissions.items():
            slug, name = slug
            if name != period.name or slug not in publishers:
                continue
            found = []
            for key, entry in sorted(submission.live.items()):
                found += checks.sum_flags(key, entry["payload"], declaration.sums)
                found += rules.row_failures(key, entry["payload"], declaration.rules)
            if declaration.source == "rows":
                found += checks.incomplete_total_flags(submission.live, declaration.numeric_fields())
                found += rules.totals_failures(
                    checks.field_totals(submission.payloads, declaration.numeric_fields()), declaration.rules)
            found += checks.rate_flags(totals[slug], populations.get(slug), declaration.rates, slug)
            if outlier:
                found += checks.peer_outlier_flags(slug, totals, populations, outlier)
                history = self._history(declaration, period, slug, submissions, fields, outlier.history_periods)
                found += checks.history_outlier_flags(totals[slug], history, outlier)
            flags[slug] = found
        return flags

    @staticmethod
    def _history(declaration, period, slug, submissions, fields, count) -> list[dict]:
        history, earlier = [], period
        first = period_containing(declaration.frequency, declaration.introduced)
        for _ in range(count):
            earlier = earlier.previous()
            if earlier < first:
                break
            found = submissions.get((slug, earlier.name))
            if found:
                history.append(checks.field_totals(found.payloads, fields))
        return history

    # -- periods x publishers ----------------------------------------------
    def grid(self, dataset: str, first: str | None, last: str | None, caller: Principal) -> dict:
        now = self.clock()
        with self.engine.connect() as conn:
            view = self._view(conn, dataset, caller)
            declaration = view.declaration
            end = self._period(declaration, last) if last else self.latest_due_period(declaration, now)
            if first:
                start = self._period(declaration, first)
            else:
                start = end
                for _ in range(3):  # by default the latest four periods
                    if start.previous().last_day >= declaration.introduced:
                        start = start.previous()
            try:
                periods = periods_between(start, end)
            except PeriodError as exc:
                raise Invalid(str(exc)) from None
            submissions = self._readable(read_submissions(conn, declaration), declaration, caller)
            columns, cells = [], {}
            for period in periods:
                rows = self._rows(conn, view, period, submissions, now)
                columns.append({**_period_facts(declaration, period), "totals": totals_of(rows)})
                for row in rows:
                    cells.setdefault(row["org"], {})[period.name] = row
        publishers = [{"org": slug, "name": name, "cells": cells[slug]}
                      for slug, name in view.publishers if slug in view.visible]
        return {"dataset": dataset, "title": declaration.title, "requesting_org": declaration.requesting_org,
                "from": start.name, "to": end.name, "as_of": iso_utc(now),
                "periods": columns, "publishers": publishers}

    def submission(self, dataset: str, period_name: str, org: str, caller: Principal) -> dict:
        """One publisher's submission for a period: its status, flags and the records that make it up."""
        now = self.clock()
        with self.engine.connect() as conn:
            view = self._view(conn, dataset, caller)
            if org not in view.visible:
                raise not_found(f"return of {org}")
            period = self._period(view.declaration, period_name)
            submissions = self._readable(read_submissions(conn, view.declaration), view.declaration, caller)
            row = next(r for r in self._rows(conn, view, period, submissions, now) if r["org"] == org)
        found = submissions.get((org, period.name))
        records = [{"key": key, "id": entry["id"], "seq": entry["seq"], "payload": entry["payload"],
                    "flags": [f for f in row["flags"] if f.get("key") == key]}
                   for key, entry in found.live.items()] if found else []
        if view.declaration.source == "records":
            records.sort(key=lambda r: r["key"])
        else:
            for record in records:
                record["version"] = row_version(record["payload"])
            # Who changed what is part of the set: hidden with it until the council approves it.
            own = caller.is_admin or caller.org == org
            row["history"] = self._history_of(dataset, period.name, org) if found or own else []
        return {"dataset": dataset, "title": view.declaration.title, "guidance": view.declaration.guidance,
                "requesting_org": view.declaration.requesting_org,
                **_period_facts(view.declaration, period), "as_of": iso_utc(now), **row, "records": records}

    def list_returns(self, caller: Principal | None = None) -> list[dict]:
        return [d.summary() for d in self.declarations_for(caller)]

    def declarations_for(self, caller: Principal | None) -> list[ReturnDeclaration]:
        """Every return in force, but for a scoped submitter only the returns it is assigned."""
        declared = self.declarations()
        if caller is None:
            return declared
        with self.engine.connect() as conn:
            names = scoped_returns(conn, caller)
        return declared if names is None else [d for d in declared if d.dataset in names]

    # -- sign-off ----------------------------------------------------------
    def sign_off(self, dataset: str, period_name: str, org: str, action: str, comment: str | None,
                 caller: Principal) -> dict:
        """submit (the council's submitter), approve (its approver: governance), then accept or
        send back with a comment (the requesting org's governance, or admin)."""
        declaration = self.declaration(dataset)
        require_in_scope(self.engine, dataset, caller)
        period = self._period(declaration, period_name)
        if action in ("submit", "approve"):
            caller.require("publisher", "submitter", "governance") if action == "submit" else caller.require("governance")
            caller.require_org(org)
        else:
            caller.require("governance")
            if caller.org != declaration.requesting_org and not caller.is_admin:
                raise Forbidden(f"only {declaration.requesting_org}, which requests {dataset}, accepts or sends back")
            if action == "send_back" and not (comment or "").strip():
                raise Invalid("say why the return is sent back (comment): the council sees it")
            with self.engine.connect() as conn:
                found = read_submissions(conn, declaration).get((org, period.name))
            if found is None or (found.sign_off or {}).get("state") not in DISCLOSED:
                raise NotFound(f"no approved {period.name} return of {org}")
        if declaration.source == "records":  # the caller may take the step: settle the agent's submission first
            self._settle_agent_submission(declaration, period, org)
        sign_off(self.engine, dataset, period.name, org, action, (comment or "").strip() or None, caller, self.clock())
        return self.submission(dataset, period.name, org, caller)

    def set_auto_approve(self, dataset: str, org: str, enabled: bool, caller: Principal) -> dict:
        """A council's governance lets row sets of this return (an agent's, say) be approved as they arrive."""
        caller.require("governance")
        caller.require_org(org)
        declaration = self.declaration(dataset)
        with self.engine.connect() as conn:
            if org not in {slug for slug, _ in self.expected_publishers(conn, declaration)}:
                raise Forbidden(f"{dataset} is not asked of {org}")
        set_auto_approve(self.engine, dataset, org, enabled, caller, self.clock())
        return {"dataset": dataset, "org": org, "auto_approve": enabled}

    # -- row sets ----------------------------------------------------------
    def _sendable(self, dataset: str, period_name: str, org: str, caller: Principal):
        """The version in force and the period, when the caller may send the council's rows for it."""
        caller.require("publisher", "submitter")
        caller.require_org(org)
        declaration = self.declaration(dataset)
        require_in_scope(self.engine, dataset, caller)
        if declaration.source != "rows":
            raise Conflict(f"{dataset} is made of records of its dataset: publish them (POST /records)")
        period = self._period(declaration, period_name)
        if period.first_day > self.clock().date():
            raise Invalid(f"{period.name} has not begun: a return is sent for a period that has begun or ended")
        in_force = self.declaration_for(declaration, period)
        if in_force is None:
            raise Invalid(f"no version of {dataset} applies to {period.name}")
        with self.engine.connect() as conn:
            expected = {slug for slug, _ in self.expected_publishers(conn, in_force)}
        if org not in expected:
            raise Forbidden(f"{dataset} is not asked of {org}")
        return in_force, period

    def submit_rows(self, dataset: str, period_name: str, org: str, rows: list, caller: Principal) -> dict:
        """Replace a council's row set for a period (rows left out are gone); its submission back."""
        in_force, period = self._sendable(dataset, period_name, org, caller)
        replace_rows(self.engine, in_force, period, org, rows, caller, self.clock(), via=via_of(caller, "api"))
        return self.submission(dataset, period.name, org, caller)

    def upload_rows(self, dataset: str, period_name: str, org: str, filename: str, data: bytes,
                    caller: Principal) -> dict:
        """Read a filled workbook or CSV: its good rows become the council's draft set (replacing the
        one before), and every problem is named by sheet, row and column. A file with no good row
        stores nothing."""
        in_force, period = self._sendable(dataset, period_name, org, caller)
        upload = read_upload(in_force, filename, data)
        if upload.rows:
            replace_rows(self.engine, in_force, period, org, upload.rows, caller, self.clock(), via="upload")
        return {"stored_rows": len(upload.rows), "rows_read": upload.rows_read, "problems": upload.problems,
                "submission": self.submission(dataset, period.name, org, caller)}

    # -- one row at a time, and who changed what ------------------------
    def save_row(self, dataset: str, period_name: str, org: str, key: str, values: dict | None, base: str | None,
                 caller: Principal, via: str = "api") -> dict:
        """Add (base None), change (base: the row's version as read) or remove (values None) one row of
        the council's set; a row someone else changed since `base` is a conflict, not lost."""
        in_force, period = self._sendable(dataset, period_name, org, caller)
        edit_row(self.engine, in_force, period, org, key, values, base, caller, self.clock(), via_of(caller, via))
        return self.submission(dataset, period.name, org, caller)

    def row_schema(self, dataset: str, period_name: str, org: str, caller: Principal) -> dict:
        """The fields of the version in force for the period, when the caller may send the council's rows."""
        in_force, _ = self._sendable(dataset, period_name, org, caller)
        return in_force.schema or {"type": "object"}

    def _history_of(self, dataset: str, period: str, org: str) -> list[dict]:
        with self.engine.connect() as conn:
            found = submission_row(conn, dataset, period, org)
            return change_history(conn, found.id if found is not None else None)

    def history(self, dataset: str, period_name: str, org: str, caller: Principal) -> dict:
        """Who changed which row of a council's set, newest first: to whoever may see the set."""
        found = self.submission(dataset, period_name, org, caller)
        if "history" not in found:
            raise Conflict(f"{dataset} is made of records of its dataset; row history is for returns sent as row sets")
        return {"dataset": dataset, "period": found["period"], "org": org, "changes": found["history"]}

    def submitters(self, dataset: str, caller: Principal) -> dict:
        self.declaration(dataset)
        return {"dataset": dataset, "submitters": [{**s, "assigned_at": iso_utc(s["assigned_at"])}
                                                   for s in submitters(self.engine, dataset, caller)]}

    def submitter_choices(self, dataset: str, caller: Principal) -> list[dict] | None:
        """For a council's governance: its submitter accounts and which are assigned to this return
        (None for anyone else, or where the return is not asked of the caller's org)."""
        if caller.role != "governance":
            return None
        declaration = self.declaration(dataset)
        with self.engine.connect() as conn:
            if caller.org not in {slug for slug, _ in self.expected_publishers(conn, declaration)}:
                return None
        return submitter_choices(self.engine, dataset, caller.org)

    def assign_submitter(self, dataset: str, username: str, assigned: bool, caller: Principal) -> dict:
        self.declaration(dataset)
        assign(self.engine, dataset, username, assigned, caller, self.clock())
        return self.submitters(dataset, caller)

    def _settle_agent_submission(self, declaration: ReturnDeclaration, period: Period, org: str) -> None:
        """An agent's submission's state stored as of now, before a sign-off step moves it on."""
        with db.write_transaction(self.engine) as conn:
            found = read_submissions(conn, declaration).get((org, period.name))
            if found is None:
                raise NotFound(f"{org} has sent nothing for {period.name}")
            if found.sign_off is None:
                raise Conflict(f"the {period.name} return of {org} was sent with an API key, not by an agent: "
                               "it needs no sign-off")
            settle(conn, declaration, found, self.clock())

    def template(self, dataset: str, caller: Principal | None = None) -> bytes:
        declaration = self.declaration(dataset)
        if caller is not None:
            require_in_scope(self.engine, dataset, caller)
        if declaration.source != "rows":
            raise Conflict(f"{dataset} is made of records of its dataset; templates are for returns sent as row sets")
        return template_workbook(declaration)



def _period_facts(declaration: ReturnDeclaration, period: Period) -> dict:
    return {"period": period.name, "first_day": period.first_day.isoformat(), "last_day": period.last_day.isoformat(),
            "due_date": period.due_date(declaration.due_days).isoformat(),
            "deadline": iso_utc(period.deadline(declaration.due_days))}


def _row(slug: str, name: str, found: Submission | None, deadline: datetime, now: datetime, flags: list[dict]) -> dict:
    if found is None:
        return {"org": slug, "name": name, "status": "missing" if now >= deadline else "awaited",
                "submitted_at": None, "last_submitted_at": None, "submitted_by": None, "record_count": 0,
                "resubmitted": False, "versions": 0, "flags": []}
    return {
        "org": slug, "name": name,
        "status": "submitted" if found.first_received_at < deadline else "late",
        "submitted_at": iso_utc(found.first_received_at),
        "last_submitted_at": iso_utc(found.last_received_at),
        "submitted_by": found.submitted_by,
        "record_count": len(found.live),
        "resubmitted": found.replaced,
        "versions": found.versions,
        "flags": flags,
    }


def figures_of(declaration: ReturnDeclaration, found: Submission | None) -> dict:
    """A council's totals (each number field added up over its rows) and the rates computed from them."""
    totals = checks.field_totals(found.payloads, declaration.numeric_fields()) if found else {}
    return {"totals": totals, "rates": {r.name: r.of(totals) for r in declaration.computed_rates}}


def totals_of(rows: list[dict]) -> dict:
    totals = {"expected": len(rows), **{status: 0 for status in STATUSES}}
    for row in rows:
        totals[row["status"]] += 1
    totals["received"] = totals["submitted"] + totals["late"]
    totals["resubmitted"] = sum(1 for r in rows if r["resubmitted"])
    totals["flagged"] = sum(1 for r in rows if r["flags"])
    return totals
