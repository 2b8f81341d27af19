"""Chinese-first UI text with an English switch.

Templates and code write the Chinese text and wrap it in `_()`; English comes from
`translations_en.EN`. A test checks that every wrapped string has an English entry. (A
gettext toolchain would add a compile step to every build for a two-language UI.)
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from app.core.translations_en import EN

LANGUAGES = ("zh", "en")
COOKIE = "govhall_lang"


def current_language() -> str:
    lang = getattr(g, "lang", None)
    if lang is None:
        lang = request.args.get("lang") or request.cookies.get(COOKIE)
        if lang not in LANGUAGES:
            lang = current_app.config["GOVHALL_SETTINGS"].default_language
        g.lang = lang
    return str(lang)


def translate(text: str, **values: object) -> str:
    """Translate Chinese UI text into the request's language, then fill in {placeholders}."""
    if current_language() == "en":
        text = EN.get(text, text)
    return text.format(**values) if values else text


def localized(obj: object, field: str = "name") -> str:
    """A model's name in the current language (`name` / `name_en`), falling back to Chinese."""
    if current_language() == "en":
        english = getattr(obj, f"{field}_en", None)
        if english:
            return str(english)
    return str(getattr(obj, field))


def init_i18n(app: Flask) -> None:
    app.jinja_env.globals.update(_=translate, localized=localized, current_language=current_language)
