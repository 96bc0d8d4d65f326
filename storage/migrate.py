"""Run Alembic programmatically (no alembic.ini needed); used at start-up and by `run.py migrate`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import SQLITE_PRAGMAS, is_sqlite

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Return an Alembic Config pointing at our migrations folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


async def upgrade_head(url: str, connect_args: dict[str, Any] | None = None) -> None:
    """Upgrade the database at url to the newest revision."""
    engine = create_async_engine(url, connect_args=connect_args or {})
    try:
        async with engine.begin() as conn:
            if is_sqlite(url):
                for pragma in SQLITE_PRAGMAS:
                    await conn.exec_driver_sql(pragma)

            def run(sync_conn: Any) -> None:
                cfg = alembic_config()
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(run)
    finally:
        await engine.dispose()


def run_migrations_blocking(url: str, connect_args: dict[str, Any] | None = None) -> None:
    """Apply Alembic migrations to head; blocking, so call it in a thread (it runs its own loop)."""
    asyncio.run(upgrade_head(url, connect_args))
