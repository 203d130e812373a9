"""schemathesis hooks for a run outside a network namespace (where `unshare -n` is not
available): every webhook URL the fuzzer makes up is pointed at the local receiver
address before the request is sent, so no generated destination is ever contacted."""
import os

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.method.upper() == "POST" and case.operation.path == "/subscriptions" \
            and isinstance(case.body, dict) and "url" in case.body:
        case.body = {**case.body, "url": os.environ["CONTRACT_WEBHOOK_URL"]}
