"""The contract's key layout: every ledger key it reads or writes is built here.

Objects and indexes are Fabric composite keys, so listing by owner, tag, state or participant
is a range scan over a prefix, never a scan of the whole world state. Index entries hold a
single zero byte (Fabric ignores empty values as deletes).
"""

from __future__ import annotations

from chaincode.stub import create_composite_key, partial_key_range

INDEX_VALUE = b"\x00"

CHARTER = create_composite_key("charter", [])
FOUNDING_CHARTER = create_composite_key("charter~founding", [])
"""The founding charter's record once in effect: who accepted it, in which transaction."""


def pending_charter(charter_hash: str) -> str:
    return create_composite_key("charter~pending", [charter_hash])


def pending_charters_range() -> tuple[str, str]:
    return partial_key_range("charter~pending", [])


def member(org: str) -> str:
    return create_composite_key("member", [org])


def members_range() -> tuple[str, str]:
    return partial_key_range("member", [])


def revoked_cert(org: str, fingerprint: str) -> str:
    return create_composite_key("revoked", [org, fingerprint])


def revoked_certs_range() -> tuple[str, str]:
    return partial_key_range("revoked", [])


def ca_roots(org: str) -> str:
    """An org's CA roots once it renewed its CA (`alliance.authorities.OrgAuthorities`)."""
    return create_composite_key("ca~roots", [org])


def ca_roots_range() -> tuple[str, str]:
    return partial_key_range("ca~roots", [])


def proposal(proposal_id: str) -> str:
    return create_composite_key("proposal", [proposal_id])


def proposals_range() -> tuple[str, str]:
    return partial_key_range("proposal", [])


def proposal_by_state(state: str, proposal_id: str) -> str:
    return create_composite_key("proposal~state", [state, proposal_id])


def proposals_by_state_range(state: str) -> tuple[str, str]:
    return partial_key_range("proposal~state", [state])


def dataset(owner: str, name: str) -> str:
    return create_composite_key("dataset", [owner, name])


def datasets_range(owner: str | None = None) -> tuple[str, str]:
    return partial_key_range("dataset", [owner] if owner else [])


def dataset_by_tag(tag: str, owner: str, name: str) -> str:
    return create_composite_key("dataset~tag", [tag, owner, name])


def datasets_by_tag_range(tag: str) -> tuple[str, str]:
    return partial_key_range("dataset~tag", [tag])


def job(job_id: str) -> str:
    return create_composite_key("job", [job_id])


def jobs_range() -> tuple[str, str]:
    return partial_key_range("job", [])


def job_by_state(state: str, job_id: str) -> str:
    return create_composite_key("job~state", [state, job_id])


def jobs_by_state_range(state: str) -> tuple[str, str]:
    return partial_key_range("job~state", [state])


def job_by_participant(org: str, job_id: str) -> str:
    return create_composite_key("job~participant", [org, job_id])


def jobs_by_participant_range(org: str) -> tuple[str, str]:
    return partial_key_range("job~participant", [org])
