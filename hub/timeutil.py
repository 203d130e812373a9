from datetime import datetime, timezone


def iso_utc(moment: datetime) -> str:
    """One text form per instant, whichever database returned it (SQLite gives naive UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    # strftime's %Y does not pad years before 1000 to four digits, which RFC 3339 needs.
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """RFC 3339 text (with Z or an offset) to an aware datetime; ValueError if it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment
