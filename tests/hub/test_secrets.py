"""Secrets at rest, with real hub processes on SQLite: `init` makes a key file readable by
its owner only; after the demo and real use (a webhook subscription, a reminder contact,
agreements, the console) the database file holds none of the secrets in the clear;
`secrets rotate` re-seals everything while a running hub keeps signing webhooks a real
receiver verifies; a wrong key is refused with a clear message."""
from __future__ import annotations

import base64
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from hub import sealing
from support.delivery import Receiver
from support.factories import gazetteer_record
from support.servers import free_port, wait_for_port
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def hub_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CAUSEWAY_SECRETS_KEY", "CAUSEWAY_SECRETS_KEY_FILE")}
    env.update({"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32", "CAUSEWAY_POLL_SECONDS": "0.05",
                "CAUSEWAY_RETRY_SCHEDULE": "0.2,0.5", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def cli(db_url: str, *args, env=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url], cwd=ROOT, env=env or hub_env(),
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class Demo:
    """`causeway-hub demo` (what `make run` starts), its printed keys, and its log."""

    def __init__(self, folder: Path, env=None):
        self.db_path = folder / "hub.db"
        self.db_url = f"sqlite:///{self.db_path}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "demo.log"
        self.env = env or hub_env()
        self.proc = None

    def start(self) -> "Demo":
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "demo", "--db", self.db_url, "--port",
                                      str(self.port), "--log-level", "warning", "--no-access-log", "--agent-dir", ""],
                                     cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        wait_for_port(self.port, timeout=60, proc=self.proc)
        return self

    def key(self, org: str, role: str) -> str:
        match = re.search(rf"^\s+{re.escape(org)}\s+{role}\s+(cw_\S+)$", self.log.read_text(), re.MULTILINE)
        assert match, self.log.read_text()
        return match.group(1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def stored(db_path: Path) -> dict[str, list[str]]:
    """Every stored secret, as stored, read as an operator would (another process, read-only)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {
            "webhook": [r[0] for r in conn.execute("SELECT secret FROM subscriptions WHERE secret IS NOT NULL")],
            "pseudonym": [r[0] for r in conn.execute("SELECT pseudonym_key FROM agreements")],
            "contact": [r[0] for r in conn.execute(
                "SELECT webhook_secret FROM return_contacts WHERE webhook_secret IS NOT NULL")],
            "cookie": [r[0] for r in conn.execute("SELECT value FROM console_settings WHERE name = 'secret_key'")],
        }
    finally:
        conn.close()


def database_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if not p.name.endswith("-key"))


def subscribe_webhook(demo: Demo, key: str, url: str) -> dict:
    answer = requests.post(f"{demo.url}/api/v1/subscriptions", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                           json={"dataset": "gazetteer-address", "purpose": "EmergencyResponse", "channel": "webhook",
                                 "url": url, "start": "beginning"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def publish(demo: Demo, key: str, uprn: int) -> None:
    answer = requests.post(f"{demo.url}/api/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                           json={"records": [gazetteer_record(uprn)]})
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "accepted", answer.text


@pytest.fixture
def receiver(tmp_path):
    started = Receiver(tmp_path / "receiver.db").start()
    yield started
    started.stop()


def test_init_makes_a_key_file_for_the_owner_only(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'causeway.db'}"
    first = cli(db_url, "init")
    key_file = tmp_path / "causeway.db.secrets-key"
    assert f"secrets key created in {key_file}" in first.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_text()
    again = cli(db_url, "init")  # idempotent: the key is kept
    assert "secrets key created" not in again.stdout and key_file.read_text() == content
    # The setting names another place.
    elsewhere = tmp_path / "keys" / "hub.key"
    cli(f"sqlite:///{tmp_path / 'other.db'}", "init", env=hub_env(CAUSEWAY_SECRETS_KEY_FILE=str(elsewhere)))
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600


def test_no_secret_is_stored_in_the_clear_and_rotation_keeps_webhooks_verifying(tmp_path, receiver):
    demo = Demo(tmp_path).start()
    try:
        sfrs = cli(demo.db_url, "key", "issue", "sfrs", "--role", "subscriber").stdout.strip().splitlines()[-1]
        subscription = subscribe_webhook(demo, sfrs, receiver.url("sfrs"))
        webhook_secret = subscription["secret"]
        receiver.control(secrets={"sfrs": [webhook_secret]})
        contact = cli(demo.db_url, "org", "contact", "fife", "--webhook", f"http://127.0.0.1:{receiver.port}/hook/fife")
        contact_secret = contact.stdout.strip().splitlines()[-1]
        assert contact_secret.startswith("whsec_")
        assert requests.get(f"{demo.url}/console/sign-in", timeout=10).status_code == 200

        publisher = demo.key("edinburgh", "publisher")
        publish(demo, publisher, 906700000001)
        wait_until(lambda: len(receiver.events("sfrs")) == 1, message="the first event at the receiver")

        # Every secret is sealed under the key in the key file, and none is in the database in the clear.
        key_file = tmp_path / "hub.db.secrets-key"
        sealer = sealing.Sealer(sealing.KeySource(None, key_file))
        found = stored(demo.db_path)
        assert all(len(values) >= 1 for values in found.values()), found
        first_key = sealer.key_ids[0]
        assert all(v.startswith(f"v2:{first_key}:") for values in found.values() for v in values), found
        clear = [webhook_secret, webhook_secret.removeprefix("whsec_"), contact_secret,
                 contact_secret.removeprefix("whsec_")]
        clear += [sealer.open(v) for values in found.values() for v in values]
        raw = database_bytes(demo.db_path)
        assert [s for s in clear if s.encode() in raw] == []
        assert [s for s in clear if s in demo.log.read_text()] == []  # and none is logged

        # Rotation, with the hub running: every secret re-sealed under a new key ...
        rotated = cli(demo.db_url, "secrets", "rotate")
        assert "re-sealed 1 webhook secrets" in rotated.stdout, rotated.stdout
        assert "1 reminder webhook secrets" in rotated.stdout and "1 console cookie keys" in rotated.stdout
        agreements = len([p for p in (ROOT / "policies").glob("*.yaml") if p.name != "orgs.yaml"])
        assert f"{agreements} pseudonymisation keys" in rotated.stdout  # one per example agreement the demo applies
        new_sealer = sealing.Sealer(sealing.KeySource(None, key_file))
        assert new_sealer.key_ids[0] != first_key and new_sealer.key_ids[1:] == [first_key]  # kept to open only
        after = stored(demo.db_path)
        assert all(v.startswith(f"v2:{new_sealer.key_ids[0]}:") for values in after.values() for v in values)
        assert [new_sealer.open(v) for v in after["webhook"]] == [webhook_secret]  # the same secret, resealed

        # ... and the running hub still signs with the subscriber's secret, which the receiver verifies.
        publish(demo, publisher, 906700000002)
        wait_until(lambda: len(receiver.events("sfrs")) == 2, message="the event after the rotation")
        assert receiver.state("sfrs")["bad_signatures"] == 0
        status = cli(demo.db_url, "secrets", "status").stdout
        assert "0 unsealed" in status and "0 under a key this hub does not hold" in status
    finally:
        demo.stop()
    # A restarted hub (a new process) opens everything under the rotated key.
    restarted = Demo(tmp_path).start()
    try:
        publish(restarted, restarted.key("edinburgh", "publisher"), 906700000003)
        wait_until(lambda: len(receiver.events("sfrs")) == 3, message="the event after a restart")
        assert receiver.state("sfrs")["bad_signatures"] == 0
    finally:
        restarted.stop()


def test_a_wrong_key_is_refused_with_a_clear_message(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    cli(db_url, "init")
    cli(db_url, "org", "add", "fife", "--name", "Fife Council", "--kind", "council")
    cli(db_url, "org", "contact", "fife", "--webhook", "http://127.0.0.1:9/hook")
    key_file = tmp_path / "hub.db.secrets-key"
    right = key_file.read_text()
    key_file.write_text(base64.b64encode(b"w" * 32).decode() + "\n")
    wrong_id = sealing.key_id(b"w" * 32)

    for args in (["serve", "--port", str(free_port())], ["secrets", "rotate"], ["init"]):
        refused = cli(db_url, *args, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "1 stored secret(s) are sealed under a key that the key file" in refused.stderr
        assert f"it holds {wrong_id}" in refused.stderr and "restore the key file" in refused.stderr
        assert "Traceback" not in refused.stderr
    env_key = cli(db_url, "secrets", "status", env=hub_env(CAUSEWAY_SECRETS_KEY=base64.b64encode(b"e" * 32).decode()),
                  check=False)
    assert env_key.returncode == 1 and "1 under a key this hub does not hold" in env_key.stdout
    not_a_key = cli(db_url, "secrets", "status", env=hub_env(CAUSEWAY_SECRETS_KEY="short"), check=False)
    assert not_a_key.returncode == 2 and "base64 of exactly 32 bytes" in not_a_key.stderr

    key_file.write_text(right)
    assert cli(db_url, "secrets", "status").returncode == 0


def test_secrets_stored_before_sealing_are_sealed_by_init(tmp_path):
    """An upgraded hub: plain webhook secrets, bare pseudonymisation keys and v1 values under an
    environment key are all opened and sealed under the key file by init."""
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    cli(db_url, "init")
    old_key = base64.b64encode(b"o" * 32).decode()
    v1 = sealing.Sealer(sealing.KeySource(old_key, None))
    legacy_v1 = "v1:" + v1.seal("whsec_b2xkIHNlY3JldCBzZWFsZWQgdjE=").split(":", 2)[2]
    cli(db_url, "org", "add", "fife", "--name", "Fife Council", "--kind", "council")
    cli(db_url, "org", "contact", "fife", "--webhook", "http://127.0.0.1:9/hook")
    conn = sqlite3.connect(tmp_path / "hub.db")
    with conn:  # as an older hub stored them
        conn.execute("INSERT INTO console_settings (name, value) VALUES ('secret_key', 'bare-cookie-key')")
        conn.execute("UPDATE return_contacts SET webhook_secret = 'whsec_cGxhaW4gY29udGFjdA=='")
    conn.close()
    status = cli(db_url, "secrets", "status").stdout
    assert "2 unsealed" in status
    sealed = cli(db_url, "init")
    assert "sealed 1 reminder webhook secrets, 1 console cookie keys that were stored unsealed" in sealed.stdout
    found = stored(tmp_path / "hub.db")
    assert all(v.startswith("v2:") for values in found.values() for v in values)
    assert b"bare-cookie-key" not in database_bytes(tmp_path / "hub.db")
    # A v1 value (sealed under CAUSEWAY_SECRETS_KEY before key ids) opens with that key and rotates to the file.
    assert v1.open(legacy_v1) == "whsec_b2xkIHNlY3JldCBzZWFsZWQgdjE="
    assert v1.state_of(legacy_v1) == "old"


def test_an_altered_sealed_value_is_refused_not_opened(tmp_path):
    sealer = sealing.Sealer(sealing.KeySource(None, tmp_path / "key"))
    stored_value = sealer.seal("whsec_dGhlIHJlYWwgc2VjcmV0")
    assert stored_value.startswith(f"v2:{sealer.key_ids[0]}:") and "whsec_" not in stored_value
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600  # made on first use
    body = bytearray(base64.b64decode(stored_value.rsplit(":", 1)[1]))
    body[-1] ^= 1
    altered = stored_value.rsplit(":", 1)[0] + ":" + base64.b64encode(bytes(body)).decode()
    with pytest.raises(sealing.SecretsKeyError, match="fails its integrity check"):
        sealer.open(altered)
    with pytest.raises(sealing.SecretsKeyError, match="sealed under key 00000000, which the key file"):
        sealer.open("v2:00000000:" + stored_value.rsplit(":", 1)[1])
