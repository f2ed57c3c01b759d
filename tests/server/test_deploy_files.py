"""docker-compose.yml and the Dockerfile (no Docker engine here: check what can be checked)."""
import yaml

from tests.conftest import REPO


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_starts_db_then_migrations_then_app():
    services = compose()["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["hookaudit", "db", "upgrade"]
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}}
    assert services["app"]["command"][:2] == ["hookaudit", "serve"]


def test_compose_app_and_migrations_use_the_same_database_and_no_default_secret():
    services = compose()["services"]
    env = services["app"]["environment"]
    assert env == services["migrate"]["environment"]
    assert env["HOOKAUDIT_DATABASE_URL"].startswith("postgresql+psycopg://hookaudit:${POSTGRES")
    assert env["HOOKAUDIT_SECRET_KEY"].startswith("${HOOKAUDIT_SECRET_KEY:?")


def test_compose_runs_the_facts_pass_in_its_own_service_not_in_the_app():
    services = compose()["services"]
    facts = services["facts"]
    assert facts["command"] == ["hookaudit", "facts", "worker"]
    assert facts["environment"] == services["app"]["environment"]   # same database, webhooks
    assert services["app"]["environment"]["HOOKAUDIT_FACTS_PASS"] == "worker"
    assert facts["depends_on"] == services["app"]["depends_on"]


def test_dockerfile_copies_what_the_app_reads_at_runtime():
    text = (REPO / "Dockerfile").read_text()
    for path in ("migrations", "templates", "app", "hookshim", "alembic.ini"):
        assert f"COPY {path}" in text
    assert "USER hookaudit" in text and '"hookaudit", "serve"' in text
