from sqlalchemy import text

from hub.problems import Problem
from hub.web import ok, services


def health():
    try:
        with services().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the answer must say "down", not crash
        raise Problem(503, "Service Unavailable", f"database unreachable: {type(exc).__name__}") from None
    return ok({"status": "ok"})
