"""Admin credentials for Fabric's CLI tools, decrypted only while a command runs.

The admin keys `alliance network init` writes are encrypted with the passphrase; `peer` and
`osnadmin` read keys from files and cannot decrypt them. So each command gets a temporary copy
under run/fabric/tmp (directory 0700, key 0600) that is deleted as soon as the command is done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alliance.keystore import load_private_key, write_private_key
from network.fabric.layout import FabricLayout


def _private_dir(layout: FabricLayout, prefix: str) -> Path:
    layout.tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.tmp, 0o700)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=layout.tmp))


@contextmanager
def admin_msp(layout: FabricLayout, org: str, passphrase: bytes) -> Iterator[Path]:
    """A local MSP directory for `org`'s admin with an unencrypted key, removed on exit."""
    source = layout.admin_msp(org)
    target = _private_dir(layout, f"{org}-admin-")
    try:
        for sub in ("signcerts", "cacerts", "tlscacerts"):
            shutil.copytree(source / sub, target / sub)
        shutil.copyfile(source / "config.yaml", target / "config.yaml")
        key = load_private_key(source / "keystore" / "key.pem", passphrase)
        write_private_key(target / "keystore" / "priv_sk", key, None)
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


@dataclass(frozen=True)
class ClientTls:
    cert: Path
    key: Path


@contextmanager
def orderer_admin_tls(layout: FabricLayout, passphrase: bytes) -> Iterator[ClientTls]:
    """The orderer admin's TLS client certificate and (decrypted) key, for osnadmin."""
    source = layout.orderer_admin_tls
    target = _private_dir(layout, "orderer-admin-tls-")
    try:
        shutil.copyfile(source / "client.crt", target / "client.crt")
        key = load_private_key(source / "client.key", passphrase)
        write_private_key(target / "client.key", key, None)
        yield ClientTls(cert=target / "client.crt", key=target / "client.key")
    finally:
        shutil.rmtree(target, ignore_errors=True)
