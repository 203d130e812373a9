"""Start a real hub on a seeded database and run schemathesis against it; exits with
schemathesis's status. test_schemathesis.py runs this inside a network namespace that
has only loopback, so nothing the fuzzer makes up (webhook URLs above all) reaches
anything outside.

    python tests/contract/fuzz.py DB_URL CONFIG_TOML
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

from support.hubprocess import HubProcess

CONTRACT = HERE.parents[1] / "hub" / "openapi.yaml"


def main(db_url: str, config: str) -> int:
    env = {"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}
    with HubProcess(db_url, env=env, log_path=os.environ.get("CONTRACT_HUB_LOG")) as hub:
        return subprocess.run([
            str(Path(sys.executable).parent / "schemathesis"), "--config-file", config, "--no-color", "run", str(CONTRACT),
            "--url", f"{hub.url}/api/v1",
        ]).returncode


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
