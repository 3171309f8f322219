"""The JSON API for tills (``/api/v1``): tokens, the Bearer guard, idempotent writes, the endpoints."""
