"""/docs (Swagger UI) and /redoc (ReDoc) from pinned copies in app/static (no CDN: the
dashboard runs on air-gapped networks; scripts/refresh-apidocs.sh updates them, with
app/static/apidocs.sha256). Both need a logged-in user, like /openapi.json they read."""
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

from app.api.openapi import OPENAPI_URL
from app.web.auth import PageUser

router = APIRouter(include_in_schema=False)
TITLE = "hookaudit API"
FAVICON = "/static/favicon.svg"
# Nothing leaves the server: ReDoc's footer links an image on cdn.redoc.ly (refused here, so
# its onError hides it); both pages start with one inline script of FastAPI's; ReDoc's search
# runs in a blob: worker.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _confined(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/docs")
def swagger_ui(_user: PageUser):
    # validatorUrl None: Swagger UI would otherwise fetch a badge from validator.swagger.io.
    return _confined(get_swagger_ui_html(openapi_url=OPENAPI_URL, title=TITLE,
                               swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/static/swagger-ui/swagger-ui.css",
                               swagger_favicon_url=FAVICON,
                               swagger_ui_parameters={"validatorUrl": None}))


@router.get("/redoc")
def redoc(_user: PageUser):
    return _confined(get_redoc_html(openapi_url=OPENAPI_URL, title=TITLE,
                          redoc_js_url="/static/redoc/redoc.standalone.js",
                          redoc_favicon_url=FAVICON, with_google_fonts=False))
