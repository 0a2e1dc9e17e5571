"""Run Alembic migrations from code (CLI, tests, start-up)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config

from borderflow.store.session import normalise_url


def alembic_config(database_url: str) -> Config:
    ini = files("borderflow.store").joinpath("alembic.ini")
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_head(database_url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
