"""The ledger's chaincode-event stream, and which jobs a batch of events is about (so a live
screen re-reads only those)."""

from __future__ import annotations

import json
from typing import Any

from alliance.app.errors import mapped_errors
from alliance.app.session import Session


def event_stream(session: Session, start_block: int | None, after_tx_id: str = "") -> Any:
    """The chaincode-event stream from `start_block` (None: the next commit)."""
    with mapped_errors():
        return session.network.chaincode_events(
            session.chaincode, start_block=start_block, after_tx_id=after_tx_id
        )


def changed_jobs(events: list[Any] | None) -> set[str] | None:
    """The ids of the jobs `events` are about, or None when some event is about something else
    (or there is no list): then a reader reads everything again."""
    if events is None:
        return None
    ids = set()
    for event in events:
        try:
            payload = json.loads(event.payload)
        except ValueError:
            return None
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        if not isinstance(job_id, str):
            return None
        ids.add(job_id)
    return ids
