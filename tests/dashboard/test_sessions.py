"""Server-side sessions (issue 13 §4): logout, disabling a user and a new password end them;
logins are throttled per account and per client; unknown users cost one verification too."""
import logging

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.cli import main as cli_main
from app.models import LoginThrottle
from app.services import accounts
from tests.dashboard.conftest import BASE_URL, PASSWORD, csrf_of, login

COOKIE = "hookaudit_session"


def captured(app, cookie_value) -> TestClient:
    """Another browser (an attacker's) presenting a copied session cookie."""
    c = TestClient(app, base_url=BASE_URL)
    c.cookies.set(COOKIE, cookie_value)
    return c


def attempt(client, name, password):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def test_a_captured_cookie_stops_working_after_logout(app, viewer_client):
    stolen = viewer_client.cookies[COOKIE]
    assert captured(app, stolen).get("/", follow_redirects=False).status_code == 200
    token = csrf_of(viewer_client.get("/").text)
    viewer_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    thief = captured(app, stolen)
    assert thief.get("/", follow_redirects=False).status_code == 303
    assert thief.get("/api/v1/overview").status_code == 401


def test_logout_ends_only_that_session(app, viewer, viewer_client):
    with TestClient(app, base_url=BASE_URL) as other:
        login(other, viewer.name)
        token = csrf_of(viewer_client.get("/").text)
        viewer_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert other.get("/", follow_redirects=False).status_code == 200


def test_disabling_a_user_ends_their_sessions_at_once(app, admin, viewer, viewer_client,
                                                      admin_client):
    token = csrf_of(admin_client.get("/admin/users").text)
    r = admin_client.post("/admin/users/disable", data={"name": viewer.name, "csrf_token": token},
                          follow_redirects=False)
    assert r.status_code == 303
    assert viewer_client.get("/", follow_redirects=False).status_code == 303
    # enabled again: the old session does not come back, a new login is needed
    admin_client.post("/admin/users/disable", data={"name": viewer.name, "disabled": "false",
                                                    "csrf_token": token})
    assert viewer_client.get("/", follow_redirects=False).status_code == 303
    assert login(viewer_client, viewer.name).get("/", follow_redirects=False).status_code == 200


def test_a_new_password_ends_every_session_of_the_user(app, viewer, viewer_client):
    with TestClient(app, base_url=BASE_URL) as second:
        login(second, viewer.name)
        with app.state.db.session(write=True) as s:
            accounts.set_password(s, viewer.name, "another long password")
        assert viewer_client.get("/", follow_redirects=False).status_code == 303
        assert second.get("/", follow_redirects=False).status_code == 303
    assert attempt(viewer_client, viewer.name, PASSWORD).status_code == 401
    assert attempt(viewer_client, viewer.name, "another long password").status_code == 303


def test_a_new_password_ends_nobody_elses_session(app, viewer, admin_client):
    with app.state.db.session(write=True) as s:
        accounts.set_password(s, viewer.name, "another long password")
    assert admin_client.get("/", follow_redirects=False).status_code == 200


