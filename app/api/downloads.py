"""The hookshim zipapp this server was built with, at a stable URL with its SHA-256, and the
fleet's shim versions. The zipapp is public (it is the open-source shim, and a host needs it
before it has anything else); the fleet view needs a user."""
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from app.deps import CurrentUser, SessionDep
from app.services import shim_release as svc

router = APIRouter(prefix="/api/v1", tags=["shim"])


@router.get("/shim")
def shim_release(request: Request) -> dict:
    """Version, SHA-256, size and URL of the zipapp."""
    return svc.describe(str(request.base_url))


@router.get("/shim/hookshim.pyz")
def shim_zipapp(request: Request) -> Response:
    z = svc.zipapp()
    etag = f'"{z["sha256"]}"'
    headers = {"ETag": etag, "X-Checksum-Sha256": z["sha256"],
               "Content-Disposition": 'attachment; filename="hookshim.pyz"'}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(z["data"], media_type="application/zip", headers=headers)


@router.get("/shim/hookshim.pyz.sha256", response_class=PlainTextResponse)
def shim_checksum() -> str:
    """``sha256sum -c`` format."""
    return f"{svc.zipapp()['sha256']}  hookshim.pyz\n"


@router.get("/fleet/versions")
def fleet_versions(session: SessionDep, _user: CurrentUser) -> dict:
    """Hosts per shim version, and the hosts behind the server's version."""
    return svc.fleet_versions(session, svc.zipapp()["version"])
