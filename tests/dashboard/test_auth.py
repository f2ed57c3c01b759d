"""Login, logout, session cookie, CSRF, roles — through the real app (TestClient)."""
import re

from fastapi.testclient import TestClient

from tests.dashboard.conftest import PASSWORD, csrf_of


def test_pages_redirect_to_login_when_logged_out(anon):
    r = anon.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"


def test_htmx_request_logged_out_gets_hx_redirect(anon):
    r = anon.get("/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/login")


def test_login_sets_a_secure_httponly_expiring_cookie(app, viewer):
    with TestClient(app, base_url="https://testserver") as c:
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": viewer.name, "password": PASSWORD,
                                   "csrf_token": token}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert r.status_code == 303
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Max-Age=28800"):
        assert flag.lower() in cookie.lower()


def test_wrong_password_is_refused(anon, viewer):
    token = csrf_of(anon.get("/login").text)
    r = anon.post("/login", data={"username": viewer.name, "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and "Wrong user name or password" in r.text


def test_login_post_without_csrf_token_is_refused(anon, viewer):
    anon.get("/login")
    r = anon.post("/login", data={"username": viewer.name, "password": PASSWORD})
    assert r.status_code == 403


def test_login_then_overview(viewer_client):
    r = viewer_client.get("/")
    assert r.status_code == 200 and "Overview" in r.text and "victor" in r.text


def test_login_next_is_local_only(anon, viewer):
    token = csrf_of(anon.get("/login").text)
    r = anon.post("/login", data={"username": viewer.name, "password": PASSWORD,
                                  "csrf_token": token, "next": "//evil.example/"},
                  follow_redirects=False)
    assert r.headers["location"] == "/"


def test_logout_ends_the_session(viewer_client):
    token = csrf_of(viewer_client.get("/").text)
    r = viewer_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert viewer_client.get("/", follow_redirects=False).status_code == 303


def test_logout_without_csrf_is_refused(viewer_client):
    assert viewer_client.post("/logout").status_code == 403
    assert viewer_client.get("/", follow_redirects=False).status_code == 200


def test_tampered_cookie_is_no_session(viewer_client):
    viewer_client.cookies.set("hookaudit_session", viewer_client.cookies["hookaudit_session"][:-3] + "abc")
    assert viewer_client.get("/", follow_redirects=False).status_code == 303


def test_viewer_cannot_reach_admin_pages(viewer_client):
    r = viewer_client.get("/admin/hosts")
    assert r.status_code == 403 and "admin role" in r.text
    assert 'href="/admin/hosts"' not in viewer_client.get("/").text


def test_viewer_cannot_add_a_host_even_with_csrf(viewer_client):
    token = csrf_of(viewer_client.get("/").text)
    r = viewer_client.post("/admin/hosts", data={"name": "sneaky", "csrf_token": token})
    assert r.status_code == 403


def test_admin_adds_host_and_sees_token_once(admin_client):
    token = csrf_of(admin_client.get("/admin/hosts").text)
    r = admin_client.post("/admin/hosts", data={"name": "dom0-new", "csrf_token": token})
    assert r.status_code == 200 and 'id="new-token"' in r.text and "hah_" in r.text
    again = admin_client.get("/admin/hosts")
    assert "dom0-new" in again.text and "hah_" not in again.text


def test_admin_post_without_csrf_is_refused(admin_client):
    assert admin_client.post("/admin/hosts", data={"name": "x"}).status_code == 403


def test_admin_revokes_a_host(admin_client, host_a):
    token = csrf_of(admin_client.get("/admin/hosts").text)
    r = admin_client.post("/admin/hosts/revoke", data={"name": host_a.name, "csrf_token": token})
    assert r.status_code == 200 and "revoked" in r.text


def test_admin_issues_a_new_token_for_a_revoked_host(admin_client, host_a, client):
    token = csrf_of(admin_client.get("/admin/hosts").text)
    admin_client.post("/admin/hosts/revoke", data={"name": host_a.name, "csrf_token": token})
    r = admin_client.post("/admin/hosts/rotate", data={"name": host_a.name, "csrf_token": token})
    new = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    beat = {"host": host_a.name, "shim_version": "0.1.0", "spool_depth": 0,
            "oldest_unsent_age_s": 0.0, "parked": 0, "last_seq": 0, "last_error": None}
    assert client.post("/api/v1/heartbeat", json=beat, headers=host_a.headers).status_code == 401
    assert client.post("/api/v1/heartbeat", json=beat,
                       headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_admin_creates_user_and_api_token(admin_client):
    token = csrf_of(admin_client.get("/admin/users").text)
    admin_client.post("/admin/users", data={"name": "auditor", "role": "viewer",
                                            "password": "a-long-password-1", "csrf_token": token})
    r = admin_client.post("/admin/tokens", data={"user": "auditor", "label": "export",
                                                 "csrf_token": token})
    assert "auditor" in r.text and "hau_" in r.text


def test_session_cookie_authenticates_the_json_api(viewer_client):
    assert viewer_client.get("/api/v1/overview").status_code == 200


def test_session_json_post_without_csrf_header_is_refused(viewer_client):
    # any POST route of the API that takes a user: the session must echo the CSRF token
    r = viewer_client.post("/api/v1/overview")
    assert r.status_code in (403, 405)


def test_json_api_without_login_is_401_in_the_error_shape(anon):
    r = anon.get("/api/v1/overview")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    forms = []
    for path in templates.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", path.read_text(), re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                forms.append((path.name, "csrf_token" in form or "csrf_field(" in form))
    assert len(forms) >= 8                       # login, logout, admin hosts, users, tokens
    assert [name for name, ok in forms if not ok] == []
