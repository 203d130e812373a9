"""Reference data for returns: populations (CSV) and each org's reminder contact."""
from __future__ import annotations

import base64
import csv
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection, Engine

from hub import db, sealing
from hub.audit import service as audit
from hub.delivery.destinations import DestinationRefused, check_url
from hub.orgs.models import orgs

from .models import return_contacts, return_population

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReferenceError(ValueError):
    pass


@dataclass
class PopulationLoad:
    loaded: int
    errors: list[str]  # "line N: what is wrong"


def load_population_csv(engine: Engine, text: str, default_year: int, actor: str = "cli",
                        clock: Callable[[], datetime] = db.utcnow) -> PopulationLoad:
    """Rows `org,population[,year]` with a header line. Good rows are stored
    (replacing the same org and year); each bad row is named with its line."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if header[:2] != ["org", "population"] or header[2:] not in ([], ["year"]):
        raise ReferenceError("the first line must be the header org,population or org,population,year")
    with db.write_transaction(engine) as conn:
        known = {r.slug for r in conn.execute(select(orgs.c.slug))}
        rows, errors, seen = {}, [], set()
        for line, fields in enumerate(reader, start=2):
            if not any(f.strip() for f in fields):
                continue
            problem, row = _population_row(fields, len(header), known, default_year)
            if problem is None and (row["org"], row["year"]) in seen:
                problem = f"{row['org']} {row['year']} appears twice"
            if problem:
                errors.append(f"line {line}: {problem}")
                continue
            seen.add((row["org"], row["year"]))
            rows[row["org"], row["year"]] = row
        now = clock()
        if rows:
            conn.execute(return_population.delete().where(
                tuple_(return_population.c.org, return_population.c.year).in_(list(rows))))
            conn.execute(return_population.insert(), [{**r, "loaded_at": now} for r in rows.values()])
            audit.append(conn, at=now, actor=actor, org=None, action="returns.population.load",
                         detail={"rows": len(rows), "errors": len(errors)})
    return PopulationLoad(len(rows), errors)


def _population_row(fields: list[str], width: int, known: set[str], default_year: int):
    fields = [f.strip() for f in fields]
    if len(fields) != width:
        return f"expected {width} values, found {len(fields)}", None
    org, population = fields[0], fields[1]
    if org not in known:
        return f"unknown org {org!r} (add it with causeway-hub org add)", None
    if not population.replace(",", "").isdigit() or int(population.replace(",", "")) <= 0:
        return f"population {population!r} for {org} must be a whole number above 0", None
    year = default_year
    if width == 3:
        if not (fields[2].isdigit() and 1900 <= int(fields[2]) <= 2200):
            return f"year {fields[2]!r} for {org} must be a year such as 2024", None
        year = int(fields[2])
    return None, {"org": org, "year": year, "population": int(population.replace(",", ""))}


def populations_for_year(conn: Connection, year: int) -> dict[str, int]:
    """Each org's population for a year: the latest figure not after it, else the earliest there is."""
    best: dict[str, tuple[int, int]] = {}
    for row in conn.execute(select(return_population).order_by(return_population.c.year)):
        current = best.get(row.org)
        if current is None or row.year <= year:
            best[row.org] = (row.year, row.population)
    return {org: population for org, (_, population) in best.items()}


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def set_contact(engine: Engine, org: str, email: str | None, webhook_url: str | None,
                allowed_networks=(), actor: str = "cli", clock: Callable[[], datetime] = db.utcnow) -> str | None:
    """Set where an org's reminders go. Returns a new webhook secret (shown once) when a webhook is set."""
    if not email and not webhook_url:
        raise ReferenceError("give an e-mail address, a webhook URL, or both")
    if email and not EMAIL.match(email):
        raise ReferenceError(f"{email!r} is not an e-mail address")
    if webhook_url:
        try:
            check_url(webhook_url, tuple(allowed_networks))
        except DestinationRefused as exc:
            raise ReferenceError(str(exc)) from exc
    secret = new_webhook_secret() if webhook_url else None
    with db.write_transaction(engine) as conn:
        if not conn.execute(select(orgs.c.slug).where(orgs.c.slug == org)).first():
            raise ReferenceError(f"org {org} does not exist")
        sealed = sealing.for_engine(engine).seal(secret) if secret else None
        now = clock()
        values = {"email": email, "webhook_url": webhook_url, "webhook_secret": sealed, "updated_at": now}
        if conn.execute(select(return_contacts.c.org).where(return_contacts.c.org == org)).first():
            conn.execute(return_contacts.update().where(return_contacts.c.org == org).values(**values))
        else:
            conn.execute(return_contacts.insert().values(org=org, **values))
        audit.append(conn, at=now, actor=actor, org=org, action="returns.contact.set", target=org,
                     detail={"email": email, "webhook_url": webhook_url})  # never the secret
    return secret


def contacts(conn: Connection) -> dict[str, dict]:
    """Each org's reminder contact, its webhook secret opened for signing."""
    sealer = sealing.for_engine(conn.engine)
    found = {}
    for row in conn.execute(select(return_contacts)):
        found[row.org] = {**row._mapping, "webhook_secret": sealer.open(row.webhook_secret) if row.webhook_secret else None}
    return found
