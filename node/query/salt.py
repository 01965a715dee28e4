"""The alliance-wide applicant-hash salt: held by query server A, handed to members over mutual
TLS, kept in each member's node folder.

Every member must hash applicant ids with the same salt (else its contributions and lookups land
on other slots), and members on separate machines share no folder. So server A creates the salt
at its first start (adopting NET/query-salt.bin, the shared file of earlier versions, when it
exists) and answers `Salt` to members of the service in good standing (mutual TLS, not removed,
certificate not revoked); a member's node or CLI asks once and keeps the copy, 0600, in its own
node folder — one copy per server A, since a charter naming another server A means another salt
(and contributions sent again to the new servers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from node.query.errors import SaltError

SALT_BYTES = 32
LEGACY_FILE = "query-salt.bin"
"""NET's shared salt file of earlier versions (one machine): server A adopts it."""
SERVER_FILE = "salt.bin"


def checked(salt: bytes, source: str) -> bytes:
    if len(salt) != SALT_BYTES:
        raise SaltError(f"{source} holds {len(salt)} bytes, not a {SALT_BYTES}-byte salt; "
                        "delete it to fetch the salt again from query server A")
    return salt


def _create_once(path: Path, data: bytes) -> bytes:
    """Write `data` to a new file (0600, fsynced); if another process created it first, its."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(tmp, path)  # atomic, and never replaces an existing salt
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return checked(path.read_bytes(), str(path))


def server_salt(folder: Path, net_dir: Path | None = None) -> bytes:
    """Server A's salt in its `folder`, created at first use (NET's legacy file adopted)."""
    path = Path(folder) / SERVER_FILE
    if path.exists():
        return checked(path.read_bytes(), str(path))
    legacy = Path(net_dir) / LEGACY_FILE if net_dir is not None else None
    if legacy is not None and legacy.exists():
        return _create_once(path, checked(legacy.read_bytes(), str(legacy)))
    return _create_once(path, os.urandom(SALT_BYTES))


def member_salt_path(member_folder: Path, holder: str) -> Path:
    return Path(member_folder) / f"query-salt-{holder}.bin"


def member_salt(member_folder: Path, holder: str, fetch: Callable[[], bytes]) -> bytes:
    """The member's copy of server `holder`'s salt; `fetch()` asks the server when there is
    none yet (its errors propagate: nothing is written)."""
    path = member_salt_path(member_folder, holder)
    if path.exists():
        return checked(path.read_bytes(), str(path))
    return _create_once(path, checked(fetch(), f"the salt query server {holder} sent"))
