"""`demo`: everything `make run` needs (database, example orgs, agreements, keys, staff, an agent), then serve."""
from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from hub.cli.context import EXAMPLES_DIR, operator, services
from hub.cli.db import cmd_init
from hub.cli.org import import_orgs
from hub.cli.returns import load_population
from hub.cli.serve import add_listen_options, cmd_serve
from hub.policy.vocabulary import PUBLIC

DEMO_KEYS = [("edinburgh", "publisher"), ("sds", "subscriber"), ("edinburgh", "governance"),
             ("sds", "governance"), ("improvement-service", "ops"), ("scottish-government", "admin")]


DEMO_STAFF = [("gov.edinburgh", "edinburgh", "governance"), ("gov.sds", "sds", "governance"),
              ("ops", "improvement-service", "ops"), ("admin", "scottish-government", "admin")]


def demo_policies(hub, keys: dict) -> None:
    """Apply the example agreements and activate them, approving as a governance key of every
    provider and every recipient (each approves for itself), so the demo has agreements in force."""
    agreements, orgs = hub.policy.agreements, hub.orgs
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        if path.name == "orgs.yaml":
            continue
        result = agreements.apply(path.read_text(encoding="utf-8"), operator())
        document = agreements.versions(result["id"], operator())[-1]["document"]
        if result["status"] == "active":
            continue
        for party in dict.fromkeys(document["providers"] + document["recipients"]):
            # The hub operator's governance approves for the public.
            org = hub.settings.hub_operator if party == PUBLIC else party
            key = keys.get((org, "governance")) or orgs.issue_key(org, "governance", label="demo")
            keys[(org, "governance")] = key
            agreements.transition(result["id"], "approved", orgs.authenticate(key))
        agreements.transition(result["id"], "active", orgs.authenticate(keys[(document["providers"][0], "governance")]))
        print(f"  agreement {result['id']} v{result['version']} active")


def demo_vacancy_subscription(hub) -> None:
    """Edinburgh's caseworkers receive SDS's job vacancies (the example agreement job-vacancies-sds)
    on a pull feed; vacancies past their closing date are withdrawn by the hub's hourly job."""
    from hub.auth import Principal

    edinburgh = Principal(org="edinburgh", role="subscriber", credential_id="demo")
    if not any(sub["dataset"] == "job-vacancy" for sub in hub.delivery.list(edinburgh)):
        hub.delivery.subscribe({"dataset": "job-vacancy", "purpose": "ServiceProvision", "channel": "pull"}, edinburgh)
    print("  edinburgh receives job-vacancy from sds on a pull feed (GET /api/v1/feeds/job-vacancy)")


def _demo_staff(accounts) -> None:
    for username, org, role in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        if username not in {user["username"] for user in accounts.list_users()}:
            accounts.add_user(username, org, role, password, actor="demo")
        else:
            accounts.set_password(username, password, actor="demo")
        print(f"  {username:<16} {org + '/' + role:<32} {password}")


def cmd_demo(args) -> int:
    from hub.benchmarks.demo import set_example_benchmarks
    from hub.returns.demo import publish_example_returns, set_example_contacts
    from hub.returns.derived_demo import publish_derived_example

    # The demo's operations staff are the Improvement Service's, running the hub for everyone.
    os.environ.setdefault("CAUSEWAY_HUB_OPERATOR", "improvement-service")
    # Recount the open tables of counts often, so the demo's agent's first files show at once.
    os.environ.setdefault("CAUSEWAY_OPEN_AGGREGATES_INTERVAL_SECONDS", "30")
    # The demo's webhook receiver listens on this machine; agents older than this are flagged.
    os.environ.setdefault("CAUSEWAY_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")
    os.environ.setdefault("CAUSEWAY_MIN_AGENT_VERSION", "0.1.0")
    cmd_init(args)
    hub = services(args)
    import_orgs(hub.orgs, str(EXAMPLES_DIR / "orgs.yaml"))
    load_population(hub, str(EXAMPLES_DIR / "population.csv"), None)
    set_example_contacts(hub)
    print(publish_example_returns(hub))
    print(publish_derived_example(hub))
    print(set_example_benchmarks(hub))
    keys = {(org, role): hub.orgs.issue_key(org, role, label="demo") for org, role in DEMO_KEYS}
    print("\nExample sharing agreements:")
    demo_policies(hub, keys)
    demo_vacancy_subscription(hub)
    print("\nDemo credentials (new ones are made at every start; keep them to try the API):")
    for org, role in DEMO_KEYS:
        print(f"  {org:<22} {role:<11} {keys[org, role]}")
    print("\nConsole staff (passwords are new at every start):")
    _demo_staff(hub.accounts)
    print(f"\nHub on http://{args.host}:{args.port}/api/v1 (try: curl -H 'Authorization: Bearer <key>' "
          f"http://{args.host}:{args.port}/api/v1/datasets); console on http://{args.host}:{args.port}/console; "
          f"open data (no key) on http://{args.host}:{args.port}/open/",
          flush=True)
    if args.agent_dir:
        from hub import demo_agent

        token, _ = hub.orgs.create_enrolment("edinburgh", 3600, actor="demo")
        demo_agent.start(Path(args.agent_dir), args.host, args.port, token)
        print(f"An Edinburgh agent publishes the sample files in {args.agent_dir}/drop (log: {args.agent_dir}/agent.log);\n"
              f"watch records arrive with the edinburgh publisher key: curl -H 'Authorization: Bearer <key>' "
              f"http://{args.host}:{args.port}/api/v1/feeds/gazetteer-address\n"
              f"and the agent's health with the scottish-government admin key: "
              f"http://{args.host}:{args.port}/api/v1/agents\n", flush=True)
    if args.agent_dir and args.subscriber_dir:  # without the agent, nothing flows to subscribe to
        from hub import demo_subscriber

        demo_subscriber.start(hub, Path(args.subscriber_dir), args.host, args.port)
    return cmd_serve(args)


def register(commands, common) -> None:
    demo = commands.add_parser("demo", parents=[common], help="set up example orgs, schemas and keys, then serve")
    add_listen_options(demo)
    demo.add_argument("--schemas", help=argparse.SUPPRESS)
    demo.add_argument("--agent-dir", default="var/demo/agent",
                      help="where the demo agent keeps its config, drop folders and state ('' for no agent)")
    demo.add_argument("--subscriber-dir", default="var/demo/subscriber",
                      help="where the demo's subscribers (a webhook receiver, a subscribing agent) write what they "
                           "receive ('' for none)")
    demo.set_defaults(func=cmd_demo)
