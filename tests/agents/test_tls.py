"""Must show: against a hub serving HTTPS with a certificate from a private CA, an agent
given that CA (hub.ca_bundle or --ca-bundle) enrols and publishes; without it, enrolment
and publishing fail with a message naming the certificate, and nothing reaches the hub."""
import shutil
import subprocess
import sys

import certifi
import pytest
import yaml

from support import ROOT
from support.agents import AgentHub, agent_env, gazetteer_task, run_agent, write_gazetteer_csv

pytestmark = pytest.mark.e2e

# Neither the system store nor an inherited bundle may make the hub's certificate trusted by accident.
NO_INHERITED_CA = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "NO_PROXY": "*"}

CA_EXTENSIONS = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_certificates(folder):
    """A private CA and a one-day certificate for 127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    folder.mkdir()
    (folder / "ca.ext").write_text(CA_EXTENSIONS)
    (folder / "server.ext").write_text(SERVER_EXTENSIONS)
    openssl("genrsa", "-out", "ca.key", "2048", cwd=folder)
    openssl("req", "-new", "-key", "ca.key", "-subj", "/CN=Causeway Test Private CA", "-out", "ca.csr", cwd=folder)
    openssl("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", "1", "-sha256",
            "-extfile", "ca.ext", "-out", "ca.pem", cwd=folder)
    openssl("genrsa", "-out", "server.key", "2048", cwd=folder)
    openssl("req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr", cwd=folder)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-sha256", "-extfile", "server.ext", "-out", "server.pem", cwd=folder)
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed; it makes the test CA and certificate")
    return make_certificates(tmp_path_factory.mktemp("tls") / "pki")


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory, certificates):
    ca, cert, key = certificates  # `causeway-hub serve --tls-cert --tls-key`: the same hub, over HTTPS only
    hub = AgentHub(tmp_path_factory.mktemp("tls-hub"), extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
                   ca_bundle=str(ca)).start()
    yield hub
    hub.close()


def agent_config(path, hub_url, state, drop, ca_bundle=None):
    hub = {"url": hub_url, "timeout_seconds": 5}
    if ca_bundle:
        hub["ca_bundle"] = str(ca_bundle)
    document = {"hub": hub, "state_dir": str(state), "heartbeat_seconds": 5,
                "sender": {"max_backoff_seconds": 1}, "tasks": [gazetteer_task(drop, interval=300)]}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def agent(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=ROOT, env=agent_env(**NO_INHERITED_CA),
                          capture_output=True, text=True, timeout=timeout)


def assert_clear_certificate_failure(result):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "certificate" in output, output
    assert "ca_bundle" in output, output  # the advice: where to name the CA
    assert "Traceback" not in output, output


def test_an_agent_given_the_private_ca_enrols_and_publishes_over_https(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "addresses.csv", rows=3)
    state = tmp_path / "state"
    config = agent_config(tmp_path / "agent.yaml", tls_hub.url, state, drop, ca_bundle=ca)
    before = len(tls_hub.records("gazetteer-address"))

    enrolled = agent("enrol", "-c", str(config), "--token", tls_hub.enrolment_token(), "--name", "tls-agent")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert tls_hub.url in enrolled.stdout

    # A machine-wide bundle in the environment (which does not hold the private CA) must not
    # override the one named in agent.yaml.
    published = run_agent(config, "run", "--once", timeout=60, REQUESTS_CA_BUNDLE=certifi.where(),
                          CURL_CA_BUNDLE="", NO_PROXY="*")
    assert published.returncode == 0, published.stdout + published.stderr
    assert len(tls_hub.records("gazetteer-address")) == before + 3
    assert set(tls_hub.current("gazetteer-address")) >= {"906000000", "906000001", "906000002"}


def test_the_ca_bundle_may_be_given_on_the_enrol_command_line(tls_hub, certificates, tmp_path):
    ca, _, _ = certificates
    result = agent("enrol", "--hub", tls_hub.url, "--token", tls_hub.enrolment_token(), "--state",
                   str(tmp_path / "state"), "--name", "tls-agent", "--ca-bundle", str(ca))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "state" / "credential.json").exists()


def test_without_the_private_ca_the_agent_names_the_certificate_and_publishes_nothing(tls_hub, certificates,
                                                                                       tmp_path):
    ca, _, _ = certificates
    token = tls_hub.enrolment_token()
    refused = agent("enrol", "--hub", tls_hub.url, "--token", token, "--state", str(tmp_path / "refused"),
                    "--name", "tls-agent")
    assert_clear_certificate_failure(refused)
    assert not (tmp_path / "refused" / "credential.json").exists()

    # An agent enrolled with the CA, whose agent.yaml then lacks it: the run fails and nothing is published.
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "addresses.csv", rows=3, start=500)
    state = tmp_path / "state"
    with_ca = agent_config(tmp_path / "with-ca.yaml", tls_hub.url, state, drop, ca_bundle=ca)
    enrolled = agent("enrol", "-c", str(with_ca), "--token", token, "--name", "tls-agent")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    before = len(tls_hub.records("gazetteer-address"))

    without_ca = agent_config(tmp_path / "without-ca.yaml", tls_hub.url, state, drop)
    result = run_agent(without_ca, "run", "--once", timeout=60, **NO_INHERITED_CA)
    assert_clear_certificate_failure(result)
    assert len(tls_hub.records("gazetteer-address")) == before
    assert "906000500" not in tls_hub.current("gazetteer-address")
