"""Run Alembic from code (`hookaudit db upgrade`, tests, docker-compose's one-shot job)."""
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.db import normalize_url

REPO = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
