"""Filters for validate.yml: whole-inventory checks that read badly as Jinja.

`govhall_inventory_problems(hosts, divisions_csv, place_files)` takes one plain dict per app host
(collected by validate.yml, secrets reduced to their lengths) and returns every problem found as a
sentence, so one failed run lists them all. No I/O and no Ansible imports: tests call it directly.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

LEVELS = ("province", "city", "county", "town")
CODE = re.compile(r"[0-9]{12}")
MIN_SECRET = 16  # the app refuses a shorter secret_key at start-up


def read_divisions(text: str) -> dict[str, tuple[str, str]]:
    """code -> (level, parent code) from a division list (code,name,level,parent_code)."""
    rows = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    return {row["code"]: (row["level"], row["parent_code"] or "") for row in rows}


def is_within(code: str, root: str, divisions: dict[str, tuple[str, str]]) -> bool:
    """Is `code` the place `root` or below it? Walks the division list's parents."""
    seen: set[str] = set()
    while code and code not in seen:
        if code == root:
            return True
        seen.add(code)
        code = divisions.get(code, ("", ""))[1]
    return False


def _node_problems(name: str, hosts: list[dict[str, Any]], divisions: dict[str, tuple[str, str]],
                   place_files: set[str]) -> list[str]:
    first = hosts[0]
    problems = []
    for key in ("level", "root_tenant", "database_url", "upstream", "tenant_places"):
        values = {str(h.get(key)) for h in hosts}
        if len(values) > 1:
            problems.append(f"{name}: its hosts disagree on govhall_{key}")
    for host in hosts:
        for key in ("database_url", "public_url"):
            if not host.get(key):
                problems.append(f"{host['host']}: govhall_{key} is missing")
        if int(host.get("secret_key_length") or 0) < MIN_SECRET:
            problems.append(f"{host['host']}: govhall_secret_key is missing or shorter than {MIN_SECRET} characters")
    level, root = first.get("level"), str(first.get("root_tenant") or "")
    if level not in LEVELS:
        problems.append(f"{name}: govhall_level must be one of {', '.join(LEVELS)}, not {level!r}")
    if not CODE.fullmatch(root):
        problems.append(f"{name}: govhall_root_tenant must be a 12-digit division code, not {root!r}")
    elif root not in divisions:
        problems.append(f"{name}: root tenant {root} is not in the division list")
    elif level in LEVELS and divisions[root][0] != level:
        problems.append(f"{name}: root tenant {root} is a {divisions[root][0]}, the node says {level}")
    for code in first.get("tenant_places") or []:
        if code not in divisions:
            problems.append(f"{name}: tenant place {code} is not in the division list")
        elif root in divisions and not is_within(code, root, divisions):
            problems.append(f"{name}: tenant place {code} is outside the node's subtree {root}")
        elif code not in place_files:
            problems.append(f"{name}: the release has no tenant file places/{code}.yaml")
    if level != "province" and not first.get("onboarding"):  # onboard.yml makes the key
        for host in hosts:
            if not host.get("upstream_key_id") or not host.get("upstream_key_set"):
                problems.append(f"{host['host']}: govhall_upstream_key_id and govhall_upstream_key are needed "
                                f"(the node reports upward; the vault holds the key)")
    return problems


def _chain_problems(nodes: dict[str, dict[str, Any]], divisions: dict[str, tuple[str, str]]) -> list[str]:
    """Every node's upstream chain must end at the province node without a cycle, each step up the tree."""
    problems = []
    for name, node in nodes.items():
        upstream = node.get("upstream") or ""
        if node.get("level") == "province":
            if upstream:
                problems.append(f"{name}: the province node reports to nobody, but govhall_upstream is {upstream}")
            continue
        if not upstream:
            problems.append(f"{name}: govhall_upstream is missing (the node it reports to)")
            continue
        if upstream not in nodes:
            problems.append(f"{name}: govhall_upstream {upstream} is not a node of this inventory")
            continue
        root, up_root = str(node.get("root_tenant")), str(nodes[upstream].get("root_tenant"))
        if root == up_root or not is_within(root, up_root, divisions):
            problems.append(f"{name}: its upstream {upstream} ({up_root}) does not serve a subtree above {root}")
        chain, current = [name], name
        while nodes.get(current, {}).get("upstream"):
            current = nodes[current]["upstream"]
            if current in chain:
                problems.append(f"{name}: upstream chain has a cycle: {' -> '.join([*chain, current])}")
                break
            chain.append(current)
            if current not in nodes:
                break
        else:
            if nodes.get(current, {}).get("level") != "province":
                problems.append(f"{name}: upstream chain {' -> '.join(chain)} does not end at the province")
    return problems


def govhall_inventory_problems(hosts: Iterable[dict[str, Any]], divisions_csv: str,
                               place_files: Iterable[str]) -> list[str]:
    divisions = read_divisions(divisions_csv)
    by_node: dict[str, list[dict[str, Any]]] = {}
    problems = []
    for host in hosts:
        if not host.get("node"):
            problems.append(f"{host['host']}: govhall_node is missing (the inventory group of its node)")
            continue
        by_node.setdefault(str(host["node"]), []).append(host)
    files = set(place_files)
    for name, node_hosts in sorted(by_node.items()):
        problems += _node_problems(name, node_hosts, divisions, files)
    nodes = {name: node_hosts[0] for name, node_hosts in by_node.items()}
    problems += _chain_problems(nodes, divisions)
    roots: dict[str, str] = {}
    for name, node in sorted(nodes.items()):
        root = str(node.get("root_tenant"))
        if root in roots:
            problems.append(f"{name}: root tenant {root} is served by {roots[root]} already")
        roots.setdefault(root, name)
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"govhall_inventory_problems": govhall_inventory_problems}
