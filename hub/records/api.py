from hub.errors import Invalid, not_found
from hub.validation import parsed_body
from hub.web import ok, principal, services


def list_datasets():
    principal()
    return ok({"datasets": [d.summary() for d in services().catalogue.all()]})


def get_dataset(dataset):
    principal()
    found = services().catalogue.get(dataset)
    if found is None:
        raise not_found(f"dataset {dataset}")
    return ok({**found.summary(), "fields": found.fields(),
               "schemas": {str(v): f"/api/v1/datasets/{dataset}/schemas/{v}" for v in found.schemas}})


def get_schema(dataset, version):
    found = services().catalogue.get(dataset, version)
    if found is None or version not in found.schemas:
        raise not_found(f"schema {dataset} version {version}")
    return ok(found.schemas[version], content_type="application/schema+json")


def publish():
    return ok(answer_publish(services(), parsed_body(), principal()))


def answer_publish(hub_services, body: dict, caller) -> dict:
    """The answer to a batch; also given by `hub.records.publish_route`, in front of connexion."""
    caller.require("publisher")
    outcome = hub_services.records.publish(body, caller)
    hub_services.metrics.count_publish(caller.org, outcome)
    return {"batch_id": outcome.batch_id, "accepted": outcome.accepted, "duplicates": outcome.duplicates,
            "rejected": outcome.rejected, "results": outcome.results}


def get_record(record_id):
    found = services().records.get_record(record_id, principal())
    if found is None:
        raise not_found(f"record {record_id}")
    return ok(found)


def feed(dataset, after=0, limit=100, purpose=None):
    caller = principal()
    if caller.role == "subscriber":
        # A recipient reads every provider's records, each decided at this moment.
        if not purpose:
            raise Invalid("a recipient reads a feed for a stated purpose: add ?purpose=... "
                          "(for example ServiceProvision)")
        if services().catalogue.get(dataset) is None:
            raise not_found(f"dataset {dataset}")
        limit = max(1, min(limit, services().settings.feed_max_limit))
        return ok(services().policy.recipient_feed(dataset, caller, purpose, after, limit))
    caller.require("publisher")
    return ok(services().records.feed(dataset, caller, after, limit))
