"""Plausibility checks: sums, rates per 1,000 and outliers (against peers and against history)."""
from hub.returns import checks
from hub.returns.declaration import OutlierCheck, RateCheck, SumCheck

SUM = (SumCheck("total", ("a", "b")),)


def test_a_total_that_is_not_the_sum_of_its_parts_is_flagged():
    assert checks.sum_flags("k", {"total": 30, "a": 10, "b": 20}, SUM) == []
    [flag] = checks.sum_flags("k", {"total": 31, "a": 10, "b": 20}, SUM)
    assert flag["check"] == "sum" and flag["expected"] == 30
    assert flag["message"] == "total is 31 but a + b add up to 30 (difference 1)"


def test_a_rate_per_1000_out_of_range_is_flagged_and_a_missing_population_said():
    rates = (RateCheck("registered", 10, 150),)
    assert checks.rate_flags({"registered": 5000}, 100000, rates, "fife") == []
    [high] = checks.rate_flags({"registered": 20000}, 100000, rates, "fife")
    assert high["rate_per_1000"] == 200 and "outside the expected 10 to 150" in high["message"]
    [low] = checks.rate_flags({"registered": 500}, 100000, rates, "fife")
    assert low["rate_per_1000"] == 5
    [unknown] = checks.rate_flags({"registered": 500}, None, rates, "fife")
    assert "no population figure for fife" in unknown["message"]


def test_a_council_far_from_the_others_is_flagged_relative_to_population():
    populations = {f"c{i}": 10000 * (i + 1) for i in range(10)}
    totals = {org: {"meals": pop * (0.05 + 0.001 * (i % 3))} for i, (org, pop) in enumerate(populations.items())}
    check = OutlierCheck(fields=("meals",), mad_threshold=3, per_population=True, min_values=5)
    assert all(checks.peer_outlier_flags(org, totals, populations, check) == [] for org in totals)
    totals["c4"]["meals"] *= 3
    [flag] = checks.peer_outlier_flags("c4", totals, populations, check)
    assert flag["check"] == "outlier_peers" and flag["mads"] > 3
    # Raw values would differ by council size; compared raw, the largest would stand out instead.
    raw = OutlierCheck(fields=("meals",), mad_threshold=3, per_population=False, min_values=5)
    assert checks.peer_outlier_flags("c4", totals, populations, raw) == []


def test_too_few_or_identical_values_raise_no_outlier_flag():
    check = OutlierCheck(fields=("x",), min_values=5)
    few = {f"c{i}": {"x": v} for i, v in enumerate([1, 1, 100])}
    assert checks.peer_outlier_flags("c2", few, {}, check) == []
    same = {f"c{i}": {"x": 7} for i in range(8)}
    assert checks.peer_outlier_flags("c0", same, {}, check) == []


def test_a_value_far_from_the_publishers_own_history_is_flagged():
    check = OutlierCheck(fields=("x",), mad_threshold=3, history_periods=4)
    history = [{"x": 100}, {"x": 104}, {"x": 98}, {"x": 101}]
    assert checks.history_outlier_flags({"x": 103}, history, check) == []
    [flag] = checks.history_outlier_flags({"x": 160}, history, check)
    assert flag["check"] == "outlier_history" and "last 4 returns" in flag["message"]
    assert checks.history_outlier_flags({"x": 160}, history[:2], check) == []  # too little history


def test_close_agreement_is_not_an_outlier_however_small_the_mad():
    check = OutlierCheck(fields=("x",), mad_threshold=3, min_values=5)
    totals = {f"c{i}": {"x": 1000 + (i % 2)} for i in range(9)}
    totals["c9"] = {"x": 1010}  # 10 MADs away but only 1% from the median
    assert checks.peer_outlier_flags("c9", totals, {}, check) == []
    totals["c9"] = {"x": 1100}
    assert checks.peer_outlier_flags("c9", totals, {}, check) != []
