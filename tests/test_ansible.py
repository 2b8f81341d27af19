"""The real playbooks against ansible/inventories/local: four nodes on loopback addresses.

One release is built (scripts/build) for the whole module and deployed to a province, a city and
two county nodes, each with its own folder, port and SQLite database under a temporary folder.
Release 2 is built from a copy of the same source with a bumped version and one test-only
migration, so the product itself never carries it. Every process the playbooks start is stopped
by its pidfile when the module ends. SQLite pass only (marker `deploy`): the nodes bring their own
databases, so a second run on PostgreSQL would test nothing new.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.databases import REPO

pytestmark = pytest.mark.deploy

ANSIBLE_DIR = REPO / "ansible"
LOCAL_INVENTORY = ANSIBLE_DIR / "inventories" / "local"
VAULT_PASSWORD = ANSIBLE_DIR / "vault-passwords" / "local.txt"
# host -> (loopback address, port offset), as in inventories/local/host_vars.
NODES = {"sd-app": ("127.0.0.11", 0), "jn-app": ("127.0.0.12", 1),
         "lx-app": ("127.0.0.13", 2), "lc-app": ("127.0.0.14", 3)}
# The county node test_onboard adds to a copy of the inventory (天桥区, served by Jinan until then).
NEW_NODE = ("tq-app", "127.0.0.15", 4)
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
# Builds from this tree instead of the committed HEAD (a developer trying an uncommitted change).
SOURCE_OVERRIDE = os.environ.get("GOVHALL_TEST_DEPLOY_SOURCE", "")

HAVE_ANSIBLE = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is not None


@dataclass
class Run:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        return {host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
                for host, ok, changed, unreachable, failed in RECAP.findall(self.output)}


@dataclass
class Site:
    base: Path
    port_base: int
    dist: Path
    release_1: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVHALL_", "ANSIBLE_"))}
        return env | {
            "GOVHALL_LOCAL_BASE": str(self.base), "GOVHALL_LOCAL_PORT_BASE": str(self.port_base),
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(self.base.parent / "ansible-tmp"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }

    def playbook(self, name: str, *args: str, inventory: Path = LOCAL_INVENTORY) -> Run:
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                   "--vault-password-file", str(VAULT_PASSWORD), name, *args]
        done = subprocess.run(command, cwd=ANSIBLE_DIR, env=self.env(), capture_output=True, text=True,
                              timeout=900, check=False)
        return Run(done.returncode, done.stdout + done.stderr)

    def health(self, host: str) -> dict[str, object]:
        address, offset = {**NODES, NEW_NODE[0]: NEW_NODE[1:]}[host]
        with urllib.request.urlopen(f"http://{address}:{self.port_base + offset}/healthz", timeout=10) as answer:
            return json.load(answer)

    def database(self, host: str) -> Path:
        return self.base / host / "data" / "govhall.sqlite"


def _ports_free(base: int) -> bool:
    for address, offset in [*NODES.values(), NEW_NODE[1:]]:
        with socket.socket() as probe:
            try:
                probe.bind((address, base + offset))
            except OSError:
                return False
    return True


def _free_port_base() -> int:
    for _ in range(50):
        base = random.randrange(20000, 60000, 10)
        if _ports_free(base):
            return base
    raise RuntimeError("no five free ports on 127.0.0.11-15")


def _stop_processes(base: Path) -> None:
    """Stop what the playbooks started: each pidfile's process group, if it is still ours."""
    for pidfile in base.glob("*/run/*.pid"):
        pid = int(pidfile.read_text().strip() or 0)
        try:
            if str(base) not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                continue  # the pid was reused by someone else's process
            os.killpg(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)


