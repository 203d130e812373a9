"""The console's form for a return's indicator, turned into the body the API takes (and back, to
change one), and a domain error's mistakes placed beside the form's fields. The benchmarks
service checks the body, so the form and the API refuse the same things in the same words."""
from __future__ import annotations

from hub.errors import HubError

POPULATION = "population"
FIELDS = ("name", "title", "numerator", "denominator", "per", "unit", "higher_is_better", "named_figures")


def body_from(form) -> dict:
    """The API's indicator body from the posted form (a werkzeug MultiDict); per left as typed
    when it is not a number, so the service names it."""
    denominator: str | list[str] = form.getlist("denominator")
    if denominator == [POPULATION]:
        denominator = POPULATION
    per: str | float = form.get("per", "").strip()
    try:
        per = float(per)
    except ValueError:
        pass
    better = {"yes": True, "no": False}.get(form.get("higher_is_better", ""))
    return {"title": form.get("title", ""), "numerator": form.getlist("numerator"), "denominator": denominator,
            "per": per, "unit": form.get("unit", ""), "higher_is_better": better}


def values_of(indicator: dict) -> dict:
    """The form's values for a stored indicator (the service's as_dict)."""
    denominator = indicator["denominator"]
    per = indicator["per"]
    return {"name": indicator["name"], "title": indicator["title"], "numerator": indicator["numerator"],
            "denominator": [denominator] if denominator == POPULATION else denominator,
            "per": f"{per:g}", "unit": indicator["unit"],
            "higher_is_better": "yes" if indicator["higher_is_better"] else "no"}


def posted_values(form) -> dict:
    """The form as posted, to show again beside its mistakes."""
    return {"name": form.get("name", ""), "title": form.get("title", ""), "numerator": form.getlist("numerator"),
            "denominator": form.getlist("denominator"), "per": form.get("per", ""), "unit": form.get("unit", ""),
            "higher_is_better": form.get("higher_is_better", "")}


def errors_by_field(error: HubError) -> dict[str, str]:
    """field -> its message, from an error's paths (/numerator/0 is the numerator's)."""
    found: dict[str, str] = {}
    for item in error.details.get("errors") or [{"path": "", "message": error.detail}]:
        field = item.get("path", "").strip("/").split("/")[0]
        found.setdefault(field if field in FIELDS else "name", item["message"])
    return found
