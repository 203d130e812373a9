"""The returns calendar of one org: what is due when, and where each return stands.

For a council, every return it must submit (one entry per return and period); for an agency,
every return it asks for, one entry per council asked and period. An entry's `state` is where
the return stands in sign-off as the org may see it, its `status` what that means for the
calendar:

  state                                   status
  not_started (nothing sent)              due, or late once the deadline has passed
  not_received (an agency: nothing it may see yet, i.e. not approved by the council)
  draft                                   due or late
  submitted (awaiting the council's approver)   awaiting_approval
  approved / accepted / sent_back         approved / accepted / sent_back
  received (a return made of records)     received

`late` says whether it missed its deadline (for a row set: not approved by the council in
time; for records: first received after it). `overdue` is still to be done and past its
deadline. The window is of due dates; periods before a return was introduced, from its
retirement on, or with no version in force are not in it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select

from hub.auth import Principal
from hub.errors import Invalid, not_found
from hub.orgs.models import orgs
from hub.timeutil import iso_utc

from .declaration import ReturnDeclaration
from .periods import Period, parse_period, period_containing
from .rowsets import DISCLOSED
from .submissions import Submission, read_submissions

DEFAULT_DAYS_BACK, DEFAULT_DAYS_AHEAD = 92, 92
MAX_DAYS = 400
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
OUTSTANDING = ("due", "late", "awaiting_approval", "sent_back")
STATUSES = ("due", "late", "awaiting_approval", "approved", "accepted", "sent_back", "received")


def console_path(dataset: str, period: str, org: str) -> str:
    """The console page of one council's return for one period."""
    return f"/console/returns/{quote(dataset)}/{quote(period)}/{quote(org)}"


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    @classmethod
    def around(cls, today: date, start: date | None = None, end: date | None = None,
               back: int = DEFAULT_DAYS_BACK, ahead: int = DEFAULT_DAYS_AHEAD) -> "Window":
        for day in (start, end):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise Invalid(f"{day} is outside the years the calendar covers ({EARLIEST.year} to {LATEST.year})")
        span = timedelta(days=back + ahead)  # one end given: the other as far off as the default window
        start = start or (end - span if end else today - timedelta(days=back))
        end = end or (start + span if start else today + timedelta(days=ahead))
        if end < start:
            raise Invalid(f"the calendar runs backwards: from {start} is after to {end}")
        if (end - start).days > MAX_DAYS:
            raise Invalid(f"from {start} to {end} is more than {MAX_DAYS} days: ask for a shorter calendar")
        return cls(start, end)


