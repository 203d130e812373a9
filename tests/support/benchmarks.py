"""A small world of councils with hand-worked benchmark figures (worked in tests/hub/benchmarks).

Seven councils are asked for a quarterly return of housing assessments by Scottish Government.
In 2026-Q2 six have approved row sets; Moray's set is only a draft, so it counts for nobody but
Moray. In 2026-Q1 only four councils approved, fewer than the minimum of five, so Scotland's
aggregates for Q1 are withheld. Populations are round numbers so rates per 1,000 work by hand.
"""
from __future__ import annotations

from hub.auth import Principal
from hub.returns.reference import load_population_csv

AGENCY, OUTSIDER = "scottish-government", "sds"
DATASET = "data-return.housing-assessments"
Q1, Q2 = "2026-Q1", "2026-Q2"
NOW = "2026-08-15T10:00:00Z"  # Q2 was due on 30 July

COUNCILS = {  # slug: (name, population)
    "edinburgh": ("The City of Edinburgh Council", 100_000), "glasgow": ("Glasgow City Council", 200_000),
    "fife": ("Fife Council", 50_000), "dundee": ("Dundee City Council", 80_000),
    "angus": ("Angus Council", 40_000), "stirling": ("Stirling Council", 90_000),
    "moray": ("The Moray Council", 25_000),
}
# (assessed, within_target) per council and quarter; each council sends them as two rows.
FIGURES = {
    Q2: {"edinburgh": (400, 300), "glasgow": (1000, 600), "fife": (150, 135), "dundee": (320, 160),
         "angus": (100, 90), "stirling": (450, 360), "moray": (70, 70)},
    Q1: {"edinburgh": (380, 266), "glasgow": (900, 540), "fife": (140, 112), "dundee": (300, 150)},
}
DRAFT_ONLY = {"moray"}
GROUPS = {"urban": ("Urban councils", ["dundee", "edinburgh", "fife", "glasgow", "stirling"]),
          "small": ("Small group", ["angus", "edinburgh", "moray"])}

SPEC = {
    "name": DATASET, "title": "Housing assessments", "frequency": "quarterly", "due_days_after_period_end": 30,
    "expected_publishers": sorted(COUNCILS), "introduced": "2026-01-01",
    "fields": {"type": "object", "additionalProperties": False, "required": ["office", "assessed", "within_target"],
               "properties": {"office": {"type": "string"},
                              "assessed": {"type": "integer", "minimum": 0, "title": "Households assessed"},
                              "within_target": {"type": "integer", "minimum": 0,
                                                "title": "Assessed within 28 days"}}},
}
INDICATOR = {"title": "Assessed within 28 days", "numerator": ["within_target"], "denominator": ["assessed"],
             "per": 100, "unit": "% of households assessed", "higher_is_better": True}


def who(org: str, role: str) -> Principal:
    return Principal(org=org, role=role, credential_id=f"{org}-{role}")


ADMIN = Principal(org="improvement-service", role="admin", credential_id="admin")


def build(services, clock) -> None:
    """Orgs, populations, the return, its indicator, family groups and every council's row sets."""
    clock.set(NOW)
    for slug, (name, _) in COUNCILS.items():
        services.orgs.ensure_org(slug, name, "council", actor="test")
    for slug, name in ((AGENCY, "Scottish Government"), (OUTSIDER, "Skills Development Scotland"),
                       ("improvement-service", "Improvement Service")):
        services.orgs.ensure_org(slug, name, "agency", actor="test")
    text = "org,population,year\n" + "".join(f"{slug},{pop},2026\n" for slug, (_, pop) in COUNCILS.items())
    assert load_population_csv(services.engine, text, 2026, actor="test").errors == []
    services.returns.definitions.draft(SPEC, who(AGENCY, "governance"))
    services.returns.definitions.approve(DATASET, 1, ADMIN)
    services.benchmarks.set_indicator(DATASET, "within_target_percent", INDICATOR, who(AGENCY, "governance"))
    for name, (title, members) in GROUPS.items():
        services.benchmarks.groups.set(name, {"title": title, "members": members}, ADMIN)
    for period, figures in FIGURES.items():
        for slug, (assessed, within) in figures.items():
            first = assessed // 2
            rows = [{"key": "north", "values": {"office": "North", "assessed": first, "within_target": within // 2}},
                    {"key": "south", "values": {"office": "South", "assessed": assessed - first,
                                                "within_target": within - within // 2}}]
            services.returns.submit_rows(DATASET, period, slug, rows, who(slug, "publisher"))
            if slug not in DRAFT_ONLY:
                services.returns.sign_off(DATASET, period, slug, "submit", None, who(slug, "publisher"))
                services.returns.sign_off(DATASET, period, slug, "approve", None, who(slug, "governance"))
