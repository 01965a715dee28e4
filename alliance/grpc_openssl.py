"""A TLS private key that stays in a PKCS#11 token, for gRPC.

gRPC built against OpenSSL (not the BoringSSL pip's grpcio wheels bundle) reads a private key
given as `engine:<engine>:<key id>` through that OpenSSL engine: with libp11's `pkcs11` engine
(Debian's `libengine-pkcs11-openssl`) and a PKCS#11 URI as the key id, the TLS handshake's
signature is made inside the token and the key never reaches the process. The engine finds the
token through p11-kit, so the token's module must be registered there (Debian's `softhsm2` is;
a vendor HSM needs a `/etc/pkcs11/modules/<name>.module`). The PIN goes into the URI in memory
only (from the environment variable the key reference names); it is never written anywhere.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path
from urllib.parse import quote

from alliance.errors import KeystoreError
from alliance.hsm import TokenKey

ENGINE_DIRS = ("/usr/lib/x86_64-linux-gnu/engines-3", "/usr/lib/aarch64-linux-gnu/engines-3",
               "/usr/lib64/engines-3", "/usr/lib/engines-3")
NEEDS_OPENSSL = (
    "a TLS key in a PKCS#11 token needs grpcio linked to the system's OpenSSL: pip's grpcio "
    "wheels bundle BoringSSL, which takes the private key only as PEM bytes. Build it with "
    "`GRPC_PYTHON_BUILD_SYSTEM_OPENSSL=1 pip install --no-binary grpcio grpcio` (into the "
    "venv, or a folder put first on PYTHONPATH) and install libp11's pkcs11 engine "
    "(`apt-get install libengine-pkcs11-openssl`)"
)


def _needed_libraries(path: Path) -> list[str]:
    """The DT_NEEDED entries of an ELF64 little-endian shared object ([] for anything else)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    needed = []
    for _name, kind, _flags, _addr, offset, size, link, *_ in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        for at in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, at)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                needed.append(data[strtab + value:end].decode())
    return needed


@functools.cache
def grpc_links_openssl() -> bool:
    """Whether the grpcio in use links the system's OpenSSL (so it can load engine keys); read
    once per process from its extension's ELF header (a 17 MB file)."""
    try:
        from grpc._cython import cygrpc
    except ImportError:
        return False
    try:
        return any(n.startswith("libssl.so") for n in _needed_libraries(Path(cygrpc.__file__)))
    except (OSError, struct.error, ValueError, IndexError):
        return False


def pkcs11_engine_installed() -> bool:
    folders = [os.environ.get("OPENSSL_ENGINES", ""), *ENGINE_DIRS]
    return any(f and (Path(f) / "pkcs11.so").is_file() for f in folders)


def token_tls_problem() -> str | None:
    """Why a token TLS key cannot be used with this grpcio, or None when it can."""
    if not grpc_links_openssl():
        return NEEDS_OPENSSL
    if not pkcs11_engine_installed():
        return ("libp11's pkcs11 OpenSSL engine is not installed (`apt-get install "
                "libengine-pkcs11-openssl`); a TLS key in a PKCS#11 token is loaded through it")
    return None


def token_tls_key(ref: TokenKey) -> bytes:
    """The private-key bytes to hand gRPC for a TLS key in the token `ref` names."""
    problem = token_tls_problem()
    if problem is not None:
        raise KeystoreError(f"the TLS key {ref.key_label!r} is in the PKCS#11 token "
                            f"{ref.token!r}, but {problem}")
    uri = (f"pkcs11:token={quote(ref.token, safe='')};object={quote(ref.key_label, safe='')};"
           f"type=private;pin-value={quote(ref.pin(), safe='')}")
    return f"engine:pkcs11:{uri}".encode()
