"""JSON API for department systems (/api/v1), the OpenAPI document and /healthz."""