class ReturnCalendar:
    def __init__(self, returns):
        self.returns = returns  # hub.returns.service.ReturnService

    def calendar(self, org: str, caller: Principal, window: Window) -> dict:
        """The org's calendar (its own staff and the hub's admin only)."""
        caller.require_org(org)
        return self.of(org, window)

    def of(self, org: str, window: Window) -> dict:
        """The calendar as the org sees it (also for its feed, which has no caller)."""
        now = self.returns.clock()
        submits, asks = [], []
        expected: dict[tuple[str, int], list[tuple[str, str]]] = {}
        with self.returns.engine.connect() as conn:
            name = conn.execute(select(orgs.c.name).where(orgs.c.slug == org)).scalar()
            if name is None:
                raise not_found(f"org {org}")
            for declaration in self.returns.declarations():
                asking = declaration.requesting_org == org
                submissions: dict | None = None
                for period, in_force in self._periods(declaration, window):
                    version = (in_force.dataset, in_force.version)
                    if version not in expected:
                        expected[version] = self.returns.expected_publishers(conn, in_force)
                    councils = expected[version]
                    if not asking and org not in dict(councils):
                        continue
                    if submissions is None:
                        submissions = read_submissions(conn, declaration)
                    for slug, council in councils:
                        if slug == org:
                            submits.append(_entry(in_force, period, slug, council, submissions.get((slug, period.name)),
                                                  now, own=True))
                        if asking:
                            asks.append(_entry(in_force, period, slug, council, submissions.get((slug, period.name)),
                                               now, own=slug == org))
        order = lambda e: (e["due_date"], e["dataset"], e["period"], e["org"])  # noqa: E731
        submits.sort(key=order)
        asks.sort(key=order)
        return {"org": org, "name": name, "from": window.start.isoformat(), "to": window.end.isoformat(),
                "as_of": iso_utc(now), "submits": submits, "asks": asks,
                "counts": {"submits": _counts(submits), "asks": _counts(asks)},
                "overdue_by_council": _overdue_by_council(asks)}

    def _periods(self, declaration: ReturnDeclaration, window: Window):
        """(period, version in force) for each period of the return due within the window."""
        period = period_containing(declaration.frequency, window.start - timedelta(days=declaration.due_days))
        first = period_containing(declaration.frequency, declaration.introduced)
        period = max(period, first)
        # Versions read once per return (not per period); the one in force is the latest applying.
        versions = ([(parse_period(v.frequency, v.applies_from), v) for v in
                     self.returns.definitions.versions_in_force(declaration.dataset)]
                    if declaration.source == "rows" else [(first, declaration)])
        while period.due_date(declaration.due_days) <= window.end:
            if declaration.retired and period.first_day >= declaration.retired:
                break
            in_force = next((v for applies, v in reversed(versions) if applies <= period), None)
            if in_force is not None and window.start <= period.due_date(in_force.due_days) <= window.end:
                yield period, in_force
            period = period.next()


def _entry(declaration: ReturnDeclaration, period: Period, org: str, name: str, found: Submission | None,
           now: datetime, own: bool) -> dict:
    deadline = period.deadline(declaration.due_days)
    # Row sets and agents' submissions go through sign-off (records sent with an API key do not).
    rows = declaration.source == "rows" or (found is not None and found.sign_off is not None)
    state = (found.sign_off or {}).get("state") if rows and found else ("received" if found else None)
    if rows and state and not own and state not in DISCLOSED:
        state = None  # the agency sees a council's set from its approval on
    if state is None:
        state = "not_started" if own else "not_received"
    if state in ("not_started", "not_received", "draft"):
        status, late = ("late" if now >= deadline else "due"), now >= deadline
    elif state == "submitted":
        status, late = "awaiting_approval", now >= deadline
    else:
        status = state
        late = found is not None and found.first_received_at >= deadline
    return {"dataset": declaration.dataset, "title": declaration.title, "frequency": declaration.frequency,
            "requesting_org": declaration.requesting_org, "period": period.name,
            "first_day": period.first_day.isoformat(), "last_day": period.last_day.isoformat(),
            "due_date": period.due_date(declaration.due_days).isoformat(), "deadline": iso_utc(deadline),
            "org": org, "name": name, "state": state, "status": status, "late": late,
            "overdue": status in OUTSTANDING and now >= deadline,
            "comment": (found.sign_off or {}).get("comment") if found and state == "sent_back" else None,
            "console_path": console_path(declaration.dataset, period.name, org)}


def _counts(entries: list[dict]) -> dict:
    counts = {status: 0 for status in STATUSES}
    for entry in entries:
        counts[entry["status"]] += 1
    counts["overdue"] = sum(1 for e in entries if e["overdue"])
    return counts


def _overdue_by_council(entries: list[dict]) -> list[dict]:
    """Which council is late on what (still to do and past its deadline), councils by name."""
    found: dict[str, dict] = {}
    for e in entries:
        if e["overdue"]:
            found.setdefault(e["org"], {"org": e["org"], "name": e["name"], "returns": []})["returns"].append(
                {k: e[k] for k in ("dataset", "title", "period", "due_date", "status", "console_path")})
    return sorted(found.values(), key=lambda c: c["name"])
