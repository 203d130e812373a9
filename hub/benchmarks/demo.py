"""Example benchmarks for `make run`: two family groups and an indicator on school meals, so a
newcomer's benchmark pages have something in them: Scotland's figures from the 28 councils that
sent the demo's returns and each group's beside them (far enough from Scotland's that no council
can be worked out from the two: hub.benchmarks.spread.apart)."""
from __future__ import annotations

from hub.auth import Principal

DATASET = "data-return.school-meals"
GROUPS = {
    "cities-and-larger-towns": ("Cities and larger towns", "rurality",
                                ["dundee", "edinburgh", "fife", "glasgow", "stirling"]),
    "remote-rural": ("Remote rural and islands", "rurality",
                     ["argyll-and-bute", "eilean-siar", "highland", "moray", "orkney", "shetland"]),
}
INDICATOR = {"title": "Free meals taken per pupil registered", "numerator": ["total_free_meals_taken"],
             "denominator": ["free_meals_registered"], "per": 1, "unit": "meals per registered pupil",
             "higher_is_better": True}


def set_example_benchmarks(services) -> str:
    admin = Principal(org="causeway", role="admin", credential_id="demo")
    for name, (title, basis, members) in GROUPS.items():
        services.benchmarks.groups.set(name, {"title": title, "basis": basis, "members": members}, admin)
    services.benchmarks.set_indicator(DATASET, "meals_per_registered_pupil", INDICATOR, admin)
    return f"Benchmarks: {len(GROUPS)} family groups and an indicator on {DATASET}"
