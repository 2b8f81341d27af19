"""The API baseline: a trivial Flask app whose one endpoint returns a JSON body from memory.

`gunicorn bench.bare_app:app` with BENCH_BARE_BODY=<file of JSON> (the govhall items response,
captured once). The body is parsed at start-up and serialised with Flask's JSON provider on every
request, as govhall's views do, so the difference is what govhall adds: auth, scope, queries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify

BODY: Any = json.loads(Path(os.environ["BENCH_BARE_BODY"]).read_text(encoding="utf-8"))

app = Flask(__name__)
app.json.ensure_ascii = False  # type: ignore[attr-defined]  # as govhall: UTF-8 Chinese, not \\u escapes


@app.route("/api/v1/tenants/<code>/items")
def items(code: str) -> Any:
    return jsonify(BODY)


@app.route("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})
