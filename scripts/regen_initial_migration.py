"""Regenerate storage/migrations/versions/0001_initial.py from the models.

Only for the first release cycle, while no database outside development exists; after that,
add new revisions with `alembic revision --autogenerate` instead.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from storage.migrate import MIGRATIONS_DIR, alembic_config  # noqa: E402

TARGET = MIGRATIONS_DIR / "versions" / "0001_initial.py"


async def main() -> None:
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp}/empty.db")
        async with engine.begin() as conn:

            def gen(sync_conn):
                cfg = alembic_config()
                cfg.attributes["connection"] = sync_conn
                command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")

            await conn.run_sync(gen)
        await engine.dispose()
    produced = next((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    produced.rename(TARGET)
    print(f"wrote {TARGET.relative_to(ROOT)}")


asyncio.run(main())
