"""A query server: gRPC with mutual TLS, members' contributions in, lookups answered, epochs formed.

Two servers, A and B, run by two members named in the service's terms (non-collusion of those
two is the trust assumption). Methods (service `alliance.query.v1.Query`, messages of wire.py):

- Contribute (client stream): a member's shares for one interval: A takes C XOR S (the masked
  vector, streamed in chunks), B takes the seed of S. Durable before acknowledged (store.py).
- Versions, Epoch (server to server, only from the peer server's node certificate): A, the lead,
  picks for every member the newest version both hold, streams T_A XOR R_A to B and receives
  T_B XOR R_B; both now hold D = T XOR R_A XOR R_B for the new epoch (masks.py says why). Each
  keeps the newest two epochs, so lookups in flight across a rollover still find theirs. The
  tables and their arithmetic are epochs.py's; this module checks the peer and carries them.
- Status: the epochs a server holds (number and digest of D), its layout, the policy it
  enforces, and the asking member's own lookups logged on the current UTC day (the count its
  daily quota is checked against; never another member's: members do not learn each other's
  use from a server).
- Lookup (round 1): a signed request (wire.LookupRequest) with one DPF key per part of a segment
  (layout.py), one blinded mask-block point, the lookup's id and this server's mask rho_s of the
  slots read. The server checks the TLS identity, the signature (a certificate of the asker's
  MSP, the same org as the TLS identity), the freshness and nonce, asks its `Authorizer`, logs
  the query durably, then evaluates the keys over every segment (concurrent lookups are answered
  in one batch per pass over the table) and the OPRF on the point, and answers its share of D at
  the slots XOR rho_s, sealed for the other server (relay.py), with the fields it answers.
- Select (round 2, within PENDING_SECONDS, once per lookup, from the same asker): both sealed
  halves and one FSS key per slot; the server opens the halves, and answers its additive share
  of the sum of the records that carry the applicant's tag, for the answered fields only
  (matching.py).
What a server sees does not depend on the applicant: keys, points, masks and sealed halves are
pseudorandom and of fixed size, and the work done is the same full scan for every lookup.

Refusals carry `code: message` in the gRPC status details (client.py maps them back).
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np

from alliance.canonical import canonical_json
from alliance.fingerprint import merkle_proof
from alliance.identity import Identity
from alliance.protocols.multilender import MAX_PERIOD
from alliance.signing import Signer, verify
from node.query import dpf, epoch_parts, fss, lookup_body, masks, matching, relay, table
from node.query.authorize import Authorizer, PeriodSummary, QueryContext, summarize
from node.query.coalesce import Coalescer
from node.query.epochs import EPOCH_NICE, Epoch, Tables, at_low_priority
from node.query.errors import (
    ContributionError,
    ProtocolError,
    QueryError,
    QueryRefused,
    ServerUnavailable,
    rpc_status,
    server_may_not_ask,
)
from node.query.layout import Layout
from node.query.record import LANES, RECORD_BYTES
from node.query.store import LogRow, ServerStore
from node.query.wire import (
    FRESHNESS_SECONDS,
    SERVICE,
    LookupRequest,
    body_digest,
    decode,
    encode,
    pack,
    unpack,
)

log = logging.getLogger("node.query.server")

ROLES = ("a", "b")
MAX_MESSAGE = 8 << 20
GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
BATCH_MAX = 32
LINGER_SHARE = 0.5
LINGER_MAX = 0.010
PENDING_SECONDS = 15.0
"""How long a lookup's second round may follow its first."""
PENDING_MAX = 10_000
T = TypeVar("T")

OrgOfTls = Callable[[bytes], str]
"""A client's TLS certificate (PEM) -> its org; raises to refuse (TlsOrgs.node_org_of)."""
OrgOfSigner = Callable[[str, bytes], str]
"""(MSP id, signing certificate PEM) -> org, after validating the certificate; raises to refuse."""


@dataclass(frozen=True)
class Peer:
    """The other server: its org, where it listens and the TLS CA its certificate chains to."""

    org: str
    address: str
    root_certs: bytes


@dataclass(frozen=True)
class ServerTls:
    cert_chain: bytes
    private_key: bytes
    client_root_certs: bytes


@dataclass(frozen=True)
class _Pending:
    """A lookup between its rounds: its epoch, until when round 2 may come."""

    epoch: int
    deadline: float


