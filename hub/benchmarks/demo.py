"""Example benchmarks for `make run`: two family groups (one with enough councils that have sent the
demo's school-meals returns, one without, so both an aggregate and a withheld one show) and an
indicator on school meals, so a newcomer's benchmark pages have something in them."""
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
