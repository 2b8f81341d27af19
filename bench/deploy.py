"""Deploy: from nothing to four healthy local nodes with the real playbooks, then a no-op re-run.

scripts/build makes one release; ansible/site.yml deploys it to inventories/local (province, city,
two counties on 127.0.0.11-14, SQLite, process mode) under the work folder. The re-run must change
nothing; its time over the first run's is the ratio. Needs the `ops` extra (ansible-core).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, VENV_BIN, Report, Result, log

ANSIBLE_DIR = REPO / "ansible"
INVENTORY = ANSIBLE_DIR / "inventories" / "local"
ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
CHANGED = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.MULTILINE)
DEPLOY_GOAL_S = 180
NOOP_GOAL_S = 60


def _port_base() -> int:
    """A base port whose next four ports are free on the four loopback addresses."""
    for base in range(21000, 60000, 97):
        try:
            for offset, address in enumerate(ADDRESSES):
                with socket.socket() as probe:
                    probe.bind((address, base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports on 127.0.0.11-14")


def _playbook(base: Path, port_base: int, release: Path) -> tuple[float, dict[str, tuple[int, int]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVHALL_", "ANSIBLE_"))}
    env |= {"GOVHALL_LOCAL_BASE": str(base), "GOVHALL_LOCAL_PORT_BASE": str(port_base),
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"}
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), "--vault-password-file",
               str(ANSIBLE_DIR / "vault-passwords" / "local.txt"), "site.yml", "-e", f"govhall_release_dir={release}"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=1800,
                          check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"site.yml failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return elapsed, {host: (int(changed), int(failed)) for host, changed, failed in CHANGED.findall(done.stdout)}


def _stop_nodes(base: Path) -> None:
    for pidfile in base.glob("*/run/*.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            if str(base) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue


def measure_deploy(work: Path, report: Report) -> None:
    if not (VENV_BIN / "ansible-playbook").exists():
        # Not a failure of the product: the benchmark venv has no ops extra unless someone adds it.
        report.notes.append("deploy SKIPPED: ansible-playbook is not installed (pip install -e '.[ops]')")
        log("deploy SKIPPED: ansible-playbook is not installed (pip install -e '.[ops]')")
        return
    start = time.perf_counter()
    built = subprocess.run([str(REPO / "scripts" / "build"), "--out", str(work / "dist")], capture_output=True,
                           text=True, timeout=900, check=True)
    report.add(Result("deploy: scripts/build (wheel, wheelhouse, offline check)", [time.perf_counter() - start], "s"))
    release = Path(built.stdout.strip().splitlines()[-1])
    base, port_base = work / "nodes", _port_base()
    base.mkdir()
    try:
        log("deploy: site.yml from nothing to four healthy nodes")
        first, _ = _playbook(base, port_base, release)
        log("deploy: site.yml again (must change nothing)")
        again, recap = _playbook(base, port_base, release)
    finally:
        _stop_nodes(base)
    changed = {host: c for host, (c, _failed) in recap.items() if c}
    if changed:
        raise RuntimeError(f"the re-run changed something: {changed}")
    report.add(Result("deploy: site.yml, nothing to 4 healthy nodes", [first], "s", f"<= {DEPLOY_GOAL_S} s",
                      first <= DEPLOY_GOAL_S))
    report.add(Result("deploy: site.yml re-run, changed=0", [again], "s", f"<= {NOOP_GOAL_S} s", again <= NOOP_GOAL_S))
    report.add_ratio(Result("deploy: no-op re-run / first deploy (time)", [again / first], "x"))
    report.facts.append(f"deploy: release {release.name}, {len(ADDRESSES)} nodes, python {sys.version.split()[0]}")
