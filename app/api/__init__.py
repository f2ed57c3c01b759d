"""JSON API routers under /api/v1; create_app includes each module's ``router``."""