@dataclass(frozen=True)
class _Checked:
    """A round-1 lookup whose signature, asker, freshness and epoch are checked."""

    epoch: Epoch
    query: QueryContext
    nonce: str
    body: bytes

    def row(self, at: int) -> LogRow:
        q = self.query
        return LogRow(at, q.day, q.asker, q.purpose, q.consent_hash, self.nonce,
                      q.request_digest)

    def parsed(self, body: lookup_body.Body) -> _Admitted:
        return _Admitted(self.epoch, self.query, body)


@dataclass(frozen=True)
class _Admitted:
    """A round-1 lookup authorized, parsed and logged: what its answer needs."""

    epoch: Epoch
    query: QueryContext
    body: lookup_body.Body
    header: dict[str, Any] = field(default_factory=dict)
    """Once logged, the answer's header: epoch, table digest, log entry, answered fields."""

    def logged(self, seq: int, at: int, fields: tuple[str, ...], job: str) -> _Admitted:
        return replace(self, header={
            "epoch": self.epoch.number, "digest": self.epoch.digest, "seq": seq, "at": at,
            "request": self.query.request_digest, "job": job, "fields": list(fields)})


@dataclass(frozen=True)
class _Second:
    """A second round past its checks: y = D XOR rho at its slots and its FSS keys."""

    epoch: int
    fields: tuple[str, ...]
    y: np.ndarray
    keys: bytes
    """Its FSS keys, parsed with those of its batch (`_group_keys`)."""