def build(source: Path | None, out: Path) -> Path:
    command = [str(REPO / "scripts" / "build"), "--out", str(out)]
    if source is not None:
        command += ["--source", str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"scripts/build failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return Path(done.stdout.strip().splitlines()[-1])


def source_tree(target: Path) -> Path:
    """The source release 1 is built from: the committed HEAD (or GOVHALL_TEST_DEPLOY_SOURCE)."""
    if SOURCE_OVERRIDE:
        shutil.copytree(SOURCE_OVERRIDE, target, ignore=shutil.ignore_patterns(".venv", "dist", "build", "var"),
                        symlinks=True)
        return target
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"], capture_output=True,
                             check=True).stdout
    tar_path = target.parent / "head.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not HAVE_ANSIBLE:
        pytest.skip("ansible-playbook is not installed (pip install -e '.[ops]'; scripts/test does)")
    root = tmp_path_factory.mktemp("deploy")
    base = root / "nodes"
    base.mkdir()
    (root / "ansible-tmp").mkdir()
    dist = root / "dist"
    release_1 = build(None if not SOURCE_OVERRIDE else source_tree(root / "src1"), dist)
    site = Site(base, _free_port_base(), dist, release_1)
    try:
        yield site
    finally:
        _stop_processes(base)


@pytest.fixture(scope="module")
def release_1(site: Site) -> Path:
    return site.release_1


def _inventory_copy(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    inventory = tmp_path / name
    shutil.copytree(LOCAL_INVENTORY, inventory)
    for relative, text in files.items():
        (inventory / relative).write_text(text, encoding="utf-8")
    return inventory


def _problems(**changes: dict[str, object]) -> list[str]:
    """The validation filter on the local layout, with some hosts' entries changed."""
    spec = importlib.util.spec_from_file_location("govhall_filters", ANSIBLE_DIR / "filter_plugins" / "govhall.py")
    assert spec is not None and spec.loader is not None
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)
    govhall_inventory_problems = filters.govhall_inventory_problems
    key = {"secret_key_length": 30, "upstream_key_id": "k", "upstream_key_set": True, "database_url": "sqlite://",
           "public_url": "http://x"}
    hosts = {
        "sd-app": {"node": "node_shandong", "level": "province", "root_tenant": "370000000000", "upstream": ""},
        "jn-app": {"node": "node_jinan", "level": "city", "root_tenant": "370100000000", "upstream": "node_shandong",
                   "tenant_places": ["370100000000"]},
        "lx-app": {"node": "node_lixia", "level": "county", "root_tenant": "370102000000", "upstream": "node_jinan"},
    }
    entries = [{"host": host, **key, **values, **changes.get(host, {})} for host, values in hosts.items()]
    divisions = (REPO / "tenants" / "divisions" / "shandong.csv").read_text(encoding="utf-8")
    return list(govhall_inventory_problems(entries, divisions, ["370100000000"]))


def test_validation_accepts_the_local_layout() -> None:
    """Does the inventory check find nothing wrong with a province, a city and a county?"""
    assert _problems() == []


@pytest.mark.parametrize(("changes", "problem"), [
    ({"lx-app": {"upstream": ""}}, "node_lixia: govhall_upstream is missing"),
    ({"lx-app": {"upstream": "node_lixia"}}, "upstream chain has a cycle"),
    ({"jn-app": {"upstream": "node_lixia"}}, "upstream chain has a cycle"),
    ({"lx-app": {"upstream": "node_nowhere"}}, "node_nowhere is not a node of this inventory"),
    ({"lx-app": {"root_tenant": "370200000000", "level": "city"}}, "does not serve a subtree above 370200000000"),
    ({"jn-app": {"level": "county"}}, "root tenant 370100000000 is a city, the node says county"),
    ({"jn-app": {"tenant_places": ["370102000000"]}}, "the release has no tenant file places/370102000000.yaml"),
    ({"jn-app": {"tenant_places": ["370200000000"]}}, "370200000000 is outside the node's subtree"),
    ({"sd-app": {"upstream": "node_jinan"}}, "the province node reports to nobody"),
    ({"lx-app": {"secret_key_length": 8}}, "lx-app: govhall_secret_key is missing or shorter than 16"),
    ({"lx-app": {"upstream_key_set": False}}, "lx-app: govhall_upstream_key_id and govhall_upstream_key are needed"),
    ({"lx-app": {"root_tenant": "370100000000"}}, "root tenant 370100000000 is served by node_jinan already"),
])
def test_validation_names_each_problem(changes: dict[str, dict[str, object]], problem: str) -> None:
    """Does the inventory check name what is wrong, in words an operator can act on?"""
    assert any(problem in line for line in _problems(**changes)), _problems(**changes)


