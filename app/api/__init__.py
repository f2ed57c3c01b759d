"""The JSON API: one module per area, each a ``router`` listed in app/main.py ROUTERS."""

API_V1 = "/api/v1"   # every JSON route but /healthz and /metrics
