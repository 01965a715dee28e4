"""gRPC's I/O path is chosen before grpc loads, by every package, and gRPC knows the names."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alliance import grpc_engine

PROBE = ("import os, {package}, grpc; grpc.insecure_channel('localhost:1').close(); "
         "print(os.environ.get('GRPC_EXPERIMENTS'))")


def _run(code: str, experiments: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    if experiments is not None:
        env["GRPC_EXPERIMENTS"] = experiments
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)


def test_an_environment_without_experiments_gets_the_older_path() -> None:
    environ: dict[str, str] = {}
    assert grpc_engine.choose(environ, grpc_loaded=False)
    assert environ == {"GRPC_EXPERIMENTS": grpc_engine.OLDER_PATH}


@pytest.mark.parametrize("value", ["", "-event_engine_client"])
def test_experiments_the_user_set_are_kept(value: str) -> None:
    environ = {"GRPC_EXPERIMENTS": value}
    assert not grpc_engine.choose(environ, grpc_loaded=False)
    assert environ == {"GRPC_EXPERIMENTS": value}


def test_nothing_is_set_once_grpc_is_loaded() -> None:
    environ: dict[str, str] = {}
    assert not grpc_engine.choose(environ, grpc_loaded=True)
    assert environ == {}


@pytest.mark.parametrize("package", ["alliance", "chaincode", "network", "node", "tui"])
def test_each_package_chooses_before_grpc_loads(package: str) -> None:
    done = _run(PROBE.format(package=package))
    assert done.stdout.strip() == grpc_engine.OLDER_PATH


def test_the_installed_grpc_knows_every_name_turned_off() -> None:
    """gRPC logs an error for an experiment it does not know (a newer grpcio may drop these):
    this is the check that would say so."""
    assert "Unknown experiment" in _run(PROBE.format(package="os"),
                                        "-no_such_experiment").stderr
    done = _run(PROBE.format(package="node"))
    assert "experiment" not in done.stderr.lower(), done.stderr
