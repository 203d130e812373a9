"""schemathesis hooks for the live contract run.

- One valid request for each operation whose valid input no schema can describe (an
  agreement's YAML, a consent CSV, a one-time enrolment token, ids of stored things),
  read from the JSON file in CONTRACT_EXAMPLES: so those operations are seen to succeed,
  and their success answers are checked against the contract, not only their refusals.
- Outside a network namespace (CONTRACT_WEBHOOK_URL set), every webhook URL the fuzzer
  makes up is pointed at the local receiver address before the request is sent, so no
  generated destination is ever contacted.
"""
import functools
import json
import os

import schemathesis


@functools.cache
def _examples() -> dict:
    path = os.environ.get("CONTRACT_EXAMPLES")
    return json.loads(open(path, encoding="utf-8").read()) if path else {}


@schemathesis.hook
def before_add_examples(context, examples):
    for example in _examples().get(context.operation.definition.raw.get("operationId"), []):
        examples.append(context.operation.Case(**example))


@schemathesis.hook
def before_call(context, case, kwargs):
    receiver = os.environ.get("CONTRACT_WEBHOOK_URL")
    if receiver and case.operation.method.upper() == "POST" and case.operation.path == "/subscriptions" \
            and isinstance(case.body, dict) and "url" in case.body:
        case.body = {**case.body, "url": receiver}
