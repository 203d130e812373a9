from datetime import datetime, timedelta, timezone

from hub.timeutil import iso_utc, parse_iso


def test_every_instant_is_written_as_rfc_3339_with_a_four_digit_year():
    assert iso_utc(datetime(274, 9, 18, 14, 21, 50)) == "0274-09-18T14:21:50.000000Z"
    assert iso_utc(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-02T02:04:05.000006Z"
    assert parse_iso(iso_utc(datetime(9, 1, 1))) == datetime(9, 1, 1, tzinfo=timezone.utc)
