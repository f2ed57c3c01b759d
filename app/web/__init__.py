"""The dashboard: HTML pages (Jinja2 + htmx) over the same service functions as /api/v1.

Its routers are listed in app/main.py with the API's; its session-cookie user loader
(``auth.session_user``) is one of ``app.state.user_loaders``.
"""
