"""What the tests share, importable as `support.<module>` (pytest puts the repository
root and `tests/` on the path: `pythonpath` in setup.cfg; no test edits sys.path).

- servers        real PostgreSQL and Mosquitto servers on free loopback ports; free_port, wait_for_port
- hubprocess     HubProcess, the one harness for a real `causeway-hub serve` process; hub_cli, issue_key
- agents         AgentHub (a HubProcess on its own SQLite file, with the hub's view of records),
                 agent processes, agent configuration and a gazetteer export
- delivery       the webhook receiver's controller, the delivery worker process, an org's MQTT client
- receivers/     receiver programs started as processes: webhook_receiver.py (Standard Webhooks and
                 CloudEvents checks), webhook_sink.py and smtp_sink.py (append what arrives to a file);
                 SinkProcess runs the sinks
- browser        a hub set up as an operator would, and headless Chromium tabs on its console
- console        signing staff in to the console through the Flask test client
- factories      valid records built from the schemas' own examples
- delivery_fakes a fake channel and a fake decision point for the worker's unit tests
- agreements     sharing agreements: the examples in policies/, YAML builders, putting one in force
- returns        a data-returns quarter: orgs, populations, returns with known problems
- waiting        wait_until, the one polling loop
- tls            a private CA and a certificate for 127.0.0.1, for hubs served over HTTPS
- fake_icacls    a stand-in for Windows' icacls, for running the agent's Windows branch here
- proxy          a forward proxy process (CONNECT tunnels, Basic proxy auth) that logs what it carried
- local_http     a local system's JSON API for the http connector's tests: JsonHandler, serving, address
- cloudevents_check, raw_http, poison_files, live_hub: single-purpose helpers named for what they do
"""
from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


def python_env(base: dict | None = None, **extra: str) -> dict:
    """The environment for a Python program a test starts (a receiver, the fuzzer): it imports
    `support.*` and the project's packages the way the tests do."""
    env = {**(os.environ if base is None else base), **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(TESTS), env.get("PYTHONPATH")]))
    return env
