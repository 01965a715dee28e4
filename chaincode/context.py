"""The transaction context `ctx`: the stub plus who is calling, when, and typed state access.

Everything a transaction function needs that is not its own rule lives here: the caller's org
and role (from the creator certificate, the charter on the ledger, and the revocation list),
the transaction time (only ever the tx timestamp), records read and written as canonical JSON,
and the one chaincode event of the transaction.

Reads see this transaction's own writes through a small overlay, so the contract behaves the
same on a stub that follows Fabric (where GetState returns only committed values). Range scans
see committed state only, as in Fabric.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from alliance.canonical import canonical_json, loads
from alliance.charter import Charter
from alliance.errors import AllianceError
from alliance.identity import Identity
from alliance.models import Member, MemberStatus, PendingCharter, Record, RevokedCertificate
from chaincode import keys
from chaincode.errors import InternalError, InvalidArgument, NotAuthorized, NotFound
from chaincode.stub import Stub, split_composite_key

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Caller:
    """The identity behind the transaction, resolved against the charter."""

    org: str
    msp_id: str
    role: str
    """NodeOU role of the certificate: admin, client, peer (or member when none)."""
    fingerprint: str
    org_roles: tuple[str, ...]
    """The org's roles in the charter: member and/or auditor."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_voter(self) -> bool:
        return "member" in self.org_roles

    def describe(self) -> str:
        return f"{self.org} ({self.role})"


def parse_request(model: type[R], argument: str, what: str) -> R:
    """Validate a JSON argument against a strict request model, as InvalidArgument on failure."""
    try:
        return model.model_validate_json(argument, strict=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or what}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise InvalidArgument(f"invalid {what}: {problems}") from exc


