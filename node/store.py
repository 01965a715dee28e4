"""The node's own SQLite store: local datasets, the ledger listener's checkpoint, job runs, and
runs waiting for the ledger's verdict.

One file per node (`orgs/<org>/node/node.sqlite`), WAL mode. A job run is recorded before it
starts and after it ends, so a restarted node never runs the same (job, run) twice. A run whose
protocol finished is recorded (`StagedRun`: its receipt and the digests of its staged outputs)
before the receipt is submitted, so a restarted node can finish it: submit the receipt if it was
not committed, then deliver the outputs on COMPLETED or delete them on FAILED/DISPUTED.
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


class StagedRun(SQLModel, table=True):
    """A run between the end of its protocol and the ledger's verdict, at this node."""

    job_id: str = Field(primary_key=True)
    run: int = Field(primary_key=True)
    state: str
    """staged (receipt not known to be committed) | receipted | delivered | discarded | done
    (receipt committed, nothing to deliver: this org receives no output)"""
    receipt_json: str
    """The receipt to submit (canonical JSON), kept so a restarted node can submit it."""
    digests_json: str = "{}"
    """Output name -> sha256 digest of the staged file ("{}" when this org receives nothing)."""
    receipt_tx: str = ""
    detail: str = ""
    updated_at: float = Field(default_factory=time.time)


SETTLED = ("delivered", "discarded", "done")


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


    # runs waiting for their verdict

    def stage_run(self, job_id: str, run: int, receipt_json: str, digests_json: str) -> StagedRun:
        with self.session() as s:
            record = StagedRun(job_id=job_id, run=run, state="staged", receipt_json=receipt_json,
                               digests_json=digests_json)
            s.merge(record)
            s.commit()
            return record

    def update_staged(self, job_id: str, run: int, state: str, *, receipt_tx: str | None = None,
                      detail: str | None = None) -> StagedRun:
        with self.session() as s:
            record = s.get(StagedRun, (job_id, run))
            if record is None:
                raise KeyError(f"no staged run {job_id} run {run} in {self.path}")
            record.state = state
            if receipt_tx is not None:
                record.receipt_tx = receipt_tx
            if detail is not None:
                record.detail = detail
            record.updated_at = time.time()
            s.add(record)
            s.commit()
            return record

    def get_staged(self, job_id: str, run: int) -> StagedRun | None:
        with self.session() as s:
            return s.get(StagedRun, (job_id, run))

    def unsettled(self) -> list[StagedRun]:
        """Staged runs not yet delivered or discarded, oldest first."""
        with self.session() as s:
            rows = s.exec(select(StagedRun).where(StagedRun.state.not_in(SETTLED))  # type: ignore[attr-defined]
                          .order_by(StagedRun.updated_at))
            return list(rows)


def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
