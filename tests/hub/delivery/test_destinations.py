"""Where webhooks may go. Every non-global address is refused, whatever its spelling
(embedded in NAT64, 6to4 or IPv4-compatible forms too), unless the operator
allow-lists its network; and the sender connects to the very address it checked, so a
name that resolves anew to an internal host (DNS rebinding) cannot reach it.

Against a real hub process and real receiver processes on loopback addresses."""
from __future__ import annotations

import shutil
import socket
import subprocess

import pytest
import requests

from hub.delivery.destinations import DestinationRefused, check_url
from hub.delivery.webhook import WebhookSender
from support.delivery import Receiver
from support.hubprocess import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REFUSED = [
    # what the hub refused before
    "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://172.16.0.1/hook", "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data", "https://100.64.0.1/hook", "https://0.0.0.0/hook",
    "https://2130706433/hook", "https://0x7f000001/hook", "https://0177.0.0.1/hook", "https://127.1/hook",
    "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook", "https://[fe80::1]/hook", "https://[fc00::1]/hook",
    "https://localhost/hook", "https://240.0.0.1/hook",
    # and what slipped through
    "https://[::127.0.0.1]/hook", "https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b::a01:203]/hook",
    "https://[64:ff9b:1::1]/hook", "https://[2002:7f00:1::1]/hook", "https://[2002:c0a8:101::1]/hook",
    "https://[fec0::1]/hook", "https://224.0.0.1/hook", "https://[ff02::1]/hook",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
]


@pytest.fixture
def hub(db_url, tmp_path, services, settings):
    """A real hub process that allow-lists nothing."""
    process = HubProcess(db_url, env={"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "",
                                      "CAUSEWAY_SECRETS_KEY": settings.delivery.secrets_key},
                         log_path=tmp_path / "hub.log").start()
    yield process
    process.stop()


