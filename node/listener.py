"""The ledger listener: chaincode events in commit order, resumed from a durable checkpoint.

The checkpoint (block, last tx id handled) lives in the node store and is saved after each event
is handed on, so a restarted listener resumes after the last event it saw and misses none. An
event is only a hint (the runner re-reads the job), and the runner's run records make sure a
replayed event never runs anything twice. A broken stream (ledger restarting) is reopened from
the checkpoint with a short backoff until `stop()`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from network.errors import NetworkError
from network.gateway import ChaincodeEvent, ChaincodeEventStream, Network
from node.store import NodeStore

log = logging.getLogger("node.listener")

JOB_TRIGGERS = frozenset({"JobApproved", "JobRunning", "JobClaimed"})
"""Events after which a participant's node may have something to do."""


def job_of(event: ChaincodeEvent, org: str) -> str | None:
    """The job id an event asks `org`'s node to look at, or None. Pure."""
    if event.event_name not in JOB_TRIGGERS:
        return None
    try:
        payload = json.loads(event.payload)
    except ValueError:
        return None
    if not isinstance(payload, dict) or org not in payload.get("participants", ()):
        return None
    job_id = payload.get("job_id")
    return job_id if isinstance(job_id, str) else None


class LedgerListener:
    """Feeds `on_job(job_id)` from the ledger's chaincode events, in a thread of its own."""

    def __init__(
        self,
        org: str,
        network: Network,
        chaincode: str,
        store: NodeStore,
        on_job: Callable[[str], object],
        *,
        retry_seconds: float = 0.5,
        reconnect: Callable[[], Network] | None = None,
    ) -> None:
        self.org = org
        self.network = network
        self.chaincode = chaincode
        self.store = store
        self.on_job = on_job
        self.retry_seconds = retry_seconds
        self.reconnect = reconnect
        """Called after the stream broke: the network to reopen it on (the ledger may have come
        back elsewhere)."""
        self._stop = threading.Event()
        self._stream: ChaincodeEventStream | None = None
        self._thread: threading.Thread | None = None
        self.events_seen = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"listener-{self.org}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            checkpoint = self.store.checkpoint()
            try:
                stream = self.network.chaincode_events(
                    self.chaincode, start_block=checkpoint.block, after_tx_id=checkpoint.tx_id
                )
                self._stream = stream
                if self._stop.is_set():
                    stream.close()
                    return
                for event in stream:
                    self._handle(event)
                    if self._stop.is_set():
                        break
            except NetworkError as exc:
                if self._stop.is_set():
                    return
                log.warning("event stream broke (%s); reopening from block %s",
                            exc, checkpoint.block)
                self._stop.wait(self.retry_seconds)
                if self.reconnect is not None and not self._stop.is_set():
                    try:
                        self.network = self.reconnect()
                    except NetworkError as again:
                        log.warning("the ledger is still unreachable: %s", again)
                continue
            self._stop.wait(self.retry_seconds)

    def _handle(self, event: ChaincodeEvent) -> None:
        self.events_seen += 1
        job_id = job_of(event, self.org)
        if job_id is not None:
            self.on_job(job_id)
        self.store.save_checkpoint(event.block_number, event.tx_id)