class _Refusal(Exception):
    def __init__(self, status: grpc.StatusCode, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@functools.lru_cache(maxsize=1024)
def _fingerprint(certificate: bytes) -> str:
    """sha256 of a PEM certificate's DER (revocation checks); parsed once per certificate."""
    return Identity("", certificate).fingerprint


@functools.lru_cache(maxsize=1024)
def _public_key(msp_id: str, certificate: bytes) -> Any:
    """The key a signing certificate carries, parsed once per certificate (it is validated
    apart, by `org_of_signer`, on every request)."""
    return Identity(msp_id, certificate).public_key


def settle_heap() -> None:
    """Put every object alive now (modules, compiled kernels, caches: ~130,000 in a server or
    client process) out of the garbage collector's reach: a full collection walked them all in
    ~95 ms holding the GIL, stalling every lookup in flight. For a process's entry point, once
    it has started (objects frozen here are never collected)."""
    gc.collect()
    gc.freeze()


def day_of(at: float) -> int:
    return int(at // 86400)


def _answer_batch(batch: list[tuple[np.ndarray, dpf.KeyBatch]]) -> list[np.ndarray]:
    """Lookups on one epoch's table together: all their DPF keys evaluated in one pass per
    tree level, then one pass over the table for the batch (each lookup's keys select the same
    slots in every segment). A part shorter than the DPF's domain (layout.py) takes the first
    of its words, and only the leaves holding them are evaluated."""
    cols, parts = batch[0][0], len(batch[0][1])
    selections = dpf.evaluate_full(dpf.KeyBatch.concat([keys for _, keys in batch]),
                                   64 * cols.shape[2])
    return list(table.answer(cols, selections.reshape(len(batch), parts, -1)[:, :, :cols.shape[2]]))


class QueryServer:
    """One of the two query servers; `start()`, then `stop()`."""

    def __init__(
        self, name: str, role: str, layout: Layout, folder: Path, tls: ServerTls,
        org_of_tls: OrgOfTls, org_of_signer: OrgOfSigner, authorizer: Authorizer, peer: Peer,
        *, host: str = "127.0.0.1", port: int = 0, epoch_seconds: float = 30.0,
        signer: Signer | None = None, clock: Callable[[], float] = time.time,
        salt: bytes | None = None,
    ) -> None:
        """`salt`: the applicant-hash salt this server hands to members (server A; salt.py)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.name, self.role = name, role
        self.party = ROLES.index(role)
        self.store = ServerStore(Path(folder), layout.segment_slots, layout.fingerprint())
        self.tls, self.peer = tls, peer
        self.org_of_tls, self.org_of_signer = org_of_tls, org_of_signer
        self.authorizer = authorizer
        self.host, self.port = host, port
        self.epoch_seconds = epoch_seconds
        self.signer = signer
        self.clock = clock
        self.salt = salt
        self.tables = Tables(name, layout, self.store)
        self.store.served = lambda member: {e.versions[member] for e in self.tables.held()
                                            if member in e.versions}
        self._form_lock = threading.Lock()
        self._batch_seconds = 0.0
        """How long answering a batch takes lately (moving average): calls arriving within half
        of it share the next pass over the table (`_linger`)."""
        self._batcher: Coalescer[tuple[np.ndarray, dpf.KeyBatch], np.ndarray] = Coalescer(
            self._answer_timed, BATCH_MAX, key=lambda item: id(item[0]), linger=self._linger)
        self._pending: dict[tuple[str, bytes], _Pending] = {}
        self._pending_lock = threading.Lock()
        self._server: grpc.Server | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._peer_channel: grpc.Channel | None = None
        self.last_epoch_error = ""

    @property
    def layout(self) -> Layout:
        """The layout served: the tables', changed only by `adopt`."""
        return self.tables.layout

    def _answer_timed(self, batch: list[tuple[np.ndarray, dpf.KeyBatch]]) -> list[np.ndarray]:
        started = time.perf_counter()
        try:
            return _answer_batch(batch)
        finally:
            took = time.perf_counter() - started
            self._batch_seconds += 0.2 * (took - self._batch_seconds)

    def _linger(self) -> float:
        """A pass over a large table costs the same for 1 lookup as for several (a 240 MiB
        table: ~9 ms for one, ~1.2 ms more per lookup): a batch waits up to half a batch's
        time, at most LINGER_MAX, for the calls arriving meanwhile. A small table's batch
        (2^16 applicants: well under a millisecond) hardly waits."""
        return min(LINGER_MAX, LINGER_SHARE * self._batch_seconds)

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> QueryServer:
        # one server per port: with SO_REUSEPORT (gRPC's default) a second process binding the
        # same port would silently share its connections
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                             options=[*GRPC_OPTIONS, ("grpc.so_reuseport", 0)])
        handlers = {
            "Status": grpc.unary_unary_rpc_method_handler(self._status),
            "Lookup": grpc.unary_unary_rpc_method_handler(self._lookup),
            "Select": grpc.unary_unary_rpc_method_handler(self._select),
            "Contribute": grpc.stream_unary_rpc_method_handler(self._contribute),
            "Versions": grpc.unary_unary_rpc_method_handler(self._versions),
            "Epoch": grpc.stream_stream_rpc_method_handler(self._epoch),
            "Proof": grpc.unary_unary_rpc_method_handler(self._proof),
            "Salt": grpc.unary_unary_rpc_method_handler(self._salt),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        credentials = grpc.ssl_server_credentials(
            [(self.tls.private_key, self.tls.cert_chain)],
            root_certificates=self.tls.client_root_certs, require_client_auth=True)
        try:  # grpcio raises on a failed bind (older versions returned 0)
            port = server.add_secure_port(f"{self.host}:{self.port}", credentials)
        except RuntimeError:
            port = 0
        if port == 0:
            server.stop(None)
            self.store.close()  # nothing else runs before start(); the caller may try again
            raise QueryError(f"cannot listen on {self.host}:{self.port}; is the port taken?")
        self.port = port
        server.start()
        self._server = server
        if self.role == "a":
            self._loop = threading.Thread(target=self._epoch_loop, name="query-epochs",
                                          daemon=True)
            self._loop.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self._batcher.stop()
        if self._loop is not None:
            self._loop.join(timeout=30)
        if self._peer_channel is not None:
            self._peer_channel.close()
        self.store.close()

    def wait(self) -> None:
        if self._server is not None:
            self._server.wait_for_termination()

    # ---- helpers ------------------------------------------------------------------------------

    def _client_org(self, context: grpc.ServicerContext) -> str:
        certs = context.auth_context().get("x509_pem_cert") or []
        if not certs:
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "no_certificate",
                           "no client certificate; the query service needs mutual TLS")
        try:
            return self.org_of_tls(certs[0])
        except Exception as exc:
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "unknown_certificate",
                           f"the client certificate is not a member node's: {exc}") from exc

    @staticmethod
    def _tls_fingerprint(context: grpc.ServicerContext) -> str:
        certs = context.auth_context().get("x509_pem_cert") or []
        return _fingerprint(bytes(certs[0])) if certs else ""

    def _check_org(self, org: str, context: grpc.ServicerContext, check_name: str,
                   refused: str) -> None:
        """The authorizer's `check_name` (its rule, removed members, revoked TLS certificates);
        an authorizer without it only knows `is_member`."""
        check = getattr(self.authorizer, check_name, None)
        if check is not None:
            check(org, (self._tls_fingerprint(context),))
        elif not self.authorizer.is_member(org):
            raise QueryRefused("not_member", f"{org} is not a member of the service; {refused}")

    def adopt(self, layout: Layout) -> None:
        """Serve `layout` from now on (the service job in force changed its part_bits or its
        contributors): the epochs and stored contributions of the old one are dropped; members
        push their books again (their nodes read the same job) and the next epoch forms."""
        was = self.layout
        if self.tables.adopt(layout):
            log.warning("%s now serves layout %s (was %s)", self.name, layout.fingerprint(),
                        was.fingerprint())
            self.store.adopt_layout(layout.segment_slots, layout.fingerprint())

    def set_peer_address(self, address: str) -> None:
        """Where the other server now listens (it restarted elsewhere); the next call dials it."""
        if address != self.peer.address:
            self.peer = Peer(self.peer.org, address, self.peer.root_certs)
            channel, self._peer_channel = self._peer_channel, None
            if channel is not None:
                channel.close()

    def _from_peer(self, context: grpc.ServicerContext) -> None:
        org = self._client_org(context)
        if org != self.peer.org:
            raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, "not_peer",
                           f"{org} is not the other query server ({self.peer.org})")

    @staticmethod
    def _abort(context: grpc.ServicerContext, refusal: _Refusal) -> None:
        context.abort(refusal.status, f"{refusal.code}: {refusal}")

    def _refusal(self, exc: Exception) -> _Refusal:
        """What an exception of a request's work tells the caller (a refusal, a bad request, or
        an internal failure whose detail stays in this server's log)."""
        if isinstance(exc, _Refusal):
            refusal = exc
        elif isinstance(exc, QueryRefused):
            status = (grpc.StatusCode.RESOURCE_EXHAUSTED if exc.code == "over_quota"
                      else grpc.StatusCode.PERMISSION_DENIED)
            refusal = _Refusal(status, exc.code, str(exc))
        elif isinstance(exc, (ProtocolError, ContributionError)):
            return _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "bad_request", str(exc))
        else:
            log.error("%s failed on a request", self.name, exc_info=exc)
            return _Refusal(grpc.StatusCode.INTERNAL, "internal",
                            f"{self.name} failed ({type(exc).__name__}); its log has the detail")
        log.info("%s refused: %s", self.name, refusal)
        return refusal

    def _guard(self, context: grpc.ServicerContext, work: Callable[[], bytes]) -> bytes:
        try:
            return work()
        except Exception as exc:  # work() never calls context.abort itself
            self._abort(context, self._refusal(exc))
        raise AssertionError("unreachable")  # context.abort raises

    def _each(self, messages: list[bytes], admit: Callable[[bytes], T]) -> list[T | _Refusal]:
        """`admit` for every message of a batch: what it returned or the refusal of that
        message alone."""
        out: list[T | _Refusal] = []
        for message in messages:
            try:
                out.append(admit(message))
            except Exception as exc:
                out.append(self._refusal(exc))
        return out

    @staticmethod
    def _refused(refusal: _Refusal) -> bytes:
        """A refusal of one lookup of a batch, as its answer (wire.py)."""
        return encode({"refused": refusal.code, "status": refusal.status.name,
                       "message": str(refusal)})

    # ---- Status -------------------------------------------------------------------------------

    def _status(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        def work() -> bytes:
            org = self._client_org(context)
            epochs = [{"epoch": e.number, "digest": e.digest, "versions": e.versions,
                       "formed_in_ms": int(e.formed_in * 1000)} for e in self.tables.held()]
            policy = getattr(self.authorizer, "status", None)
            return encode({"server": self.name, "role": self.role, "epochs": epochs,
                           "part_bits": self.layout.part_bits,
                           "part_blocks": self.layout.part_blocks,
                           "layout": self.layout.fingerprint(),
                           "policy": policy() if policy is not None else None,
                           "used_today": self._used_today(org)})
        return self._guard(context, work)

    def _used_today(self, org: str) -> dict[str, Any]:
        """`org`'s own lookups logged today (UTC, this server's clock): the count its quota is
        checked against. Only ever the asker's own: other members' use is not theirs to see."""
        day = day_of(self.clock())
        return {"org": org, "day": day, "lookups": self.store.used(org, day)}

    # ---- Salt ---------------------------------------------------------------------------------

    def _salt(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """The applicant-hash salt, to members of the service in good standing only."""
        def work() -> bytes:
            org = self._client_org(context)
            if self.salt is None:
                raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "not_salt_holder",
                               f"{self.name} does not hold the applicant-hash salt; query "
                               "server A hands it out")
            self._check_org(org, context, "check_standing_member",
                            "the salt is handed to its members only")
            log.info("%s handed the applicant-hash salt to %s", self.name, org)
            return encode({"salt_bytes": len(self.salt)}, self.salt)
        return self._guard(context, work)

    def epochs(self) -> list[int]:
        return self.tables.numbers()

    # ---- Lookup -------------------------------------------------------------------------------

    def _lookup(self, message: bytes, context: grpc.ServicerContext) -> bytes:
        return self._guard(context, lambda: self._answer_many(message, context))

    def _answer_many(self, message: bytes, context: grpc.ServicerContext) -> bytes:
        """A batch of round-1 lookups: each checked, authorized and logged on its own (a
        refusal refuses that lookup alone; the log commits once for the batch), those admitted
        answered together."""
        tls_org = self._client_org(context)
        tls = self._tls_fingerprint(context)
        now = self.clock()
        items = self._each(unpack(message), lambda m: self._check(m, tls_org, tls, now))
        checked = [item for item in items if isinstance(item, _Checked)]
        bodies = lookup_body.parse_batch([item.body for item in checked], self.layout,
                                         self.party, self.name)
        parsed: dict[int, _Admitted] = {}
        jobs: dict[int, str] = {}

        def admit(index: int, used: int) -> str:
            """The authorizer first (its refusal is the answer), then the body's parse; the
            job the lookup is admitted under."""
            item = checked[index]
            job = jobs[index] = self.authorizer.authorize(item.query, used)
            body = bodies[index]
            if isinstance(body, ProtocolError):
                raise body
            parsed[index] = item.parsed(body)
            return job

        seqs = self.store.log_queries([item.row(int(now)) for item in checked], admit)
        outcome: dict[int, _Admitted | _Refusal] = {
            id(item): self._refusal(seq) if isinstance(seq, QueryError) else parsed[i].logged(
                seq, int(now), self.authorizer.answered(item.query.asker), jobs[i])
            for i, (item, seq) in enumerate(zip(checked, seqs, strict=True))}
        items = [outcome.get(id(item), item) for item in items]
        admitted = [item for item in items if isinstance(item, _Admitted)]
        halves = iter(self._batcher.run([(a.epoch.cols, a.body.keys) for a in admitted]))
        replies = []
        for item in items:
            if isinstance(item, _Admitted):
                half = next(halves)
                try:
                    if isinstance(half, BaseException):
                        raise half
                    replies.append(self._answer(item, half))
                except Exception as exc:
                    item = self._refusal(exc)
            if isinstance(item, _Refusal):
                replies.append(self._refused(item))
        return pack(replies)

    def _check(self, message: bytes, tls_org: str, tls: str, now: float) -> _Checked:
        """One round-1 lookup past every check but the authorizer's and its body's (which
        `_answer_many` makes as the lookup is logged)."""
        header, body = decode(message)
        try:
            request = LookupRequest.from_fields(header["request"])
            signature = base64.b64decode(header["signature"], validate=True)
            certificate = str(header["certificate"]).encode()
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed lookup: {exc}") from exc
        denied = grpc.StatusCode.PERMISSION_DENIED
        if request.server != self.name:
            raise _Refusal(denied, "wrong_server",
                           f"the request is signed for {request.server}, not {self.name}")
        if body_digest(body) != request.body_digest:
            raise _Refusal(denied, "bad_signature", "the request body is not the one signed")
        try:
            signer_org = self.org_of_signer(request.msp_id, certificate)
            verify(_public_key(request.msp_id, certificate), request.signed, signature)
        except Exception as exc:
            raise _Refusal(denied, "bad_signature",
                           f"the request signature does not verify: {exc}") from exc
        if not signer_org == tls_org == request.asker:
            raise _Refusal(denied, "wrong_asker",
                           f"signed by {signer_org}, TLS identity {tls_org}, request names "
                           f"{request.asker}: they must be the same member")
        if request.asker in (self.name, self.peer.org):
            refused = server_may_not_ask(request.asker)
            raise _Refusal(denied, refused.code, str(refused))
        if abs(now - request.issued_at) > FRESHNESS_SECONDS:
            raise _Refusal(denied, "stale_request",
                           f"the request was signed at {request.issued_at}, more than "
                           f"{FRESHNESS_SECONDS} s from this server's clock ({int(now)})")
        epoch = self.tables.get(request.epoch)
        if epoch is None:
            raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "epoch_unavailable",
                           f"{self.name} does not hold epoch {request.epoch} (holds "
                           f"{self.epochs()}); ask Status again")
        query = QueryContext(request.asker, request.purpose, request.consent_hash,
                             day_of(now), "sha256:" + request.digest().hex(),
                             (_fingerprint(certificate), tls))
        return _Checked(epoch, query, request.nonce, body)

    def _answer(self, item: _Admitted, half: np.ndarray) -> bytes:
        """An admitted lookup's answer: its share of D at the slots XOR rho, sealed for the
        other server, and the OPRF of its point."""
        epoch = item.epoch
        body = item.body
        evaluated = masks.evaluate(epoch.key, body.point)
        self._remember(item.query.asker, body.lookup_id, epoch.number)
        sealed = relay.seal(epoch.pair_key, self.name, body.lookup_id, epoch.number,
                            np.ascontiguousarray(half.reshape(-1, LANES) ^ body.rho).tobytes())
        return encode(item.header, sealed + evaluated)

    def _remember(self, asker: str, lookup_id: bytes, epoch: int) -> None:
        now = time.monotonic()
        with self._pending_lock:
            if len(self._pending) >= PENDING_MAX:
                self._pending = {k: p for k, p in self._pending.items() if p.deadline > now}
            if len(self._pending) >= PENDING_MAX:
                raise _Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy",
                               f"{self.name} holds {PENDING_MAX} lookups waiting for their "
                               "second round; try again shortly")
            self._pending[(asker, lookup_id)] = _Pending(epoch, now + PENDING_SECONDS)

    # ---- Select (round 2) ---------------------------------------------------------------------

    def _select(self, message: bytes, context: grpc.ServicerContext) -> bytes:
        return self._guard(context, lambda: self._select_many(message, context))

    def _select_many(self, message: bytes, context: grpc.ServicerContext) -> bytes:
        """A batch of second rounds: each checked on its own, those of the same fields
        evaluated together (one FSS tree walk for all their keys)."""
        org = self._client_org(context)
        # removed, its certificate revoked or the job gone between its rounds: no answer
        self._check_org(org, context, "check_standing_member", "its second rounds are refused")
        admitted = self._each(unpack(message), lambda m: self._second_round(m, org))
        groups: dict[tuple[str, ...], list[_Second]] = {}
        for item in admitted:
            if isinstance(item, _Second):
                groups.setdefault(item.fields, []).append(item)
        answers: dict[int, bytes | _Refusal] = {}
        for fields, items in groups.items():
            good, keys = self._group_keys(items, fields, answers)
            if keys is None:
                continue
            try:
                out = matching.shares_of(np.stack([i.y for i in good]), keys, fields)
                for item, share in zip(good, out, strict=True):
                    answers[id(item)] = encode({"epoch": item.epoch, "fields": list(fields)},
                                               share.tobytes())
            except Exception as exc:
                for item in good:
                    answers[id(item)] = self._refusal(exc)
        replies = []
        for item in admitted:
            answer = answers[id(item)] if isinstance(item, _Second) else item
            replies.append(self._refused(answer) if isinstance(answer, _Refusal) else answer)
        return pack(replies)

    def _group_keys(self, items: list[_Second], fields: tuple[str, ...],
                    refused: dict[int, bytes | _Refusal]
                    ) -> tuple[list[_Second], fss.KeyBatch | None]:
        """The FSS keys of second rounds asking the same fields, parsed in one go; when that
        fails, each lookup's alone (a malformed one is refused, not its batch)."""
        slots = len(items[0].y)
        try:
            return items, matching.parse_keys(b"".join(i.keys for i in items), fields,
                                              self.party, slots * len(items))
        except ProtocolError:
            good, parsed = [], []
            for item in items:
                try:
                    parsed.append(matching.parse_keys(item.keys, fields, self.party, slots))
                    good.append(item)
                except ProtocolError as exc:
                    refused[id(item)] = self._refusal(exc)
            return good, fss.KeyBatch.concat(parsed) if parsed else None

    def _second_round(self, message: bytes, org: str) -> _Second:
        """One second round past its checks: y = D XOR rho at its slots, its FSS keys."""
        header, body = decode(message)
        try:
            lookup_id = bytes.fromhex(str(header["lookup"]))
            fields = matching.check_fields([str(f) for f in header["fields"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed second round: {exc}") from exc
        with self._pending_lock:
            pending = self._pending.pop((org, lookup_id), None)
        if pending is None or pending.deadline < time.monotonic():
            raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "unknown_lookup",
                           f"{self.name} has no first round of this lookup from {org} waiting "
                           f"(each lookup has one second round, within {PENDING_SECONDS:.0f} s "
                           "of its first); start the lookup again")
        answered = self.authorizer.answered(org)
        withheld = [f for f in fields if f not in answered]
        if withheld:
            raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, "field_not_answered",
                           f"the service does not answer {', '.join(withheld)}")
        epoch = self.tables.get(pending.epoch)
        if epoch is None:
            raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "epoch_unavailable",
                           f"{self.name} no longer holds epoch {pending.epoch}; start the lookup "
                           "again")
        size = relay.OVERHEAD + self.layout.subtables * RECORD_BYTES
        if len(body) < 2 * size:
            raise ProtocolError(f"a second round starts with two sealed halves of {size} bytes")
        names = (self.name, self.peer.org) if self.role == "a" else (self.peer.org, self.name)
        halves = [relay.open_half(epoch.pair_key, names[i], lookup_id, epoch.number,
                                  body[i * size:(i + 1) * size]) for i in (0, 1)]
        y = (np.frombuffer(halves[0], dtype=np.uint64)
             ^ np.frombuffer(halves[1], dtype=np.uint64)).reshape(-1, LANES)
        keys, key_size = body[2 * size:], fss.key_size(matching.payload_size(fields))
        if len(keys) != len(y) * key_size:
            raise ProtocolError(f"a lookup's second round carries one FSS key of {key_size} "
                                f"bytes per slot read ({len(y)}), got {len(keys)} bytes")
        return _Second(epoch.number, fields, y, keys)

    # ---- Contribute ---------------------------------------------------------------------------

    def _contribute(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        def work() -> bytes:
            org = self._client_org(context)
            self._check_org(org, context, "check_contributor", "its contributions are refused")
            first = next(messages, None)
            if first is None:
                raise ContributionError("an empty contribution")
            header, body = decode(first)
            member, version = header.get("member"), header.get("version")
            if member != org or not isinstance(version, int) or version < 0:
                raise ContributionError(
                    f"a contribution from {org} must name member {org} and a version >= 0")
            if header.get("layout") != self.layout.fingerprint():
                raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "wrong_layout",
                               f"the contribution was built for table layout "
                               f"{header.get('layout')}, {self.name} serves "
                               f"{self.layout.fingerprint()} (the service job's part_bits and "
                               "contributors); push the book again with the job in force")
            if self.role == "b":
                self.store.save_seed(org, version, body)
            else:
                def arriving() -> Iterator[bytes]:
                    yield body
                    yield from messages
                self.store.save_masked_chunks(org, version, arriving())
            log.info("%s stored version %d of %s", self.name, version, org)
            return encode({"stored": version})
        return self._guard(context, work)

    # ---- epochs -------------------------------------------------------------------------------

    def _versions(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        def work() -> bytes:
            self._from_peer(context)
            return encode({"versions": self.store.versions(), "epochs": self.epochs()})
        return self._guard(context, work)

    def _epoch(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        """Follower: the lead's stream checked (the peer's identity, its header), then the
        exchange itself (epochs.py) at low priority."""
        try:
            self._from_peer(context)
            if self.role != "b":
                raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "not_follower",
                               f"{self.name} leads epochs; it does not follow")
            started = time.monotonic()
            try:
                header, _ = decode(next(messages))
                number, versions = int(header["epoch"]), dict(header["versions"])
                pair_key = bytes.fromhex(str(header["pair_key"]))
                if len(pair_key) != relay.PAIR_KEY_BYTES:
                    raise ValueError("a pair key of the wrong size")
                if header["layout"] != self.layout.fingerprint():
                    raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "wrong_layout",
                                   f"{self.name} serves layout {self.layout.fingerprint()}, "
                                   f"the epoch is for {header['layout']} (the service job "
                                   "changed: it follows within seconds)")
            except (KeyError, TypeError, ValueError, StopIteration) as exc:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "bad_request",
                               f"an epoch starts with its number and versions: {exc}") from exc
            try:
                own = at_low_priority(lambda: self.tables.own_parts(versions))
            except KeyError as exc:
                raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "missing_version",
                               f"{self.name} does not hold contribution {exc}") from exc
        except _Refusal as refusal:
            self._abort(context, refusal)
            return
        answer = self.tables.follow(number, versions, pair_key, own, messages, started)
        try:
            yield from epoch_parts.at_low_priority(answer, EPOCH_NICE)
        except ProtocolError as exc:
            self._abort(context, _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "bad_request",
                                          str(exc)))

    def _peer_stub(self, method: str, kind: str) -> Any:
        if self._peer_channel is None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self.peer.root_certs, private_key=self.tls.private_key,
                certificate_chain=self.tls.cert_chain)
            self._peer_channel = grpc.secure_channel(self.peer.address, credentials,
                                                     options=GRPC_OPTIONS)
        factory = getattr(self._peer_channel, kind)
        return factory(f"/{SERVICE}/{method}")

    def form_epoch(self, timeout: float = 120.0) -> int:
        """Lead only: form and install a new epoch with the peer; its number. When both servers
        hold the newest epoch and no contribution changed since, that epoch stays (a table
        formed again from the same contributions would differ only in its masks)."""
        if self.role != "a":
            raise QueryError("only server A leads epochs")
        with self._form_lock:
            try:
                return at_low_priority(lambda: self._lead_epoch(timeout))
            except grpc.RpcError as exc:
                code, details = rpc_status(exc)
                held = self.tables.current()
                serving = f"epoch {held.number}" if held else "no epoch yet"
                raise ServerUnavailable(
                    f"the epoch exchange with {self.peer.org}'s query server at "
                    f"{self.peer.address} failed ({code.name if code else 'error'}: "
                    f"{details or type(exc).__name__}; the exchange may take up to "
                    f"{timeout:.0f} s); lookups go on with {serving}; is {self.peer.org}'s "
                    "node up and not overloaded?") from exc

    def _lead_epoch(self, timeout: float) -> int:
        started = time.monotonic()
        peer = decode(self._peer_stub("Versions", "unary_unary")(
            encode({}), timeout=timeout))[0]
        exchange = self._peer_stub("Epoch", "stream_stream")
        return self.tables.lead(peer["versions"], peer.get("epochs", ()),
                                int(self.clock() * 1000),
                                lambda outgoing: exchange(outgoing, timeout=timeout), started)

    def _epoch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.form_epoch()
                self.last_epoch_error = ""
                wait = self.epoch_seconds
            except Exception as exc:  # the peer down or behind: retry soon, keep serving
                self.last_epoch_error = str(exc)
                wait = min(2.0, self.epoch_seconds)
                log.warning("%s could not form an epoch (trying again in %.0f s): %s",
                            self.name, wait, exc)
            self._stop.wait(wait)

    # ---- Proof --------------------------------------------------------------------------------

    def _proof(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """The Merkle audit path of one log entry within a period, for the entry's asker only
        (it proves its own query was logged; the path holds only hashes of other entries)."""
        def work() -> bytes:
            org = self._client_org(context)
            header, _ = decode(request)
            try:
                start, end, seq = int(header["start"]), int(header["end"]), int(header["seq"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ProtocolError(f"a proof request names start, end and seq: {exc}") from exc
            if not 0 < end - start <= MAX_PERIOD:  # the work below grows with the span
                raise ProtocolError(f"a proof covers one metering period (at most {MAX_PERIOD} "
                                    f"s), not {start}..{end}")
            logged = self.store.log_entry(seq)  # the asker's own entry first: nobody else's
            if logged is None or not start <= logged[0].at < end:  # range is read for it
                raise _Refusal(grpc.StatusCode.NOT_FOUND, "no_entry",
                               f"{self.name} logged no query {seq} in {start}..{end}")
            if logged[0].asker != org:
                raise _Refusal(grpc.StatusCode.PERMISSION_DENIED, "not_asker",
                               f"query {seq} was not asked by {org}; only its asker gets a proof")
            # the entries its job's summary of the period holds (metering.py)
            entries = self.store.log_entries(start, end, logged[1] or None)
            index = next(i for i, e in enumerate(entries) if e.seq == seq)
            steps = merkle_proof([e.leaf() for e in entries], index)
            return encode({"index": index, "entries": len(entries),
                           "steps": [[st.sibling.hex(), st.sibling_on_left] for st in steps]})
        return self._guard(context, work)

    # ---- metering -----------------------------------------------------------------------------

    def summary(self, start: int, end: int, job: str | None = None) -> PeriodSummary:
        """This server's signed summary of its query log for start <= at < end: the queries
        admitted under `job` (None: under any)."""
        plain = summarize(self.name, start, end, self.store.log_entries(start, end, job))
        if self.signer is None:
            return plain
        signature = self.signer.sign(hashlib.sha256(canonical_json(plain.body())).digest())
        return plain.signed(base64.b64encode(signature).decode())
