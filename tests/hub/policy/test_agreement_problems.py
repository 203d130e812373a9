"""An agreement with several mistakes is answered with every one of them at once, each at
the line it was made, in words (not the format's regular expressions)."""
from __future__ import annotations

import pytest

from causeway_common.catalogue import load_catalogue
from hub.policy.agreements import AgreementError, parse_agreement
from support.agreements import FIVE_MISTAKES

CATALOGUE = load_catalogue()
ORGS = {"edinburgh", "sds"}



def problems_of(source: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(AgreementError) as raised:
        parse_agreement(source, dataset_of=CATALOGUE.get, org_exists=ORGS.__contains__)
    return [(p.line, p.path, p.message) for p in raised.value.problems]


def test_every_mistake_is_reported_at_once_at_its_line():
    found = problems_of(FIVE_MISTAKES)
    assert [(line, path) for line, path, _ in found] == [
        (3, "providers[1]"), (6, "lawful_basis"), (8, "valid_until"),
        (12, "datasets.referral.fields[1]"), (14, "datasets.referral.conditions[0]")]
    assert "one of the choices: consent, public-task" in found[1][2]


def test_a_missing_setting_is_not_put_on_line_1():
    source = FIVE_MISTAKES.replace("lawful_basis: because\n", "").replace("    fields: [referral_id, goalz]\n", "")
    found = {path: (line, message) for line, path, message in problems_of(source)}
    assert found["lawful_basis"][0] is None and "missing" in found["lawful_basis"][1]
    assert found["datasets.referral.fields"][0] == 10  # at the dataset that lacks it
    assert 3 in [line for line, _ in found.values()]  # and the unknown org is still reported beside them


def test_the_form_of_a_value_is_said_in_words():
    source = FIVE_MISTAKES.replace("id: five-mistakes", "id: Five_Mistakes").replace("[sds]", "sds")
    found = {path: message for _, path, message in problems_of(source)}
    assert "lower-case letters, digits, dots and hyphens" in found["id"] and "^[" not in found["id"]
    assert found["recipients"].startswith("should be a list")
    source = FIVE_MISTAKES.replace("retention_days: 365", "retention_days: 365\ncolour: red")
    assert any(line == 10 and "'colour' is not a setting" in message for line, _, message in problems_of(source))
