from hub.audit import service
from hub.web import ok, principal, services


def list_entries(after=0, limit=100, action=None):
    caller = principal()
    caller.require("governance", "ops")
    org = None if caller.is_admin else caller.org
    return ok({"entries": service.list_entries(services().engine, org=org, action=action, after=after, limit=limit)})


def verify_chain():
    caller = principal()
    caller.require("governance", "ops")
    checked, broken = service.verify(services().engine)
    return ok({"intact": broken is None, "checked": checked,
               "first_broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason}})
