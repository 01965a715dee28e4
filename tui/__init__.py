"""The governance terminal UI (`alliance tui`): textual app on the ledger, for member admins and
auditors."""

from __future__ import annotations

from pathlib import Path

import alliance.grpc_engine  # noqa: F401  (gRPC's I/O path, chosen before grpc loads)


def run(net_dir: Path, org: str, user: str = "admin") -> int:
    """Open the app as `user` of `org` on the network in `net_dir`; returns the exit code."""
    from tui.app import AllianceApp
    from tui.backend import Session

    session = Session(Path(net_dir), org, user)
    session.open_identity()
    AllianceApp(session).run()
    return 0


__all__ = ["run"]
