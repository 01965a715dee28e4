"""A fresh SoftHSM2 token for the tests that keep keys in a PKCS#11 token.

SoftHSM2 comes from Debian's `softhsm2`; when it is absent the fixture installs it (as root with
apt-get), and skips with the reason when it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "4711-test"


def _module() -> str | None:
    return next((m for m in MODULES if Path(m).is_file()), None)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SoftHSM2 token labelled `alliance` (its files under a temporary directory)."""
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (pip install '.[hsm]')")
    if _module() is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "softhsm2"], capture_output=True,
                       timeout=600, check=False)
    module = _module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed and could not be installed (apt-get install "
                    "softhsm2 as root)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    previous = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "ALLIANCE_HSM_PIN")}
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["ALLIANCE_HSM_PIN"] = PIN
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "alliance",
                    "--pin", PIN, "--so-pin", "0000-so"], check=True, capture_output=True,
                   timeout=60)
    yield module
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
