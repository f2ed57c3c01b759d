"""The dashboard: HTML pages (Jinja2 + htmx) over the same service functions as /api/v1.

``install(app)`` is the one call create_app makes: static files, page routers, the JSON
twins the dashboard owns, the session-cookie user loader and the page error handlers.
"""
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    from app.web import admin, auth, pages, pages_events, pages_guests
    from app.web.api_overview import router as overview_api

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.user_loaders = [*getattr(app.state, "user_loaders", []), auth.session_user]
    for router in (auth.router, pages.router, pages_events.router, pages_guests.router,
                   admin.router, overview_api):
        app.include_router(router)
    app.add_exception_handler(auth.LoginRequired, auth.login_redirect)
    app.add_exception_handler(auth.PageForbidden, auth.forbidden_page)
