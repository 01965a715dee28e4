"""A session: one org acting on one network (NET), with a lazily opened connection to its ledger.

`open_session(net_dir, org, user)` is the use case "open a session as ORG"; every other use case
takes the session. Calls to the contract go through `submit`/`evaluate`, which decode the JSON
answer and map the ledger's errors to the application's (`alliance.app.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, mapped_errors


@dataclass
class Session:
    net_dir: Path
    org: str
    user: str = "admin"
    passphrase: bytes | None = None
    _conn: Any = field(default=None, repr=False)
    _peer_height: int = field(default=0, repr=False)
    _every_peer_height: int = field(default=0, repr=False)
    _engine: str | None = field(default=None, repr=False)

    @property
    def connection(self) -> Any:
        if self._conn is None:
            from network.connection import connect_member

            with mapped_errors():
                self._conn = connect_member(self.net_dir, self.org, self.user, self.passphrase)
        return self._conn

    @property
    def network(self) -> Any:
        return self.connection.network

    @property
    def chaincode(self) -> str:
        return str(self.connection.profile.chaincode)

    def submit(self, function: str, *args: str) -> Any:
        """Submit a transaction as this org; the decoded JSON answer."""
        from alliance.canonical import loads
        from network.catch_up import note_commit

        with mapped_errors():
            self._catch_up(every_peer=True)
            result, status = self.connection.contract.submit_with_status(function, *args)
            if self._on_fabric():
                note_commit(self.net_dir, status.block_number)
            return loads(result or b"null")

    def evaluate(self, function: str, *args: str) -> Any:
        """Evaluate a query as this org; the decoded JSON answer."""
        from alliance.canonical import loads

        with mapped_errors():
            self._catch_up()
            return loads(
                self.connection.contract.evaluate_transaction(function, *args) or b"null"
            )

    def _catch_up(self, *, every_peer: bool = False) -> None:
        """On Fabric, wait until this org's peer (before a submit: every peer, since other orgs'
        peers endorse it too) has every block NET has seen committed (another org's transaction
        may have committed on its own peer a moment earlier)."""
        from network.catch_up import committed_height, wait_for_every_peer, wait_for_height

        if not self._on_fabric():
            return
        target = committed_height(self.net_dir)
        if target > self._peer_height:
            self._peer_height = wait_for_height(self.network, target)
        if every_peer and target > self._every_peer_height:
            conn = self.connection
            wait_for_every_peer(
                self.net_dir, conn.gateway, conn.profile.channel, target, skip=self.org
            )
            self._every_peer_height = target

    def _on_fabric(self) -> bool:
        """Whether NET runs on Fabric (read once per connection: devnet has one ledger for
        every org and needs no catching up)."""
        if self._engine is None:
            from network.connection import current_engine

            self._engine = current_engine(self.net_dir)
        return self._engine == "fabric"

    def reconnect(self) -> None:
        """Drop the connection; the next call opens a new one (the ledger may have restarted)."""
        self.close()

    def close(self) -> None:
        self._peer_height = self._every_peer_height = 0
        self._engine = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(
    net_dir: Path | str | None,
    org: str | None,
    user: str = "admin",
    passphrase: bytes | None = None,
) -> Session:
    """A session of `user` of `org` on NET (nothing is dialled until the first call)."""
    if net_dir is None:
        raise BadInput("no network directory: pass --dir NET")
    if not org:
        raise BadInput("no acting org: pass --as ORG")
    return Session(Path(net_dir), str(org), user, passphrase)
