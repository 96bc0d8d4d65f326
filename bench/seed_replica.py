"""The design chatsvc replaced, rebuilt for side-by-side rows: `python -m bench.seed_replica PORT DB_PATH`.

What the seed did (issue 11's description): FastAPI on uvicorn, `async def` endpoints over a synchronous
SQLAlchemy session on SQLite (the query runs on the event loop), one `GET /items/{id}` with no auth and a
pydantic response model. Written from that description, the way its tutorials teach it; `POST /items`
creates one. Needs the `bench` extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class ItemIn(BaseModel):
    name: str
    description: str = ""


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str


def make_app(db_path: str) -> FastAPI:
    # The pool must hold a connection per concurrent request: with SQLAlchemy's default (5 + 10 overflow) the
    # 16th concurrent request waits for a connection *on the event loop* while the others cannot finish
    # (their sessions close in a thread after the response), and the app stalls for the 30 s pool timeout.
    # That is the seed's design too, but the rows compare speed, so the replica gets a pool that fits.
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"check_same_thread": False},
                           pool_size=64, max_overflow=0)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(bind=engine)
    with sessions() as db:
        if db.get(Item, 1) is None:
            db.add(Item(id=1, name="Bench item", description="The row every GET reads."))
            db.commit()

    def get_db() -> Iterator[Session]:
        db = sessions()
        try:
            yield db
        finally:
            db.close()

    app = FastAPI()

    @app.get("/items/{item_id}", response_model=ItemOut)
    async def read_item(item_id: int, db: Session = Depends(get_db)) -> Item:  # noqa: B008 - FastAPI's idiom
        item = db.get(Item, item_id)
        if item is None:
            raise HTTPException(status_code=404, detail="Item not found")
        return item

    @app.post("/items", response_model=ItemOut, status_code=201)
    async def create_item(body: ItemIn, db: Session = Depends(get_db)) -> Item:  # noqa: B008
        item = Item(name=body.name, description=body.description)
        db.add(item)
        db.commit()
        db.refresh(item)
        return item

    return app


def main() -> None:
    import uvicorn

    port, db_path = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(make_app(db_path), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
