"""Must show: the agent started under the Windows branch of agents.platform (simulated on this
machine: the branch selected, the POSIX-only os functions removed, icacls stood in for by
fake_icacls.py). It enrols, runs and publishes to a real hub, protects its key and credential
with an access control list naming only its own account, refuses a key file others were
granted, and stops on Ctrl+C as a service wrapper sends it."""
import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agents.platform import Windows, access_entries
from support import ROOT
from support.agents import agent_env, gazetteer_task, write_config, write_gazetteer_csv
from support.waiting import wait_until

pytestmark = pytest.mark.e2e

# The agent's own CLI, with the Windows branch chosen and what Windows lacks taken away.
AS_WINDOWS = """
import os, sys
for name in ("fchmod", "fchown", "getuid", "geteuid"):
    if hasattr(os, name):
        delattr(os, name)
from agents import platform
platform.current = platform.Windows()
from agents.cli import main
sys.exit(main(sys.argv[1:]))
"""
FAKE_ICACLS = ROOT / "tests" / "support" / "fake_icacls.py"


class SimulatedWindows:
    def __init__(self, folder: Path):
        self.folder = folder
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        tool = self.bin / "icacls"
        tool.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = 'icacls'\n"
                        f"runpy.run_path({str(FAKE_ICACLS)!r}, run_name='__main__')\n")
        tool.chmod(0o755)
        self.env = {"FAKE_ICACLS_STATE": str(folder / "acls.json"), "FAKE_ICACLS_LOG": str(folder / "icacls.log"),
                    "PATH": f"{self.bin}:{agent_env()['PATH']}"}
        self.account = subprocess.run(["whoami"], capture_output=True, text=True, check=True).stdout.strip()

    def agent(self, *args, timeout=90, **env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", AS_WINDOWS, *args], cwd=ROOT, env=agent_env(**self.env, **env),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", AS_WINDOWS, *args], cwd=ROOT, env=agent_env(**self.env),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def icacls(self, *args) -> str:
        result = subprocess.run(["icacls", *args], env=agent_env(**self.env), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def entries(self, path: Path) -> list[tuple[str, str]]:
        return access_entries(self.icacls(str(path)), path)

    def calls(self) -> list[list[str]]:
        log = Path(self.env["FAKE_ICACLS_LOG"])
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def windows(tmp_path):
    return SimulatedWindows(tmp_path / "windows")


def enrolled_agent(windows, hub, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    state = tmp_path / "ProgramData" / "Causeway" / "state"
    state.parent.mkdir(parents=True)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [gazetteer_task(drop, interval=300)])
    enrolled = windows.agent("enrol", "-c", str(config), "--token", hub.enrolment_token(), "--name", "win-agent")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    return config, state, drop


def test_under_windows_the_agent_enrols_protects_its_secrets_with_an_acl_and_publishes(windows, shared_hub, tmp_path):
    config, state, drop = enrolled_agent(windows, shared_hub, tmp_path)

    only_the_agent = [(windows.account, "(F)")]
    assert windows.entries(state / "agent-key.pem") == only_the_agent
    assert windows.entries(state / "credential.json") == only_the_agent
    assert windows.entries(state) == [(windows.account, "(OI)(CI)(F)")]
    # Protected by the list, set before the secret was written, and not by mode bits (meaningless there).
    restricted = [call for call in windows.calls() if "/inheritance:r" in call]
    assert [Path(call[0]).name for call in restricted] == ["state", "agent-key.pem.tmp", "credential.json.tmp"]
    assert stat.S_IMODE((state / "agent-key.pem").stat().st_mode) != 0o600

    write_gazetteer_csv(drop / "addresses.csv", rows=3, start=700)
    ran = windows.agent("run", "-c", str(config), "--once")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert {"906000700", "906000701", "906000702"} <= set(shared_hub.current("gazetteer-address"))
    # Loading the key asked icacls who may read it.
    assert [str(state / "agent-key.pem")] in windows.calls()


def test_under_windows_a_key_others_were_granted_is_refused_until_the_advice_is_followed(windows, shared_hub,
                                                                                         tmp_path):
    config, state, drop = enrolled_agent(windows, shared_hub, tmp_path)
    key = state / "agent-key.pem"
    windows.icacls(str(key), "/grant", "Everyone:R")
    write_gazetteer_csv(drop / "addresses.csv", rows=2, start=800)

    refused = windows.agent("run", "-c", str(config), "--once")
    assert refused.returncode == 2
    assert "can be read by other users (Everyone:(R))" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "906000800" not in shared_hub.current("gazetteer-address")

    advice = refused.stderr.split("run: ", 1)[1].strip()
    assert advice.startswith(f'icacls "{key}" /inheritance:r /grant:r "{windows.account}:F" /remove:g "Everyone"')
    windows.icacls(str(key), "/inheritance:r", "/grant:r", f"{windows.account}:F", "/remove:g", "Everyone")
    ran = windows.agent("run", "-c", str(config), "--once")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "906000800" in shared_hub.current("gazetteer-address")


def test_under_windows_the_running_agent_stops_on_ctrl_c(windows, shared_hub, tmp_path):
    config, state, drop = enrolled_agent(windows, shared_hub, tmp_path)
    write_gazetteer_csv(drop / "addresses.csv", rows=1, start=900)
    agent = windows.start("run", "-c", str(config))
    try:
        wait_until(lambda: "906000900" in shared_hub.current("gazetteer-address"), timeout=60,
                   message="the running agent to publish")
        agent.send_signal(signal.SIGINT)  # what NSSM sends a console application first
        output, _ = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert agent.returncode == 0, output
    assert "signal SIGINT: finishing the current chunk and stopping" in output


def test_a_missing_icacls_is_named(tmp_path):
    from agents.platform import NotPrivate

    with pytest.raises(NotPrivate, match="icacls-not-on-this-path was not found"):
        Windows(icacls="icacls-not-on-this-path", whoami="whoami").make_private_dir(tmp_path / "state")


def test_icacls_listings_are_read_entry_by_entry():
    path = Path(r"C:\ProgramData\Causeway\state\agent-key.pem")
    listing = (f"{path} CONTOSO\\svc-causeway:(F)\n"
               f"{' ' * (len(str(path)) + 1)}NT AUTHORITY\\SYSTEM:(I)(F)\n"
               f"{' ' * (len(str(path)) + 1)}BUILTIN\\Users:(I)(RX)\n"
               "\nSuccessfully processed 1 files; Failed processing 0 files\n")
    assert access_entries(listing, path) == [("CONTOSO\\svc-causeway", "(F)"), ("NT AUTHORITY\\SYSTEM", "(I)(F)"),
                                             ("BUILTIN\\Users", "(I)(RX)")]
