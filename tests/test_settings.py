"""Settings: one file named by GOVHALL_CONFIG, GOVHALL_<KEY> overrides, clear errors."""

from __future__ import annotations

import pytest

from app.core.settings import SettingsError, load_settings

BASE = {"GOVHALL_DATABASE_URL": "sqlite:///x.sqlite", "GOVHALL_SECRET_KEY": "s" * 20,
        "GOVHALL_ROOT_TENANT": "370100000000"}


def test_environment_alone_is_enough():
    """Can a node start from environment variables only?"""
    settings = load_settings(BASE)
    assert settings.root_tenant == "370100000000"
    assert settings.effective_node_id == "node-370100000000"
    assert settings.session_cookie_secure is True


def test_environment_overrides_the_file(tmp_path):
    """Does GOVHALL_<KEY> win over the file's value, and typed values parse?"""
    config = tmp_path / "govhall.yaml"
    config.write_text("database_url: sqlite:///file.sqlite\nsecret_key: from-the-file-123456\n"
                      "root_tenant: '370100000000'\nlogin_max_failures: 3\n", encoding="utf-8")
    settings = load_settings({"GOVHALL_CONFIG": str(config), "GOVHALL_DATABASE_URL": "sqlite:///env.sqlite",
                              "GOVHALL_SESSION_COOKIE_SECURE": "false"})
    assert settings.database_url == "sqlite:///env.sqlite"
    assert settings.secret_key == "from-the-file-123456"
    assert settings.login_max_failures == 3
    assert settings.session_cookie_secure is False


def test_missing_key_is_named():
    """Does a missing required key stop start-up with its name and how to set it?"""
    env = {k: v for k, v in BASE.items() if k != "GOVHALL_SECRET_KEY"}
    with pytest.raises(SettingsError, match="setting 'secret_key' \\(not set .*GOVHALL_SECRET_KEY\\)"):
        load_settings(env)


def test_invalid_value_is_named_with_its_source(tmp_path):
    """Does an invalid value name the key and the file it came from?"""
    config = tmp_path / "govhall.yaml"
    config.write_text("root_tenant: '3701'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=f"setting 'root_tenant' \\(file {config}\\): .*12-digit"):
        load_settings({**{k: v for k, v in BASE.items() if k != "GOVHALL_ROOT_TENANT"}, "GOVHALL_CONFIG": str(config)})


def test_bad_type_from_environment_is_named():
    """Is a non-number for a number setting refused, naming the variable?"""
    with pytest.raises(SettingsError, match="setting 'login_max_failures' \\(environment GOVHALL_LOGIN_MAX_FAILURES\\)"):
        load_settings({**BASE, "GOVHALL_LOGIN_MAX_FAILURES": "many"})


def test_unknown_keys_warn(tmp_path):
    """Do unknown keys in the file and environment warn instead of silently passing?"""
    config = tmp_path / "govhall.yaml"
    config.write_text("colour: red\n", encoding="utf-8")
    with pytest.warns(UserWarning) as caught:
        load_settings({**BASE, "GOVHALL_CONFIG": str(config), "GOVHALL_COLOR": "blue", "GOVHALL_TEST_X": "ignored"})
    messages = [str(w.message) for w in caught]
    assert any("unknown key 'colour'" in m for m in messages)
    assert any("GOVHALL_COLOR" in m for m in messages)
    assert not any("GOVHALL_TEST_X" in m for m in messages)


def test_unreadable_config_file_is_named(tmp_path):
    """Is a broken settings file reported with its path?"""
    config = tmp_path / "govhall.yaml"
    config.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=str(config)):
        load_settings({**BASE, "GOVHALL_CONFIG": str(config)})
