"""The sync baseline: a trivial receiver that parses a batch and answers every event "accepted".

`gunicorn bench.bare_sync:app`: the same HTTP, JSON parsing and JSON answer as the real receiver, with
no authentication, no database and no projections, so the difference is what govhall adds.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/sync/v1/batches")
def batches() -> Any:
    body = request.get_json(force=True)
    results = [{"event_id": event["event_id"], "status": "accepted", "reason": ""} for event in body["events"]]
    return jsonify({"batch_id": body["batch_id"], "results": results})


@app.route("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})
