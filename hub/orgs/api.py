from hub.web import ok, services


def enrol(body):
    result = services().orgs.enrol_agent(body["token"], body["public_key"], body["name"], body.get("version"))
    return ok(result, 201)
