"""Every Chinese UI string has English, and the pages switch language.

The extractor reads the literal first argument of every `_()` / `translate()` call in the
templates (through Jinja's own parser) and in app/**/*.py (through `ast`), plus every value in
app/core/labels.py (templates pass those through `_()` by lookup). Adding a wrapped string
without an entry in app/core/translations_en.py fails `test_every_ui_string_has_english`.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from types import SimpleNamespace

import jinja2
import pytest
from flask import Flask
from jinja2.ext import extract_from_ast

from app.core import labels
from app.core.i18n import localized, translate
from app.core.translations_en import EN
from tests.conftest import LIXIA_JIEFANGLU, login, repo_path

APP_DIR = repo_path("app")
FUNCTIONS = ("_", "translate")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def template_strings(source: str, env: jinja2.Environment) -> Iterator[tuple[int, str]]:
    """(line, text) for each `_('…')` / `translate('…')` with a literal first argument."""
    for lineno, _function, message in extract_from_ast(env.parse(source), gettext_functions=FUNCTIONS):
        # Babel style: a str, or a tuple (literal or None per argument) when there are several.
        first = message[0] if isinstance(message, tuple) else message
        if isinstance(first, str):
            yield lineno, first


def python_strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) for each `_("…")` / `translate("…")` call (also `i18n.translate(…)`)."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        first = node.args[0]
        if name in FUNCTIONS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield node.lineno, first.value


def label_strings() -> Iterator[tuple[str, str]]:
    """(where, text) for every value of the upper-case label dicts in app/core/labels.py."""
    for name, table in vars(labels).items():
        if name.isupper() and isinstance(table, dict) and name != "TEMPLATE_LABELS":
            for value in table.values():
                yield f"app/core/labels.py {name}", value


def ui_strings(env: jinja2.Environment) -> dict[str, str]:
    """Every UI string → the first place it was found."""
    found: dict[str, str] = {}
    for path in sorted(APP_DIR.rglob("*.html")):
        for lineno, text in template_strings(path.read_text(encoding="utf-8"), env):
            found.setdefault(text, f"{path.relative_to(APP_DIR.parent)}:{lineno}")
    for path in sorted(APP_DIR.rglob("*.py")):
        for lineno, text in python_strings(path.read_text(encoding="utf-8")):
            found.setdefault(text, f"{path.relative_to(APP_DIR.parent)}:{lineno}")
    for where, text in label_strings():
        found.setdefault(text, where)
    return found


def placeholders(text: str) -> set[str]:
    return {field for _literal, field, _spec, _conv in string.Formatter().parse(text) if field is not None}


@pytest.fixture(scope="module")
def found(shared_app: Flask) -> dict[str, str]:
    return ui_strings(shared_app.jinja_env)


def test_extractor_reads_templates_python_and_labels(found: dict[str, str]) -> None:
    """Self-check: if the extractor silently found nothing, the coverage test would pass vacuously."""
    env = jinja2.Environment(autoescape=True)
    snippet = "{{ _('甲') }} {{ _(\"乙{n}\", n=1) }} {{ _(name) }} {{ translate('丙') }} {{ x | upper }}"
    assert [text for _line, text in template_strings(snippet, env)] == ["甲", "乙{n}", "丙"]
    code = "flash(translate('丁{m}', m=2))\nraise E(i18n.translate(\"戊\"))\n_(variable)\n'己'.strip()\n"
    assert [text for _line, text in python_strings(code)] == ["丁{m}", "戊"]

    assert found["工作人员登录"].startswith("app/auth/templates/auth/login.html:")
    assert found["承诺{days}个{unit}"].startswith("app/portal/templates/portal/place.html:")
    assert found["用户名或密码错误。"].startswith("app/auth/views.py:")
    assert found["行政许可"] == "app/core/labels.py ITEM_TYPES"
    assert len(found) > 80


def test_every_ui_string_has_english(found: dict[str, str]) -> None:
    missing = [f"{where}: {text!r}" for text, where in found.items() if text not in EN]
    assert not missing, "add English to app/core/translations_en.py for:\n" + "\n".join(missing)
    mismatched = [
        f"{where}: {text!r} has {sorted(placeholders(text))}, English {EN[text]!r} has {sorted(placeholders(EN[text]))}"
        for text, where in found.items() if placeholders(text) != placeholders(EN[text])
    ]
    assert not mismatched, "placeholders differ:\n" + "\n".join(mismatched)


def test_english_entries_are_english() -> None:
    for chinese, english in EN.items():
        assert CJK.search(chinese), f"key {chinese!r} is not Chinese source text"
        assert english.strip() and not CJK.search(english), f"{chinese!r} → {english!r} is not English"
        assert placeholders(chinese) == placeholders(english), chinese


def test_translate_fills_placeholders_in_both_languages(shared_app: Flask) -> None:
    text = "登录失败次数过多，请{minutes}分钟后再试。"
    with shared_app.test_request_context("/?lang=en"):
        assert translate(text, minutes=15) == "Too many failed sign-ins. Please try again in 15 minutes."
    with shared_app.test_request_context("/?lang=zh"):
        assert translate(text, minutes=15) == "登录失败次数过多，请15分钟后再试。"


def test_pages_switch_language(shared_app: Flask) -> None:
    client = shared_app.test_client()
    page = client.get("/guide/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "办事指南" in page and "Service guide" not in page

    response = client.get("/lang/en?next=/guide/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/guide/")
    page = client.get("/guide/").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Service guide" in page and "Choose a place to see the services" in page
    assert "办事指南" not in page and "选择办事地点" not in page
    assert ">中文</a>" in page  # the switch back

    place = client.get(f"/guide/{LIXIA_JIEFANGLU}").get_data(as_text=True)
    assert "Opening hours" in place and "Visits in person: " in place
    item_link = re.search(rf'href="(/guide/{LIXIA_JIEFANGLU}/items/[^"]+)"', place)
    assert item_link, "no item on the guide page"
    item = client.get(item_link.group(1)).get_data(as_text=True)
    for english in ("Implementation code", "Statutory time limit", "Required documents", "working days"):
        assert english in item
    assert "法定时限" not in item and "申请材料" not in item

    client.get("/lang/zh?next=/guide/")
    page = client.get("/guide/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "办事指南" in page and "Service guide" not in page


def test_staff_pages_and_messages_in_english(client) -> None:
    client.get("/lang/en")
    assert "Staff sign-in" in client.get("/login").get_data(as_text=True)
    login(client, "jn_admin")
    home = client.get("/home").get_data(as_text=True)
    assert "My workspace" in home and "City administrator" in home and "Sign out" in home
    tree = client.get("/tree").get_data(as_text=True)
    assert "Place tree" in tree and "County / district" in tree and "Town / subdistrict" in tree
    onboard = client.get("/onboard").get_data(as_text=True)
    assert "Onboard a county" in onboard and "Preview changes" in onboard and "县区接入" not in onboard


def test_flash_message_in_english(client) -> None:
    client.get("/lang/en")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    page = client.post("/login", data={"username": "jn_admin", "password": "wrong", "csrf_token": token.group(1)})
    assert "Wrong username or password." in page.get_data(as_text=True)


def test_localized_falls_back_to_chinese(shared_app: Flask) -> None:
    named = SimpleNamespace(name="办理居民身份证", name_en="Apply for a resident identity card")
    unnamed = SimpleNamespace(name="办理居住证", name_en="")
    with shared_app.test_request_context("/", headers={"Cookie": "govhall_lang=en"}):
        assert localized(named) == "Apply for a resident identity card"
        assert localized(unnamed) == "办理居住证"
    with shared_app.test_request_context("/", headers={"Cookie": "govhall_lang=zh"}):
        assert localized(named) == "办理居民身份证"

