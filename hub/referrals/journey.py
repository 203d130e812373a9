"""A referral's journey from its status updates, without a database: the steps, the current
state, when it is due to be acknowledged, and the quarter it counts in."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

# The statuses of schema referral-status/1, in the order a journey usually takes them.
STATUSES = ("received", "accepted", "declined", "first-appointment-attended", "started-training",
            "gained-qualification", "entered-employment", "sustained-employment-13-weeks",
            "sustained-employment-26-weeks")
AWAITING = "awaiting"  # no status update yet
STATES = (AWAITING, *STATUSES)
DECLINE_REASONS = ("not-eligible", "no-capacity", "client-declined", "unable-to-contact", "duplicate",
                   "referred-elsewhere", "needs-met-elsewhere", "other")
# Client-group fields of schema referral/3 that partnership figures can be cut by.
CLIENT_GROUPS = ("simd_quintile", "disability", "care_experienced", "veteran", "lone_parent", "age_band")
NOT_RECORDED = "not recorded"


def parse_moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The UK's bank-holiday calendars an agreement may count working days by (acknowledge_within.bank_holidays),
# as the `holidays` library's subdivisions of GB; Scotland's unless the agreement says otherwise.
BANK_HOLIDAYS = {"scotland": "SCT", "england-and-wales": "ENG", "northern-ireland": "NIR"}
DEFAULT_BANK_HOLIDAYS = "scotland"


@lru_cache(maxsize=256)
def bank_holidays(calendar: str, year: int) -> frozenset[date]:
    import holidays  # a quarter of a second to import: paid by the processes that count working days only

    return frozenset(holidays.country_holidays("GB", subdiv=BANK_HOLIDAYS[calendar], years=year))


def is_working_day(day: date, calendar: str) -> bool:
    return day.weekday() < 5 and day not in bank_holidays(calendar, day.year)


def add_working_days(start: datetime, days: int, calendar: str | None = None) -> datetime:
    """`days` working days (Monday to Friday, bank holidays of `calendar` left out; Scotland's when None)
    after `start`, at the same time of day; a start on a weekend or a bank holiday counts from the next
    working day."""
    calendar = calendar or DEFAULT_BANK_HOLIDAYS
    moment = start
    while not is_working_day(moment.date(), calendar):
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if is_working_day(moment.date(), calendar):
            left -= 1
    return moment


def ordered(statuses: list[dict]) -> list[dict]:
    """Status payloads in the order they happened (ties in the order of the journey)."""
    return sorted(statuses, key=lambda s: (parse_moment(s["status_at"]), STATUSES.index(s["status"])))


def current_state(statuses: list[dict]) -> str:
    return ordered(statuses)[-1]["status"] if statuses else AWAITING


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def group_value(payload: dict, field: str) -> str:
    value = payload.get(field)
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
