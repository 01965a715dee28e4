"""The node's own SQLite store: local datasets, the ledger listener's checkpoint, job runs.

One file per node (`orgs/<org>/node/node.sqlite`), WAL mode. A job run is recorded before it
starts and after it ends, so a restarted node never runs the same (job, run) twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, create_engine, select

from node.errors import DatasetError


class LocalDataset(SQLModel, table=True):
    """A dataset this node holds, and what was registered for it on the ledger."""

    name: str = Field(primary_key=True)
    location: str
    """File path, or `URL#table` for a SQL table."""
    columns_json: str
    row_count: int
    fingerprint: str
    merkle_root: str
    ledger_version: int = 0
    ledger_tx: str = ""
    status: str = "active"
    updated_at: float = Field(default_factory=time.time)


class ListenerCheckpoint(SQLModel, table=True):
    """Where the ledger listener resumes: the next block to read, the last event handled in it."""

    id: int = Field(default=1, primary_key=True)
    block: int = 0
    tx_id: str = ""


class JobRun(SQLModel, table=True):
    """One run of one job at this node: claimed, then done or failed."""

    job_id: str = Field(primary_key=True)
    run: int = Field(primary_key=True)
    state: str
    """claimed | running | done | failed | refused"""
    detail: str = ""
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None


class NodeStore:
    """Typed access to the node's SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _pragmas)
        SQLModel.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # datasets

    def put_dataset(self, dataset: LocalDataset) -> None:
        with self.session() as s:
            s.merge(dataset)
            s.commit()

    def get_dataset(self, name: str) -> LocalDataset:
        with self.session() as s:
            found = s.get(LocalDataset, name)
        if found is None:
            raise DatasetError(
                f"this node holds no dataset {name!r}; register it with "
                "`alliance dataset register --name NAME --file FILE`"
            )
        return found

    def datasets(self) -> list[LocalDataset]:
        with self.session() as s:
            return list(s.exec(select(LocalDataset).order_by(LocalDataset.name)))

    # checkpoint

    def checkpoint(self) -> ListenerCheckpoint:
        with self.session() as s:
            return s.get(ListenerCheckpoint, 1) or ListenerCheckpoint()

    def save_checkpoint(self, block: int, tx_id: str) -> None:
        with self.session() as s:
            s.merge(ListenerCheckpoint(id=1, block=block, tx_id=tx_id))
            s.commit()

    # runs

    def get_run(self, job_id: str, run: int) -> JobRun | None:
        with self.session() as s:
            return s.get(JobRun, (job_id, run))

    def record_run(self, job_id: str, run: int, state: str, detail: str = "") -> JobRun:
        with self.session() as s:
            record = s.get(JobRun, (job_id, run)) or JobRun(job_id=job_id, run=run, state=state)
            record.state = state
            record.detail = detail
            if state in ("done", "failed", "refused"):
                record.finished_at = time.time()
            s.add(record)
            s.commit()
            return record

    def runs(self) -> list[JobRun]:
        with self.session() as s:
            return list(s.exec(select(JobRun).order_by(JobRun.started_at)))


def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
