"""Thin handlers for /agents/{agent_id}/configuration (hub.agentconfig.service decides who may)."""
from hub.web import ok, principal, services


def overview(agent_id):
    return ok(services().agent_config.overview(principal(), agent_id))


def create_version(agent_id, body):
    return ok(services().agent_config.create_version(principal(), agent_id, body["source"], body.get("note")), 201)


def get_version(agent_id, version, against=None):
    return ok(services().agent_config.get_version(principal(), agent_id, version, against))


def decide(agent_id, version, body):
    return ok(services().agent_config.decide(principal(), agent_id, version, body["decision"]))


def current(agent_id):
    return ok(services().agent_config.current_for_agent(principal(), agent_id))


def report(agent_id, body):
    return ok(services().agent_config.record_report(principal(), agent_id, body["version"], body["outcome"],
                                                    body.get("error")), 202)