def test_every_non_global_destination_is_refused_by_a_real_hub(hub, key_for):
    headers = {"Authorization": f"Bearer {key_for('sds', 'subscriber')}"}
    for url in REFUSED:
        response = requests.post(f"{hub.url}/api/v1/subscriptions", headers=headers, timeout=10, json={
            "dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "webhook", "url": url})
        assert response.status_code == 400, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "allow-list" in response.json()["detail"], (url, response.json())
    # A public address is fine (nothing is sent when subscribing).
    response = requests.post(f"{hub.url}/api/v1/subscriptions", headers=headers, timeout=10, json={
        "dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "webhook",
        "url": "https://[64:ff9b::808:808]/hook"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("url, reason", [
    ("https://[::127.0.0.1]/x", "IPv4-compatible address (for 127.0.0.1)"),
    ("https://[64:ff9b::7f00:1]/x", "NAT64 address for 127.0.0.1, a loopback address"),
    ("https://[2002:7f00:1::1]/x", "6to4 address for 127.0.0.1, a loopback address"),
    ("https://[fec0::1]/x", "site-local"),
    ("https://224.0.0.1/x", "multicast"),
    ("https://2130706433/x", "127.0.0.1, a loopback address"),
])
def test_each_refusal_names_the_address_and_why(url, reason):
    with pytest.raises(DestinationRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, ())


def test_the_allow_list_still_opens_listed_networks_and_plain_http_only_there():
    assert check_url("http://127.0.0.1:9/x", ("127.0.0.1/32",)).addresses == ("127.0.0.1",)
    with pytest.raises(DestinationRefused, match="loopback"):
        check_url("http://127.0.0.2:9/x", ("127.0.0.1/32",))
    with pytest.raises(DestinationRefused, match="plain http"):
        check_url("http://[64:ff9b::808:808]/x", ())


class Rebinding:
    """A resolver that answers the allow-listed address first and an internal one after."""

    def __init__(self, first: str, then: str):
        self.first, self.then, self.calls = first, then, 0

    def __call__(self, host, port, *args, **kwargs):
        self.calls += 1
        address = self.first if self.calls == 1 else self.then
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
def two_receivers(tmp_path):
    """The webhook receiver on 127.0.0.1, and an 'internal' one on 127.0.0.2, same port."""
    good = Receiver(tmp_path / "good.db").start()
    internal = Receiver(tmp_path / "internal.db", port=good.port, host="127.0.0.2").start()
    yield good, internal
    good.stop()
    internal.stop()


def test_a_name_that_rebinds_to_an_internal_host_still_reaches_only_the_checked_address(two_receivers, monkeypatch):
    good, internal = two_receivers
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY="
    for receiver in (good, internal):
        receiver.control(secrets={"a": secret})
    resolver = Rebinding("127.0.0.1", "127.0.0.2")
    sender = WebhookSender(allow=("127.0.0.1/32",), resolve=resolver, check_every=0)
    url = f"http://hooks.example.test:{good.port}/hook/a"

    # Any lookup of the name from here on (the HTTP library's own, say) would be a second resolution;
    # only the checked address itself may be turned into a socket address (numerically, no DNS).
    real_getaddrinfo = socket.getaddrinfo
    looked_up = []

    def numeric_only(host, port, *args, **kwargs):
        looked_up.append(host)
        if host != "127.0.0.1":
            raise AssertionError(f"the sender resolved {host} again after checking it")
        return real_getaddrinfo(host, port, *args, flags=socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    first = sender.send(url, [secret], "msg_rebind", _event_body(), "application/cloudevents+json")
    calls_after_first = resolver.calls
    # The next check (check_every=0) sees the internal answer and refuses before connecting.
    second = sender.send(url, [secret], "msg_rebind_2", _event_body(), "application/cloudevents+json")
    monkeypatch.undo()

    assert first.kind == "ok", first
    assert calls_after_first == 1 and set(looked_up) == {"127.0.0.1"}
    assert [r["host"] for r in good.state("a")["requests"]] == [f"hooks.example.test:{good.port}"]
    assert second.kind == "failed" and "127.0.0.2, a loopback address" in second.error
    assert resolver.calls == 2
    assert internal.state("a")["requests"] == []  # the internal host never saw a request
    sender.close()


def _event_body() -> bytes:
    import json

    return json.dumps({"specversion": "1.0", "id": "e1", "source": "/causeway/orgs/edinburgh",
                       "type": "uk.causeway.record.upsert", "data": {}}).encode()


SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:hooks.example.test
"""


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def tls_receiver(tmp_path):
    """A receiver serving HTTPS with a certificate for hooks.example.test only (no IP address in it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test CA")
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=Causeway Test Webhook CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=pki)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=hooks.example.test", cwd=pki)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-sha256", "-extfile", "server.ext", "-out", "server.pem", cwd=pki)
    receiver = Receiver(tmp_path / "tls.db", tls=(pki / "server.pem", pki / "server.key", pki / "ca.pem")).start()
    yield receiver, pki / "ca.pem"
    receiver.stop()


def test_tls_is_verified_against_the_host_name_while_connecting_to_the_checked_address(tls_receiver):
    receiver, ca = tls_receiver
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY="
    receiver.control(secrets={"a": secret})
    pinned = Rebinding("127.0.0.1", "127.0.0.1")
    sender = WebhookSender(allow=("127.0.0.1/32",), resolve=pinned, ca_certs=str(ca))
    url = f"https://hooks.example.test:{receiver.port}/hook/a"
    outcome = sender.send(url, [secret], "msg_tls", _event_body(), "application/cloudevents+json")
    assert outcome.kind == "ok", outcome
    assert [r["host"] for r in receiver.state("a")["requests"]] == [f"hooks.example.test:{receiver.port}"]
    # Another name resolving to the same address: the certificate does not match it, nothing is sent.
    other = f"https://other.example.test:{receiver.port}/hook/a"
    outcome = sender.send(other, [secret], "msg_tls_2", _event_body(), "application/cloudevents+json")
    assert outcome.kind == "failed" and "could not connect" in outcome.error
    # A sender that does not trust the test CA refuses the certificate too.
    untrusting = WebhookSender(allow=("127.0.0.1/32",), resolve=pinned)
    outcome = untrusting.send(url, [secret], "msg_tls_3", _event_body(), "application/cloudevents+json")
    assert outcome.kind == "failed"
    assert len(receiver.state("a")["requests"]) == 1
    sender.close()
    untrusting.close()