class Context:
    """One transaction's view of the ledger and of its caller."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.tx_id = stub.get_tx_id()
        self.now = int(stub.get_tx_timestamp())
        self._overlay: dict[str, bytes | None] = {}
        self._charter: Charter | None = None
        self._caller: Caller | None = None
        self.event: tuple[str, bytes] | None = None

    # --- state -------------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes | None:
        if key in self._overlay:
            return self._overlay[key]
        value = self.stub.get_state(key)
        return value if value else None

    def get_record(self, key: str, model: type[R]) -> R | None:
        data = self.get_bytes(key)
        if data is None:
            return None
        try:
            return model.model_validate_json(data)
        except ValidationError as exc:
            raise InternalError(f"ledger value at {key!r} is not a valid {model.__name__}") from exc

    def put_record(self, key: str, record: Record) -> None:
        self.put_bytes(key, record.to_json())

    def put_bytes(self, key: str, value: bytes) -> None:
        self._overlay[key] = value
        self.stub.put_state(key, value)

    def put_index(self, key: str) -> None:
        self.put_bytes(key, keys.INDEX_VALUE)

    def delete(self, key: str) -> None:
        self._overlay[key] = None
        self.stub.del_state(key)

    def scan(self, span: tuple[str, str]) -> Iterator[tuple[str, bytes]]:
        """Committed (key, value) pairs in the range, in key order."""
        yield from self.stub.get_state_by_range(*span)

    def scan_index(self, span: tuple[str, str]) -> Iterator[list[str]]:
        """Attributes of every composite index key in the range."""
        for key, _ in self.scan(span):
            yield split_composite_key(key)[1]

    def scan_records(self, span: tuple[str, str], model: type[R]) -> Iterator[R]:
        for key, value in self.scan(span):
            try:
                yield model.model_validate_json(value)
            except ValidationError as exc:
                raise InternalError(
                    f"ledger value at {key!r} is not a valid {model.__name__}"
                ) from exc

    def history(self, key: str) -> list[dict[str, Any]]:
        """The key's committed history, newest first, with values decoded."""
        entries = []
        for entry in self.stub.get_history_for_key(key):
            raw = entry.get("value")
            entries.append(
                {
                    "tx_id": entry["tx_id"],
                    "timestamp": int(entry["timestamp"]),
                    "is_delete": bool(entry.get("is_delete", False)),
                    "value": None if entry.get("is_delete") or not raw else loads(raw),
                }
            )
        return entries

    # --- charter and members -----------------------------------------------------------------

    def has_charter(self) -> bool:
        return self.get_bytes(keys.CHARTER) is not None

    def charter(self) -> Charter:
        if self._charter is None:
            data = self.get_bytes(keys.CHARTER)
            if data is None:
                raise NotFound(self._no_charter_reason())
            self._charter = _parsed_charter(data)
        return self._charter

    def _no_charter_reason(self) -> str:
        """Why nothing works yet: no founding charter, or one still awaiting its founders."""
        waiting = [
            f"{p.charter_hash} (submitted by {p.submitted_by}) awaits acceptance by "
            + ", ".join(p.awaiting())
            for p in self.scan_records(keys.pending_charters_range(), PendingCharter)
        ]
        if not waiting:
            return ("the charter is not on the ledger yet; run `alliance network up`, which "
                    "submits the founding charter and every founding org's acceptance")
        return (
            "the founding charter has not taken effect: " + "; ".join(waiting)
            + ". It takes effect once every founding org's admin has accepted it by its own "
            "transaction: run `alliance network up`, or, where an org's admin key is elsewhere, "
            "`alliance --as ORG network accept-charter --dir NET` on that org's machine"
        )

    def save_charter(self, charter: Charter) -> None:
        self._charter = charter
        self.put_bytes(keys.CHARTER, charter.to_json())

    def member(self, org: str) -> Member | None:
        return self.get_record(keys.member(org), Member)

    def active_member(self, org: str, what: str) -> Member:
        """The active member `org`; NotFound if unknown, NotAuthorized if removed."""
        found = self.member(org)
        if found is None:
            raise NotFound(f"{what} {org!r} is not a member of this alliance")
        if found.status != MemberStatus.ACTIVE:
            raise NotAuthorized(f"{what} {org!r} was removed from the alliance and has no rights")
        return found

    # --- the caller --------------------------------------------------------------------------

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            self._caller = self._resolve_caller()
        return self._caller

    def creator_identity(self) -> Identity:
        """The signer of this transaction, its certificate parsed (NotAuthorized if unreadable)."""
        msp_id, pem = self.stub.get_creator()
        try:
            return _parsed_identity(msp_id, pem)
        except AllianceError as exc:
            raise NotAuthorized(f"the creator certificate cannot be read: {exc}") from exc

    def _resolve_caller(self) -> Caller:
        identity = self.creator_identity()
        charter = self.charter()
        org = charter.org_of_msp(identity.msp_id)
        if org is None:
            for removed in self.scan_records(keys.members_range(), Member):
                if removed.msp_id == identity.msp_id:
                    raise NotAuthorized(
                        f"org {removed.org!r} ({identity.msp_id}) was removed from the alliance at "
                        f"{removed.removed_at}; removed members have no rights"
                    )
            raise NotAuthorized(
                f"MSP {identity.msp_id!r} is not a member of this alliance; ask the members to "
                "vote it in with ProposeMember"
            )
        self._check_not_revoked(identity, org)
        self._check_issuer_in_force(identity, org)
        return Caller(
            org=org,
            msp_id=identity.msp_id,
            role=identity.role,
            fingerprint=identity.fingerprint,
            org_roles=tuple(charter.members[org].roles),
        )

    def _check_not_revoked(self, identity: Identity, org: str) -> None:
        revoked = self.get_record(keys.revoked_cert(org, identity.fingerprint), RevokedCertificate)
        if revoked is not None and revoked.in_force(self.now):
            raise NotAuthorized(
                f"certificate revoked: {identity.fingerprint} of {org} was revoked at "
                f"{revoked.at} (tx {revoked.tx_id}); sign with another certificate of {org}"
            )

    def _check_issuer_in_force(self, identity: Identity, org: str) -> None:
        """Once an org renewed its CA, its certificates must come from a root the ledger trusts
        now: during the overlap the old and the new, after it the new one only."""
        from alliance.authorities import OrgAuthorities

        record = self.get_record(keys.ca_roots(org), OrgAuthorities)
        if record is None:
            return
        issuer = _trusted_issuer(identity.certificate, record.to_json(), self.now)
        if issuer:
            raise NotAuthorized(f"certificate {identity.fingerprint} of {org}: {issuer}")

    def reader(self) -> Caller:
        """Any identity of an active member or auditor may read."""
        return self.caller

    def writer(self, action: str, *, admin: bool = True) -> Caller:
        """A caller allowed to change the ledger: an org with the `member` role (never an
        auditor), and, when `admin`, presenting an admin certificate."""
        caller = self.caller
        if not caller.is_voter:
            raise NotAuthorized(
                f"{caller.org} is an auditor; auditors may read the ledger but not {action}"
            )
        if admin and not caller.is_admin:
            raise NotAuthorized(
                f"only an admin of {caller.org} may {action}; you signed with a {caller.role} "
                "certificate"
            )
        if caller.role not in ("admin", "client"):
            # a peer's key is stored unencrypted (Fabric loads it): it endorses, it never acts
            raise NotAuthorized(
                f"a {caller.role} certificate of {caller.org} may not {action}; sign with the "
                "org's node (client) or admin identity"
            )
        return caller

    # --- events ------------------------------------------------------------------------------

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Set the transaction's one chaincode event (applied by the router on success)."""
        if self.event is not None:
            raise InternalError(
                f"event {name!r} set after {self.event[0]!r}: a transaction carries one event"
            )
        self.event = (name, canonical_json(payload))


@lru_cache(maxsize=1024)
def _parsed_identity(msp_id: str, pem: bytes) -> Identity:
    """An Identity with its certificate parsed, fingerprint and role computed: a pure function of
    the bytes, cached because every transaction of a busy member presents the same certificate."""
    identity = Identity(msp_id=msp_id, certificate=pem)
    identity.fingerprint  # noqa: B018 - parses the certificate (raises if unreadable)
    identity.role  # noqa: B018
    return identity


@lru_cache(maxsize=1024)
def _trusted_issuer(pem: bytes, record_json: bytes, now: int) -> str:
    """'' when a root of `record_json` trusted at `now` issued `pem`, else why not. Pure, cached
    (a busy member presents the same certificate in every transaction)."""
    from alliance.authorities import OrgAuthorities, issuer_in_force

    record = OrgAuthorities.model_validate_json(record_json)
    try:
        issuer_in_force(_parsed_identity("", pem).cert, record, "ca", now)
    except AllianceError as exc:
        return str(exc)
    return ""


@lru_cache(maxsize=64)
def _parsed_charter(data: bytes) -> Charter:
    """The charter parsed once per distinct stored bytes (it changes only by passed proposals).
    Shared between transactions: contract code must never change it in place — a change is a
    new Charter saved with `Context.save_charter`."""
    return Charter.from_json(data)
