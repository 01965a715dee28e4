"""Telling a grpcio that links OpenSSL (can load a token TLS key) from pip's BoringSSL build,
and the engine key string handed to gRPC."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from alliance import grpc_openssl
from alliance.errors import KeystoreError
from alliance.hsm import TokenKey


def test_the_needed_libraries_of_a_dynamic_executable_include_libc() -> None:
    sh = Path(os.path.realpath(shutil.which("sh") or "/bin/sh"))
    assert any(name.startswith("libc.") for name in grpc_openssl._needed_libraries(sh))


def test_a_file_that_is_not_elf_needs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "not-elf.so"
    path.write_bytes(b"#!/bin/sh\n")
    assert grpc_openssl._needed_libraries(path) == []


def test_the_engine_key_names_the_token_object_and_escapes_the_pin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grpc_openssl, "token_tls_problem", lambda: None)
    monkeypatch.setenv("TEST_PIN", "12;34")
    key = grpc_openssl.token_tls_key(TokenKey("/m.so", "alliance", "bank-node-tls", "TEST_PIN"))
    assert key == (b"engine:pkcs11:pkcs11:token=alliance;object=bank-node-tls;type=private;"
                   b"pin-value=12%3B34")


def test_a_grpcio_without_openssl_is_refused_with_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grpc_openssl, "grpc_links_openssl", lambda: False)
    with pytest.raises(KeystoreError, match="GRPC_PYTHON_BUILD_SYSTEM_OPENSSL=1"):
        grpc_openssl.token_tls_key(TokenKey("/m.so", "alliance", "k", "TEST_PIN"))