def test_users_passwd_command_changes_the_password_and_ends_sessions(
        app, db_url, viewer, viewer_client, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert cli_main(["--database-url", db_url, "users", "passwd", viewer.name,
                     "--password-stdin"]) == 0
    assert viewer_client.get("/", follow_redirects=False).status_code == 303
    assert attempt(viewer_client, viewer.name, "a brand new password").status_code == 303


# --- throttling ------------------------------------------------------------------------------

@pytest.fixture
def strict(make_app):
    """An app allowing 3 failures per account and 5 per client address."""
    return make_app(login_max_failures=3, login_max_failures_per_client=5, login_window_s=300)


def test_wrong_passwords_then_the_right_one_is_throttled(strict, viewer):
    with TestClient(strict, base_url=BASE_URL) as c:
        assert [attempt(c, viewer.name, "wrong").status_code for _ in range(3)] == [401] * 3
        r = attempt(c, viewer.name, PASSWORD)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 300
    assert "Too many failed logins" in r.text
    assert COOKIE not in r.cookies or "sid" not in r.cookies.get(COOKIE, "")


def test_the_account_is_throttled_from_another_client_address(strict, viewer):
    with TestClient(strict, base_url=BASE_URL, client=("203.0.113.1", 5000)) as a:
        for _ in range(3):
            attempt(a, viewer.name, "wrong")
    with TestClient(strict, base_url=BASE_URL, client=("198.51.100.7", 5000)) as b:
        assert attempt(b, viewer.name, PASSWORD).status_code == 429


def test_one_client_is_throttled_across_user_names(strict, viewer):
    with TestClient(strict, base_url=BASE_URL, client=("203.0.113.1", 5000)) as a:
        for i in range(5):
            assert attempt(a, f"guess{i}", "wrong").status_code == 401
        assert attempt(a, viewer.name, PASSWORD).status_code == 429
    with TestClient(strict, base_url=BASE_URL, client=("198.51.100.7", 5000)) as b:
        assert attempt(b, viewer.name, PASSWORD).status_code == 303


def test_throttling_counts_across_app_processes(make_app, viewer):
    """Two apps on one database stand for two workers: the count is in the database."""
    one = make_app(login_max_failures=3)
    two = make_app(login_max_failures=3)
    with TestClient(one, base_url=BASE_URL) as a, TestClient(two, base_url=BASE_URL) as b:
        attempt(a, viewer.name, "wrong")
        attempt(b, viewer.name, "wrong")
        attempt(a, viewer.name, "wrong")
        assert attempt(b, viewer.name, PASSWORD).status_code == 429


def test_login_works_again_once_the_window_has_passed(strict, viewer):
    with TestClient(strict, base_url=BASE_URL) as c:
        for _ in range(3):
            attempt(c, viewer.name, "wrong")
        assert attempt(c, viewer.name, PASSWORD).status_code == 429
        with strict.state.db.session(write=True) as s:   # 301 s later
            s.execute(update(LoginThrottle).values(window_start=LoginThrottle.window_start - 301))
        assert attempt(c, viewer.name, PASSWORD).status_code == 303


def test_throttled_attempts_do_not_extend_the_lockout(strict, viewer):
    with TestClient(strict, base_url=BASE_URL) as c:
        for _ in range(3):
            attempt(c, viewer.name, "wrong")
        first = int(attempt(c, viewer.name, "wrong").headers["Retry-After"])
        for _ in range(5):
            later = attempt(c, viewer.name, "wrong")
    assert later.status_code == 429 and int(later.headers["Retry-After"]) <= first


def test_a_successful_login_clears_the_account_count(strict, viewer):
    with TestClient(strict, base_url=BASE_URL) as c:
        for _ in range(2):
            attempt(c, viewer.name, "wrong")
        assert attempt(c, viewer.name, PASSWORD).status_code == 303
        for _ in range(2):
            attempt(c, viewer.name, "wrong")
        assert attempt(c, viewer.name, PASSWORD).status_code == 303


def test_users_unlock_lets_a_locked_out_admin_in_at_once(strict, db_url, admin):
    with TestClient(strict, base_url=BASE_URL) as c:
        for _ in range(3):
            attempt(c, admin.name, "wrong")
        assert attempt(c, admin.name, PASSWORD).status_code == 429
        assert cli_main(["--database-url", db_url, "users", "unlock", admin.name]) == 0
        assert attempt(c, admin.name, PASSWORD).status_code == 303


def test_throttling_is_logged_with_the_user_name_escaped(strict, caplog):
    forged = "mallory\nINFO forged log line \x1b[31m" + "x" * 500
    with TestClient(strict, base_url=BASE_URL) as c, caplog.at_level(logging.INFO):
        for _ in range(4):
            attempt(c, forged, "wrong")
    throttled = [r.getMessage() for r in caplog.records if "login throttled" in r.getMessage()]
    assert len(throttled) == 1
    line = throttled[0]
    assert "\n" not in line and "\x1b" not in line and "mallory\\\\nINFO" in line
    assert len(line) < 300


def test_a_nul_in_the_user_name_is_refused_as_bad_input_not_an_error(anon):
    # app/deps.py refuse_nul: a NUL in any form field is a 422 before the login runs
    resp = attempt(anon, "vic\x00tor", "wrong")
    assert resp.status_code == 422 and COOKIE not in resp.cookies


# --- timing ----------------------------------------------------------------------------------

@pytest.fixture
def verifications(monkeypatch):
    """Counts argon2 verifications (the library's, wrapped: they still run)."""
    calls = []
    real = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(hash_)
        return real(self, hash_, password)
    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


@pytest.mark.parametrize("who", ["unknown", "disabled", "no_password", "wrong_password"])
def test_every_refused_login_costs_one_password_verification(app, anon, admin, viewer,
                                                            make_user, verifications, who):
    make_user("tokens-only", "viewer", password=None)
    with app.state.db.session(write=True) as s:
        accounts.add_user(s, "gone", "viewer", "a long password 1")
        accounts.set_user_disabled(s, "gone", True, acting_user_id=-1)
    name = {"unknown": "nobody", "disabled": "gone", "no_password": "tokens-only",
            "wrong_password": viewer.name}[who]
    verifications.clear()
    assert attempt(anon, name, "not the password").status_code == 401
    assert len(verifications) == 1


def test_the_dummy_hash_has_the_parameters_of_real_ones(app, anon, viewer, verifications):
    attempt(anon, viewer.name, "wrong")
    attempt(anon, "nobody", "wrong")
    real, dummy = verifications
    assert real.rsplit("$", 2)[0] == dummy.rsplit("$", 2)[0]   # $argon2id$v=..$m=..,t=..,p=..


# --- serve --workers ---------------------------------------------------------------------------

def test_serve_with_several_workers_needs_a_secret_key(monkeypatch, capsys):
    monkeypatch.delenv("HOOKAUDIT_SECRET_KEY", raising=False)
    assert cli_main(["serve", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "HOOKAUDIT_SECRET_KEY" in err and "--workers 2" in err
