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


@router.get("/docs")
def swagger_ui(_user: PageUser):
    # validatorUrl None: Swagger UI would otherwise fetch a badge from validator.swagger.io.
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=TITLE,
                               swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/static/swagger-ui/swagger-ui.css",
                               swagger_favicon_url=FAVICON,
                               swagger_ui_parameters={"validatorUrl": None})


@router.get("/redoc")
def redoc(_user: PageUser):
    return get_redoc_html(openapi_url=OPENAPI_URL, title=TITLE,
                          redoc_js_url="/static/redoc/redoc.standalone.js",
                          redoc_favicon_url=FAVICON, with_google_fonts=False)
