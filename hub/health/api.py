from sqlalchemy import text

from hub.errors import Unavailable
from hub.web import ok, principal, services


def health():
    try:
        with services().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the answer must say "down", not crash
        raise Unavailable(f"database unreachable: {type(exc).__name__}") from None
    return ok({"status": "ok"})


def heartbeat(agent_id, body):
    return ok(services().health.record_heartbeat(principal(), agent_id, body), 202)


def list_agents(org=None, status=None):
    return ok({"agents": services().health.list_agents(principal(), org, status)})


def get_agent(agent_id, history=20):
    return ok(services().health.get_agent(principal(), agent_id, history))
