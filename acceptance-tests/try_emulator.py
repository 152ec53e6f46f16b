"""`scripts/try`: the local AWS emulator in the background, for the user's own configuration.

    start   starts the emulator (moto extended for the provider's services, with IoT Core's MQTT
            broker) in the background, creates the EKS clusters of examples/fleet in its
            accounts, installs the given provider build in a filesystem mirror, and prints what
            to put in a CLI config file, the shell and the provider blocks. Run again, it prints
            the same for the emulator already running.
    print   prints the instructions again.
    stop    stops the emulator (and its broker) that `start` left running.

State (the mirror, the CLI config, the emulator's pid, URL and logs) lives in
$TPM_CACHE/try, or MAESTRO_TRY_DIR; never in the clone. The emulator forgets everything when
it stops, so a configuration applied against it has nothing to destroy afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness import aws_accounts, aws_inspect, go_tools, settings, wire_flow
from harness.emulator import free_tcp_port
from harness.provider_install import ProviderMirror, build_provider

# The accounts the emulator plays, and the roles the provider assumes in them. The emulator
# grants a session for any role ARN, acting in that role's account.
SECOND_MANAGEMENT_ACCOUNT_ID = "345678901234"
ACCOUNTS = {
    "regional": (aws_accounts.REGIONAL_ACCOUNT_ID, aws_accounts.REGIONAL_ROLE_ARN),
    "management": (aws_accounts.MANAGEMENT_ACCOUNT_ID, aws_accounts.MANAGEMENT_ROLE_ARN),
    "management_b": (SECOND_MANAGEMENT_ACCOUNT_ID, f"arn:aws:iam::{SECOND_MANAGEMENT_ACCOUNT_ID}:role/maestro-management"),
}
# account alias -> EKS clusters created in it (the ones examples/fleet names by default).
EKS_CLUSTERS = {
    "regional": ["regional-01"],
    "management": ["management-01", "management-02"],
    "management_b": ["management-03"],
}
SERVICES = ("eks", "iam", "iot", "secretsmanager", "sts")
START_TIMEOUT = 60.0


def state_dir() -> Path:
    configured = os.environ.get("MAESTRO_TRY_DIR")
    return Path(configured) if configured else settings.tpm_cache() / "try"


def _state_file() -> Path:
    return state_dir() / "state.json"


def _read_state() -> dict | None:
    try:
        return json.loads(_state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_our_emulator(pid: int) -> bool:
    """Whether `pid` is still the emulator `start` launched (not a reused pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return any(part.endswith(b"run_server.py") for part in command)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/maestro-emulator/config", timeout=5):
            return True
    except OSError:
        return False


def running() -> dict | None:
    state = _read_state()
    if state and _is_our_emulator(state["pid"]) and _answers(state["url"]):
        return state
    return None


def start() -> int:
    state = running()
    if state is None:
        state = _launch()
    print(instructions(state))
    return 0


def _launch() -> dict:
    root = state_dir()
    root.mkdir(parents=True, exist_ok=True)
    logs = root / "emulator.log"
    port = free_tcp_port()
    env = dict(os.environ)
    env.setdefault("MAESTRO_EMULATOR_IAM_PROPAGATION_SECONDS", settings.IAM_PROPAGATION_SECONDS_DEFAULT)
    env["MAESTRO_EMULATOR_IOT_DATA_BROKER"] = str(go_tools.iot_data_broker())
    with open(logs, "w", encoding="utf-8") as log:
        # Its own session, so it outlives this command and `stop` can end it with its broker.
        process = subprocess.Popen(
            [sys.executable, str(settings.emulator_script()), "--host", "127.0.0.1", "--port", str(port), "--quiet"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while f"READY {url}" not in logs.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(logs.read_text(errors="replace").splitlines()[-30:])
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            raise SystemExit(f"the emulator did not start (log {logs}):\n{tail}")
        time.sleep(0.2)
    for alias, clusters in EKS_CLUSTERS.items():
        account_id, role_arn = ACCOUNTS[alias]
        account = aws_accounts.assume_account(url, alias, role_arn, account_id)
        for cluster in clusters:
            aws_inspect.create_eks_cluster(account, cluster)
    mirror = ProviderMirror(root / "provider")
    mirror.install(build_provider(root / "cargo-build.log"))
    mirror.write_cli_config()
    broker = wire_flow.iot_data(url)
    ca_file = root / "broker-ca.pem"
    ca_file.write_text(broker.ca_pem, encoding="utf-8")
    state = {"pid": process.pid, "url": url, "cli_config": str(mirror.cli_config), "broker": broker.address,
             "broker_ca_file": str(ca_file)}
    _state_file().write_text(json.dumps(state, indent=2), encoding="utf-8")
    return state


def provider_block(alias: str, url: str) -> str:
    account_id, role_arn = ACCOUNTS[alias]
    endpoints = "\n".join(f"    {service:<14} = \"{url}\"" for service in SERVICES)
    return (f'provider "maestro" {{\n'
            f'  alias               = "{alias}"\n'
            f'  region              = "{aws_accounts.REGION}"\n'
            f'  allowed_account_ids = ["{account_id}"]\n'
            f'  assume_role {{\n'
            f'    role_arn = "{role_arn}"\n'
            f'  }}\n'
            f'  endpoints {{\n{endpoints}\n  }}\n'
            f'}}\n')


def fleet_variables(state: dict) -> dict:
    """examples/fleet's variables for this emulator (its defaults name the same accounts)."""
    def management(alias: str) -> dict:
        account_id, role_arn = ACCOUNTS[alias]
        return {"account_id": account_id, "role_arn": role_arn,
                "clusters": {name: name for name in EKS_CLUSTERS[alias]}}
    regional_id, regional_role = ACCOUNTS["regional"]
    return {
        "aws_endpoint": state["url"],
        "regional": {"account_id": regional_id, "role_arn": regional_role,
                     "eks_cluster_name": EKS_CLUSTERS["regional"][0]},
        "management_a": management("management"),
        "management_b": management("management_b"),
        "broker_ca_pem": Path(state["broker_ca_file"]).read_text(encoding="utf-8"),
    }


def instructions(state: dict) -> str:
    """What a user copies. Each section starts with `==> `; `scripts/try`'s test reads them."""
    url = state["url"]
    cli_config = Path(state["cli_config"])
    accounts = "\n".join(f"  {alias:<13} account {account_id}, role {role_arn}, EKS clusters {', '.join(EKS_CLUSTERS[alias])}"
                         for alias, (account_id, role_arn) in ACCOUNTS.items())
    sections = [
        f"The local AWS emulator runs at {url} (pid {state['pid']}), IoT Core's MQTT broker at {state['broker']} "
        f"(its CA: {state['broker_ca_file']}).\nAccounts, and what exists in them:\n{accounts}\n",
        f"==> CLI config: the file {cli_config} holds (tofu and terraform install the provider from it):\n"
        + cli_config.read_text(encoding="utf-8"),
        "==> shell: run these where you run tofu or terraform (any credentials do; each block assumes a role):\n"
        f"export TF_CLI_CONFIG_FILE={cli_config}\n"
        f"export AWS_ACCESS_KEY_ID={aws_accounts.BASE_ACCESS_KEY_ID}\n"
        f"export AWS_SECRET_ACCESS_KEY={aws_accounts.BASE_SECRET_ACCESS_KEY}\n"
        f"export AWS_REGION={aws_accounts.REGION}\n",
        "==> provider blocks: a providers.tf with one block per account (examples/resources use these aliases):\n"
        f'terraform {{\n  required_providers {{\n    maestro = {{\n      source = "{settings.PROVIDER_SOURCE}"\n    }}\n  }}\n}}\n\n'
        + "\n".join(provider_block(alias, url) for alias in ACCOUNTS),
        "==> examples/fleet: copy the folder and put this next to its main.tf as emulator.auto.tfvars.json:\n"
        + json.dumps(fleet_variables(state), indent=2) + "\n",
        "==> stop: scripts/try stop   (the emulator keeps nothing: state you applied against it is void then)\n",
    ]
    return "\n".join(sections)


def print_again() -> int:
    state = running()
    if state is None:
        print("scripts/try: no emulator is running; start one with scripts/try")
        return 1
    print(instructions(state))
    return 0


def stop() -> int:
    state = _read_state()
    if state is None or not _is_our_emulator(state["pid"]):
        print("scripts/try: no emulator is running")
        _state_file().unlink(missing_ok=True)
        return 0
    pid = state["pid"]
    # The emulator stops its broker on SIGTERM; the process group catches anything left.
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _is_our_emulator(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_our_emulator(pid):
        os.killpg(pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    print(f"scripts/try: stopped the emulator at {state['url']} (pid {pid})")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    commands = {"start": start, "print": print_again, "stop": stop}
    if command not in commands:
        print(f"usage: scripts/try [{'|'.join(commands)}]", file=sys.stderr)
        return 2
    return commands[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
