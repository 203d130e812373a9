"""Every test and every deployment starts hub and agent processes; what they import at start
is paid each time. These pin the choices that keep it small without losing a check."""
from __future__ import annotations

import subprocess
import sys

from jsonschema import FormatChecker


def test_the_formats_the_contract_and_schemas_use_are_still_checked():
    checker = FormatChecker()
    assert not checker.conforms("2026-13-01T09:30:00Z", "date-time")
    assert checker.conforms("2026-12-01T09:30:00+00:00", "date-time")
    assert not checker.conforms("http://exa mple.org/", "uri")
    assert checker.conforms("https://example.org/hook", "uri")
    assert not checker.conforms("not an email", "email")
    assert not checker.conforms("2026-02-30", "date")


def test_starting_the_hub_does_not_build_the_iri_grammar():
    # jsonschema's full format extra builds a parser for IRIs at import (about a second of
    # CPU per process); no contract or schema uses the iri formats.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, hub.app, agents.cli; print(sorted({'rfc3987_syntax', 'lark'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert loaded == "[]"


def test_starting_the_hub_does_not_load_the_bank_holiday_calendars():
    # the holidays library is imported when a referral's due time is first worked out
    loaded = subprocess.run([sys.executable, "-c", "import sys, hub.app; print('holidays' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