BROKEN = {
    "missing key": ({"host_vars/lx-app.yml": "govhall_port_offset: 2\ngovhall_upstream_key: ''\n"},
                    "lx-app: govhall_upstream_key_id and govhall_upstream_key are needed"),
    "unknown tenant": ({"group_vars/node_licheng.yml": (
        "govhall_node: node_licheng\ngovhall_level: county\ngovhall_root_tenant: '370112000000'\n"
        "govhall_upstream: node_jinan\ngovhall_tenant_places: ['370112000000', '370112999000']\n")},
        "node_licheng: tenant place 370112999000 is not in the division list"),
    "cycle": ({"group_vars/node_jinan.yml": (
        "govhall_node: node_jinan\ngovhall_level: city\ngovhall_root_tenant: '370100000000'\n"
        "govhall_upstream: node_lixia\ngovhall_tenant_places: ['370100000000']\n")},
        "upstream chain has a cycle"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_inventory_copy_is_refused_before_any_host_changes(site: Site, release_1: Path, tmp_path: Path,
                                                               case: str) -> None:
    """Does site.yml stop at validation, naming the problem, with no node folder created?"""
    files, problem = BROKEN[case]
    inventory = _inventory_copy(tmp_path, case.replace(" ", "-"), files)
    run = site.playbook("site.yml", "-e", f"govhall_release_dir={release_1}", inventory=inventory)
    assert run.returncode != 0
    assert problem in run.output, run.output[-3000:]
    assert set(run.recap()) == {"localhost"}, "no app host may be reached"
    assert list(site.base.iterdir()) == []


def test_site_deploys_four_healthy_nodes(site: Site, release_1: Path) -> None:
    """From nothing: are the province, the city and both counties healthy on release 1?"""
    run = site.playbook("site.yml", "-e", f"govhall_release_dir={release_1}")
    assert run.returncode == 0, run.output[-6000:]
    version = json.loads((release_1 / "manifest.json").read_text())["version"]
    for host in NODES:
        health = site.health(host)
        assert (health["database"], health["version"]) == ("ok", version), health
    assert site.health("lx-app")["root_tenant"] == "370102000000"


def test_a_second_run_changes_nothing(site: Site, release_1: Path) -> None:
    """Is site.yml idempotent: changed=0 on every host, for a real run and for --check --diff?"""
    for extra in ([], ["--check", "--diff"]):
        run = site.playbook("site.yml", "-e", f"govhall_release_dir={release_1}", *extra)
        assert run.returncode == 0, run.output[-6000:]
        recap = run.recap()
        assert set(recap) == {"localhost", *NODES}
        assert {host: r["changed"] for host, r in recap.items()} == dict.fromkeys(recap, 0), run.output[-6000:]


# A complete 公共租赁住房 application at 解放路街道 (历下区), as in tests/test_cases_api.py.
CASE_BODY = {
    "place": "370102001000", "basic_code": "050090004000",
    "applicant": {"kind": "person", "name": "张三", "id_number": "11010519491231002X", "contact_name": "张三",
                  "contact_phone": "13800000000"},
    "materials": {"1": "paper", "2": "electronic", "3": "paper", "4": "paper"},
    "window_number": "1",
}
NODE_IDS = {"sd-app": "node-370000000000", "jn-app": "node-370100000000", "lx-app": "node-370102000000",
            "lc-app": "node-370112000000"}


def _cli(site: Site, host: str, *args: str) -> str:
    """The node's own CLI with its settings only, as the playbooks run it."""
    done = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", f"GOVHALL_CONFIG={site.base / host / 'etc' / 'govhall.yaml'}",
                           str(site.base / host / "current" / "venv" / "bin" / "govhall"), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _query(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def test_a_case_accepted_on_a_county_reaches_the_province_through_the_city(site: Site) -> None:
    """With the keys site.yml registered from the vault: does a case a clerk accepts over the API on
    the 历下区 node reach Jinan from 历下, and the province from Jinan — each event exactly once?"""
    registered = _cli(site, "jn-app", "sync", "node", "list")
    assert "node-370102000000" in registered and "local-lixia-key-1" in registered, registered
    assert "local-jinan-key-1" in _cli(site, "sd-app", "sync", "node", "list")

    token = _cli(site, "lx-app", "staff", "token", "lx_jfl_clerk").strip().splitlines()[-1]
    address, offset = NODES["lx-app"]
    request = urllib.request.Request(
        f"http://{address}:{site.port_base + offset}/api/v1/cases", data=json.dumps(CASE_BODY).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - http://127.0.0.13 above
        assert answer.status == 201
        number = json.load(answer)["number"]

    events = "SELECT event_id, from_node FROM sync_received WHERE aggregate_type = 'case' AND aggregate_id = ?"
    outbox = ("SELECT event_id, upstream_status FROM sync_outbox WHERE aggregate_type = 'case' AND aggregate_id = ? "
              "ORDER BY id")
    made = len(_query(site.database("lx-app"), outbox, number))
    assert made >= 1

    def delivered() -> bool:  # at the province, and the county has the city's answers
        return (len(_query(site.database("sd-app"), events, number)) >= made
                and all(status for _, status in _query(site.database("lx-app"), outbox, number)))

    deadline = time.monotonic() + 60
    while not delivered() and time.monotonic() < deadline:
        time.sleep(0.5)
    at_county = _query(site.database("lx-app"), outbox, number)
    at_city = _query(site.database("jn-app"), events, number)
    relayed = _query(site.database("jn-app"), outbox, number)
    at_province = _query(site.database("sd-app"), events, number)
    assert len(at_province) == made, (at_county, at_city, relayed, at_province)
    # Each event accepted once at each level: none refused or sent twice, one relay row per event.
    assert [status for _, status in at_county] == ["accepted"] * made, at_county
    assert [status for _, status in relayed] == ["accepted"] * made, relayed
    assert {from_node for _, from_node in at_city} == {NODE_IDS["lx-app"]}
    assert {from_node for _, from_node in at_province} == {NODE_IDS["jn-app"]}
    assert sorted(e for e, _ in at_city) == sorted(e for e, _ in relayed) == sorted(e for e, _ in at_province)
    assert all(str(event).startswith(NODE_IDS["lx-app"] + ":") for event, _ in at_province)
    assert _query(site.database("sd-app"), "SELECT origin_node FROM sync_case_index WHERE number = ?",
                  number) == [(NODE_IDS["lx-app"],)]
    assert _query(site.database("lc-app"), "SELECT count(*) FROM sync_received")[0][0] == 0


def _release_2_source(site: Site, release_1: Path) -> Path:
    """Release 1's source with a bumped version and one extra (test-only) migration."""
    source = source_tree(site.dist.parent / "src2")
    manifest = json.loads((release_1 / "manifest.json").read_text())
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{manifest["version"]}"',
                                                       f'version = "{manifest["version"]}+r2"', 1))
    (source / "migrations" / "versions" / "2099_01_01_0001_release2_probe.py").write_text(
        '"""Test-only: release 2 of tests/test_ansible.py adds a table."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "release2_probe"\ndown_revision = "{manifest["migration_head"]}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_table("release2_probe", sa.Column("id", sa.Integer, primary_key=True))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_table("release2_probe")\n'
    )
    return source


def _tenant_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM tenants").fetchone()[0])


def test_upgrade_rolls_out_top_down_and_keeps_data(site: Site, release_1: Path) -> None:
    """Does upgrade.yml migrate each database and switch province, city, then counties — data kept?"""
    release_2 = build(_release_2_source(site, release_1), site.dist)
    before = {host: _tenant_count(site.database(host)) for host in NODES}
    assert before["jn-app"] > 100 and before["lx-app"] > 5

    run = site.playbook("upgrade.yml", "-e", f"govhall_release_dir={release_2}")
    assert run.returncode == 0, run.output[-6000:]
    for host in NODES:
        health = site.health(host)
        assert (health["version"], health["migration"]) == (release_2.name.removeprefix("govhall-"), "release2_probe")
    assert {host: _tenant_count(site.database(host)) for host in NODES} == before
    switched = re.findall(r"TASK \[govhall : Make the release current\].*?\nchanged: \[(\S+)\]", run.output, re.S)
    assert switched[:2] == ["sd-app", "jn-app"] and set(switched[2:]) == {"lx-app", "lc-app"}, switched


def test_rollback_returns_a_node_to_the_previous_release(site: Site, release_1: Path) -> None:
    """Does rollback.yml put one county back on release 1, healthy, leaving the others alone — once?"""
    run = site.playbook("rollback.yml", "--limit", "node_lixia")
    assert run.returncode == 0, run.output[-6000:]
    assert site.health("lx-app")["version"] == release_1.name.removeprefix("govhall-")
    assert str(site.health("lc-app")["version"]).endswith("+r2")

    again = site.playbook("rollback.yml", "--limit", "node_lixia")
    assert again.returncode != 0 and "no earlier release to return to" in again.output
    assert site.health("lx-app")["version"] == release_1.name.removeprefix("govhall-")


ONBOARD_FILES = {
    "hosts.yml": (LOCAL_INVENTORY / "hosts.yml").read_text(encoding="utf-8").replace(
        "        town:\n", "            node_tianqiao:\n              hosts:\n                tq-app:\n"
        "                  ansible_host: 127.0.0.15\n        town:\n"),
    "host_vars/tq-app.yml": "govhall_port_offset: 4\ngovhall_secret_key: test-only-tianqiao-secret-key\n",
    "group_vars/node_tianqiao.yml": ("govhall_node: node_tianqiao\ngovhall_level: county\n"
                                     "govhall_root_tenant: '370105000000'\ngovhall_upstream: node_jinan\n"
                                     "govhall_tenant_places: []\n"),
}


def test_onboard_registers_and_deploys_a_new_county_node(site: Site, release_1: Path, tmp_path: Path) -> None:
    """Does onboard.yml register a new county with Jinan, deploy it with the fresh key and its
    generated tenant file, and hand both back to the operator?"""
    inventory = _inventory_copy(tmp_path, "onboard", ONBOARD_FILES)
    output = tmp_path / "onboarded"
    run = site.playbook("onboard.yml", "-e", f"govhall_release_dir={release_1}", "-e", "govhall_onboard=node_tianqiao",
                        "-e", f"govhall_onboard_output_dir={output}", inventory=inventory)
    assert run.returncode == 0, run.output[-6000:]
    health = site.health("tq-app")
    assert (health["database"], health["root_tenant"]) == ("ok", "370105000000")
    assert "370105001000" in (output / "370105000000.yaml").read_text(encoding="utf-8")  # its first subdistrict
    key_file = output / "node_tianqiao-sync-key.yml"
    assert key_file.stat().st_mode & 0o077 == 0
    settings = (site.base / "tq-app" / "etc" / "govhall.yaml").read_text(encoding="utf-8")
    assert key_file.read_text(encoding="utf-8").split("upstream_key: ")[1].strip() in settings
    registry = subprocess.run(
        ["env", "-i", f"GOVHALL_CONFIG={site.base / 'jn-app' / 'etc' / 'govhall.yaml'}",
         str(site.base / "jn-app" / "current" / "venv" / "bin" / "govhall"), "sync", "node", "list"],
        capture_output=True, text=True, check=True).stdout
    assert "node-370105000000" in registry
