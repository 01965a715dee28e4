"""`python -m network.fabric package`: a CCaaS package for a chaincode server at an address.

    python -m network.fabric package --address chaincode.bank.example.com:9999 --out ./pkg
    # prints the package id; then `peer lifecycle chaincode install pkg/alliance_1.tar.gz`

For deployments where `alliance network up --engine fabric` does not run the peers itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from network.fabric.package import write_package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m network.fabric")
    commands = parser.add_subparsers(dest="command", required=True)
    package = commands.add_parser("package", help="write a CCaaS package, print its id")
    package.add_argument("--address", required=True, help="HOST:PORT the peer dials")
    package.add_argument("--label", default="alliance_1")
    package.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    path, package_id = write_package(args.out, args.label, args.address)
    print(f"{package_id}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
