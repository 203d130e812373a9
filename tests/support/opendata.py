"""An open gazetteer on a console hub process: Edinburgh publishes addresses to the public under an
agreement approved by Edinburgh and the hub operator (sfrs), and the projector has published them."""
from __future__ import annotations

import requests

from support.agreements import agreement_yaml
from support.factories import gazetteer_record
from support.waiting import wait_until

OPEN_ENV = {"CAUSEWAY_HUB_OPERATOR": "sfrs", "CAUSEWAY_OPEN_DATA_INTERVAL_SECONDS": "0.5"}
OPEN = agreement_yaml("gazetteer-open", ["edinburgh"], ["public"], purposes=["ServiceProvision"],
                      datasets={"gazetteer-address": {"fields": ["uprn", "paon", "street", "town", "postcode"]}})


def publish_open_gazetteer(server, postcodes=("EH1 1YJ", "EH1 2NG", "EH6 6QQ")) -> None:
    assert server.api("POST", "/agreements", "edinburgh", "governance", json={"source": OPEN}).status_code == 201
    for org in ("edinburgh", "sfrs"):
        answer = server.api("POST", "/agreements/gazetteer-open/transitions", org, "governance", json={"to": "approved"})
        assert answer.status_code == 200, answer.text
    assert server.api("POST", "/agreements/gazetteer-open/transitions", "edinburgh", "governance",
                      json={"to": "active"}).status_code == 200
    records = []
    for n, postcode in enumerate(postcodes):
        record = gazetteer_record(7700 + n)
        record["payload"].update(postcode=postcode, street=f"Example Street {n}")
        records.append(record)
    server.publish("edinburgh", records)
    wait_until(lambda: len(requests.get(f"{server.base_url}/open/gazetteer-address.json", timeout=5)
                           .json().get("records", [])) == len(postcodes), timeout=30,
               message="the projector to publish")
