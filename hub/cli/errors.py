"""How `causeway-hub` reports a domain error (`hub.errors`): an exit code and text.

The text is the error's detail, then each structured mistake on its own line (an
agreement's problems with their line and column, a consent's fields); never a status code
or a traceback. Exit codes: 2 for what the operator can put right and run again (the code
argparse gives a usage mistake), 69 (EX_UNAVAILABLE) when something the hub needs is
down."""
from __future__ import annotations

from hub.errors import HubError, Unavailable

EXIT_FIXABLE = 2
EXIT_UNAVAILABLE = 69


def report(error: HubError) -> tuple[int, str]:
    """(exit code, message) for a domain error."""
    return (EXIT_UNAVAILABLE if isinstance(error, Unavailable) else EXIT_FIXABLE), describe(error)


def describe(error: HubError) -> str:
    """The detail, or the title and one line per mistake when the error lists them."""
    lines = [_located(item) for item in error.details.get("problems", [])]
    lines += [f"  {item['field'] + ': ' if item.get('field') else ''}{item['message']}"
              for item in error.details.get("errors", [])]
    if not lines:
        return error.detail
    return "\n".join([f"{error.title}:", *lines])


def _located(item: dict) -> str:
    where = ""
    if item.get("line"):
        where = f"line {item['line']}, column {item['column']}: " if item.get("column") else f"line {item['line']}: "
    return f"  {where}{item['path'] or '(document)'}: {item['message']}"
