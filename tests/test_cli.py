"""The `govhall` command as ops use it: real processes, exit codes and messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app import create_app
from tests.conftest import ROOT, TENANTS_DIR, make_settings

GOVHALL = str(Path(sys.executable).with_name("govhall"))


def run(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVHALL_")}
    base |= {"GOVHALL_DATABASE_URL": url, "GOVHALL_SECRET_KEY": "cli-test-secret-0123456789",
             "GOVHALL_ROOT_TENANT": ROOT, "GOVHALL_TENANTS_DIR": str(TENANTS_DIR)}
    return subprocess.run([GOVHALL, *args], capture_output=True, text=True, env=base | (env or {}), timeout=120,
                          check=False)


@pytest.fixture
def migrated(blank_url: str) -> str:
    assert run(blank_url, "db", "upgrade").returncode == 0
    return blank_url


def test_missing_setting_stops_with_the_key_named(blank_url):
    """Does the CLI refuse to start without a secret key, naming it?"""
    result = run(blank_url, "db", "current", env={"GOVHALL_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "secret_key" in result.stderr


def test_import_is_all_or_nothing_from_the_command_line(migrated, tmp_path):
    """Does a corrupted division file fail with the line named and leave the database as it was?"""
    text = (TENANTS_DIR / "divisions" / "shandong.csv").read_text(encoding="utf-8").splitlines()
    text[1500] = text[1500].replace(",town,", ",villa,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    refused = run(migrated, "tenants", "import-divisions", str(bad))
    assert refused.returncode == 1
    assert f"{bad}:1501: level 'villa'" in refused.stderr
    assert "nothing imported" in refused.stderr
    good = run(migrated, "tenants", "import-divisions", str(TENANTS_DIR / "divisions" / "shandong.csv"))
    assert good.returncode == 0, good.stderr
    assert "2021 added" in good.stdout


def test_onboard_plan_apply_cycle(migrated, tmp_path):
    """Can ops onboard a county from the list, review the plan, apply it, and see nothing left to do?"""
    folder = Path(shutil.copytree(TENANTS_DIR, tmp_path / "tenants"))
    (folder / "places" / "370112000000.yaml").unlink()
    assert run(migrated, "tenants", "import-divisions", str(folder / "divisions" / "shandong.csv")).returncode == 0
    written = run(migrated, "tenants", "onboard", "370112000000", "--dir", str(folder))
    assert written.returncode == 0, written.stderr
    places = yaml.safe_load((folder / "places" / "370112000000.yaml").read_text(encoding="utf-8"))["places"]
    division_rows = (folder / "divisions" / "shandong.csv").read_text(encoding="utf-8").splitlines()
    towns = [row.split(",")[0] for row in division_rows if row.endswith(",town,370112000000")]
    assert places[0]["name"] == "历城区"
    assert [p["code"] for p in places[1:]] == towns and len(towns) > 10
    again = run(migrated, "tenants", "onboard", "370112000000", "--dir", str(folder))
    assert again.returncode == 1 and "exists already" in again.stderr
    plan = run(migrated, "tenants", "plan", str(folder), "--limit", "1000")
    assert plan.returncode == 0 and "+ tenant 370112000000" in plan.stdout
    applied = run(migrated, "tenants", "apply", str(folder))
    assert applied.returncode == 0 and applied.stdout.startswith("Applied:")
    assert run(migrated, "tenants", "apply", str(folder)).stdout.strip() == "No changes."


def test_onboard_refuses_a_town_code(migrated):
    """Is onboarding a code that is not a county refused with a message?"""
    assert run(migrated, "tenants", "import-divisions", str(TENANTS_DIR / "divisions" / "shandong.csv")).returncode == 0
    result = run(migrated, "tenants", "onboard", "370112001000")
    assert result.returncode == 1 and "is not a county-level unit" in result.stderr


def test_demo_load_only_on_a_demo_node(migrated):
    """Does `demo load` refuse to set published passwords unless the node says it is a demo?"""
    refused = run(migrated, "demo", "load")
    assert refused.returncode == 1 and "only on a demo node" in refused.stderr
    assert run(migrated, "demo", "load", env={"GOVHALL_DEMO_MODE": "true"}).returncode == 0


def test_demo_load_twice_and_a_token_that_works(migrated):
    """Is `demo load` safe to re-run, and does `staff token` give a token the API accepts?"""
    first = run(migrated, "demo", "load", env={"GOVHALL_DEMO_MODE": "true"})
    assert first.returncode == 0, first.stderr
    assert "jn_admin" in first.stdout
    second = run(migrated, "demo", "load", env={"GOVHALL_DEMO_MODE": "true"})
    assert "tenant files: no changes" in second.stdout
    token = run(migrated, "staff", "token", "lx_admin").stdout.strip()
    app = create_app(make_settings(migrated))
    try:
        response = app.test_client().get("/api/v1/tenants/370102000000", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.get_json()["name"] == "历下区"
    finally:
        app.extensions["govhall.engine"].dispose()
    unknown = run(migrated, "staff", "token", "nobody")
    assert unknown.returncode == 1 and "no active staff account" in unknown.stderr
