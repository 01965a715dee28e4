"""The alliance-wide applicant-hash salt, one file in the network folder (created on first use).

Every member on this machine shares it; sealing it to each member for separate machines is not
done here (node/query/README.md, "Not done")."""

from __future__ import annotations

import os
from pathlib import Path

SALT_FILE = "query-salt.bin"


def alliance_salt(net_dir: Path) -> bytes:
    path = Path(net_dir) / SALT_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it a moment ago
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(32))
    return path.read_bytes()
