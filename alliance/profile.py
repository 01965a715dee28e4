"""The network profile (`NET/profile.json`): where each org's material lives, which ports it uses.

Written by `alliance network init`, read by everything that starts or dials a process. Port 0
means "pick a free port when started" (the launcher records the real one).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from alliance.canonical import loads
from alliance.errors import EncodingError, NetworkDirError

PROFILE_FILE = "profile.json"
ORDERER_ORG = "orderer"


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class OrgProfile(BaseModel):
    """One org: its MSP id, charter roles (`member`, `auditor`, or `orderer`), and endpoints."""

    model_config = ConfigDict(extra="forbid")

    msp_id: str
    roles: tuple[str, ...]
    dir: str
    """Relative to NET: `orgs/<org>`."""
    node: Endpoint = Endpoint()
    peer: Endpoint = Endpoint()
    candidate: bool = False
    """True for an org made by `add_org` that the ledger has not (yet) voted in."""


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    channel: str = "alliance"
    chaincode: str = "alliance"
    orgs: dict[str, OrgProfile]
    devnet: Endpoint = Endpoint()
    orderer: Endpoint = Endpoint()
    base_port: int = 0
    """The `--base-port` given at init (0: free ports); new orgs continue its numbering."""

    def org_dir(self, net_dir: Path, org: str) -> Path:
        if org not in self.orgs:
            known = ", ".join(sorted(self.orgs)) or "none"
            raise NetworkDirError(f"unknown org {org!r} in {net_dir}; known orgs: {known}")
        return Path(net_dir) / self.orgs[org].dir

    def member_orgs(self, *, include_candidates: bool = False) -> list[str]:
        """Orgs with a charter role (members and auditors), without the orderer org."""
        return sorted(
            org
            for org, entry in self.orgs.items()
            if ORDERER_ORG not in entry.roles and (include_candidates or not entry.candidate)
        )


def load_profile(net_dir: Path) -> Profile:
    """Read `NET/profile.json`, or say how to create it."""
    path = Path(net_dir) / PROFILE_FILE
    if not path.is_file():
        raise NetworkDirError(
            f"{net_dir} is not an alliance network directory (no {PROFILE_FILE}); "
            f"run `alliance network init --dir {net_dir}` first"
        )
    try:
        return Profile.model_validate(loads(path.read_bytes()))
    except (ValidationError, EncodingError) as exc:
        raise NetworkDirError(f"{path} is not a valid network profile: {exc}") from exc


def save_profile(net_dir: Path, profile: Profile) -> None:
    path = Path(net_dir) / PROFILE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(profile.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
