"""Must show: HTTPS to the hub through a forward proxy, with CONNECT. The proxy is a process of its
own (tests/proxy.py), the hub serves TLS with a private CA, and the agent is configured as
docs/agent.md says (hub.proxy in agent.yaml, or HTTPS_PROXY). The proxy's log proves every
exchange went through its CONNECT tunnels, and that it only ever carried ciphertext."""
import pytest

from support.agents import gazetteer_task, run_agent, write_config, write_gazetteer_csv
from support.proxy import ForwardProxy

pytestmark = pytest.mark.e2e

# No proxy or CA bundle may come from this machine's environment by accident. (An empty
# lower-case variable overrides the upper-case one, so via_proxy() sets both.)
CLEAN = {"HTTPS_PROXY": "", "HTTP_PROXY": "", "https_proxy": "", "http_proxy": "", "NO_PROXY": "", "no_proxy": "",
         "REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}


def via_proxy(url: str) -> dict:
    return {**CLEAN, "HTTPS_PROXY": url, "https_proxy": url}


def hub_port(hub) -> str:
    return hub.url.rsplit(":", 1)[1]


def assert_only_tunnelled(proxy, hub):
    target = f"127.0.0.1:{hub_port(hub)}"
    assert proxy.requests and set(proxy.requests) == {f"CONNECT {target}"}, proxy.requests
    tunnels = proxy.tunnels
    assert tunnels and all(t["target"] == target and t["up"] > 0 and t["down"] > 0 for t in tunnels), tunnels


def test_the_agent_enrols_and_publishes_through_the_proxy_configured_in_agent_yaml(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "addresses.csv", rows=3, start=300)
    with ForwardProxy(tmp_path / "proxy") as proxy:
        config = write_config(tmp_path / "agent.yaml", tls_hub.url, tmp_path / "state",
                              [gazetteer_task(drop, interval=300)])
        document = config.read_text().replace("  timeout_seconds: 10\n",
                                              f"  timeout_seconds: 10\n  proxy: {proxy.url}\n  ca_bundle: {ca}\n")
        config.write_text(document)

        enrolled = run_agent(config, "enrol", "--token", tls_hub.enrolment_token(), "--name", "proxied", **CLEAN)
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        published = run_agent(config, "run", "--once", **CLEAN)
        assert published.returncode == 0, published.stdout + published.stderr

        assert {"906000300", "906000301", "906000302"} <= set(tls_hub.current("gazetteer-address"))
        assert_only_tunnelled(proxy, tls_hub)
        # What crossed the proxy was TLS: no record key, no API path, in clear in its log.
        log = proxy.log_path.read_text()
        assert "906000300" not in log and "/api/v1" not in log

    # With the proxy gone the agent cannot reach the hub, says it was the proxy, and sends nothing.
    write_gazetteer_csv(drop / "more.csv", rows=1, start=400)
    stopped = run_agent(config, "run", "--once", **CLEAN)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0, output
    assert "proxy" in output and "hub.proxy" in output, output
    assert "906000400" not in tls_hub.current("gazetteer-address")


def test_https_proxy_with_credentials_from_the_environment(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    with ForwardProxy(tmp_path / "proxy", credentials="causeway:s3cret-proxy-pw") as proxy:
        config = write_config(tmp_path / "agent.yaml", tls_hub.url, tmp_path / "state",
                              [gazetteer_task(tmp_path, interval=300)])
        config.write_text(config.read_text().replace("  timeout_seconds: 10\n",
                                                     f"  timeout_seconds: 10\n  ca_bundle: {ca}\n"))
        authenticated = proxy.url.replace("http://", "http://causeway:s3cret-proxy-pw@")

        wrong = run_agent(config, "enrol", "--token", tls_hub.enrolment_token(), "--name", "proxied",
                          **via_proxy(proxy.url.replace("http://", "http://causeway:wrong@")))
        output = wrong.stdout + wrong.stderr
        assert wrong.returncode == 2, output
        assert "the proxy refused or is unreachable (407 Proxy Authentication Required)" in output, output
        assert "wrong" not in output.replace("wrong passphrase", "")  # the proxy password is never printed
        assert not (tmp_path / "state" / "credential.json").exists()

        enrolled = run_agent(config, "enrol", "--token", tls_hub.enrolment_token(), "--name", "proxied",
                             **via_proxy(authenticated))
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        assert "s3cret-proxy-pw" not in enrolled.stdout + enrolled.stderr
        assert (tmp_path / "state" / "credential.json").exists()
        assert f"CONNECT 127.0.0.1:{hub_port(tls_hub)}" in proxy.requests
        assert proxy.tunnels and proxy.tunnels[-1]["down"] > 0
