"""The asker's and the contributor's side: ask both servers, reconstruct, exclude the own record.

`QueryClient.lookup(applicant_id, purpose, consent_hash)`:
1. the common epoch: the newest one both servers hold with the same table digest (cached, and
   asked again when a server no longer holds it);
2. round 1: for each part of a segment a DPF key pair for the applicant's candidate slot (the
   servers apply it to every segment, layout.py), the applicant's mask-block point blinded
   (masks.py; the same element to both), a fresh lookup id and for each server a
   fresh mask rho_s of the slots read; one signed request to each server, concurrently (with
   the lookups other threads made meanwhile: one call per round, coalesce.py); both answers
   must name the same epoch and table digest (else no answer: EpochUnavailable). Each carries
   that server's half of D XOR rho, sealed for the other server (relay.py), and the fields it
   answers;
3. round 2: the masks R of the slots (masks.py, from the two OPRF answers), then one FSS key
   per slot and server (matching.py); both sealed halves and the keys to each server; the sum of
   the two answers is the sum over members of the applicant's records, for the fields both
   servers answer (the others are 0 and left out of `LookupResult.fields`);
4. "other members only": the asker's own record in that epoch's version of its contribution
   (`Member.contributed`) is subtracted.

A server that is down, refuses or answers garbage makes the lookup fail with that server named;
no answer is ever reconstructed from one server alone.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import numpy as np

from alliance.identity import Identity
from alliance.signing import Signer
from node.query import dpf, lookup_body, masks, matching, record, relay
from node.query.coalesce import Coalescer
from node.query.contribution import Contribution, LoanBook, Records
from node.query.errors import (
    ContributionError,
    EpochUnavailable,
    ProtocolError,
    QueryError,
    QueryRefused,
    ServerUnavailable,
    rpc_status,
    server_may_not_ask,
)
from node.query.layout import Layout, hash_applicant
from node.query.record import LANES, RECORD_BYTES, Aggregates
from node.query.server import GRPC_OPTIONS
from node.query.wire import (
    BATCH_MOST,
    CHUNK_BYTES,
    SERVICE,
    LookupRequest,
    body_digest,
    decode,
    encode,
    pack,
    unpack,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
EPOCH_REFRESH_SECONDS = 5.0
"""A lookup asks the servers for their newest common epoch again when the cached one is older:
new contributions become visible within this much of the epoch being formed."""


@dataclass(frozen=True)
class ServerAddress:
    """A query server: the org running it, where it listens, the TLS CA of its certificate."""

    name: str
    address: str
    root_certs: bytes


@dataclass(frozen=True)
class LookupResult:
    aggregates: Aggregates
    epoch: int
    logged: tuple[dict[str, Any], ...] = ()
    """Per server (A, B): the log entry it wrote — {"seq", "at", "request"} — for the asker's
    record (an audit proves the entry is in the server's committed root)."""
    fields: tuple[str, ...] = record.FIELDS
    """The fields both servers answered (the others are 0 in `aggregates`)."""
    versions: dict[str, int] = field(default_factory=dict)
    """Each member's contribution version the table holds (a member absent: none yet)."""


@dataclass(frozen=True)
class FirstRound:
    """What the asker keeps between a lookup's rounds."""

    epoch: int
    versions: dict[str, int]
    hashed: bytes
    tag: int
    lookup_id: bytes
    rho: np.ndarray
    """rho_A XOR rho_B at the slots read (uint64, (slots, LANES))."""
    masks: np.ndarray
    """R = R_A XOR R_B at the slots read (masks.py)."""
    halves: tuple[bytes, bytes]
    """Each server's sealed half of D XOR rho (relay.py)."""
    answered: tuple[str, ...]
    logged: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Ask:
    """One first round asked: the hashed applicant, purpose, consent commitment per server."""

    hashed: bytes
    purpose: str
    consents: tuple[str, str]


class Member:
    """A member's contributions as it sent them: what to exclude from its own lookups."""

    def __init__(self, book: LoanBook) -> None:
        self.book = book
        self._sent: dict[int, Records] = {}

    def prepare(self, today: int, version: int) -> Contribution:
        records = self.book.aggregates(today)
        self._sent[version] = records
        for old in sorted(self._sent)[:-4]:
            del self._sent[old]
        return self.book.share(self.book.vector(records), version)

    def contributed(self, version: int | None, hashed: bytes) -> Aggregates | None:
        if version is None:
            return None
        if version not in self._sent:
            raise QueryError(f"this node no longer remembers its contribution version {version}")
        return self._sent[version].get(hashed)


def _refusal(server: ServerAddress, exc: grpc.RpcError) -> QueryError:
    code, details = rpc_status(exc)
    return _refused(server, code, details or str(exc))


def _refused(server: ServerAddress, code: grpc.StatusCode | None, details: str) -> QueryError:
    """The error a server's refusal (a gRPC status, or one lookup's in a batch) means."""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED):
        return ServerUnavailable(
            f"query server {server.name} at {server.address} did not answer ({code.name}: "
            f"{details}); no answer without both servers - try again later or ask "
            f"{server.name} to check its node")
    reason, _, message = details.partition(": ")
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "epoch_unavailable":
        return EpochUnavailable(f"{server.name}: {message}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ProtocolError(f"{server.name} rejected the request: {details}")
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        return QueryError(f"query server {server.name} failed: {details}; no answer was "
                          "reconstructed - try again, or ask its operator to check its log")
    if message:
        return QueryRefused(reason, f"{server.name} refused: {message}")
    return QueryRefused("refused", f"{server.name} refused ({code}): {details}")


class QueryClient:
    """One member's connection to the two query servers (A first, then B)."""

    def __init__(
        self, org: str, identity: Identity, signer: Signer, tls_cert_chain: bytes,
        tls_private_key: bytes, servers: tuple[ServerAddress, ServerAddress], salt: bytes,
        layout: Layout, *, timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.org, self.identity, self.signer = org, identity, signer
        self.servers = servers
        self.salt, self.layout, self.timeout = salt, layout, timeout
        self._channels = [
            grpc.secure_channel(s.address, grpc.ssl_channel_credentials(
                root_certificates=s.root_certs, private_key=tls_private_key,
                certificate_chain=tls_cert_chain), options=GRPC_OPTIONS)
            for s in servers
        ]
        self._stubs: dict[tuple[int, str], Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="query-client")
        """Runs the call to server B while the caller's thread calls A."""
        self._lookups = Coalescer(self._both_rounds, BATCH_MOST)
        """Lookups made meanwhile by other threads travel in the same calls (coalesce.py)."""
        self._epoch: tuple[int, str, dict[str, int]] | None = None
        """The cached epoch: number, table digest, versions."""
        self._epoch_read_at = 0.0
        self.formed_in = 0.0
        """How long server A took to form the current epoch (from Status)."""

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> QueryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _invoke(self, index: int, method: str, message: bytes) -> bytes:
        """One blocking call (gRPC's own futures start a thread per call when idle)."""
        key = (index, method)
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = self._channels[index].unary_unary(f"/{SERVICE}/{method}")
        try:
            return bytes(stub(message, timeout=self.timeout))
        except grpc.RpcError as exc:
            raise _refusal(self.servers[index], exc) from exc

    def _call(self, index: int, method: str, message: bytes) -> Future[bytes]:
        return self._pool.submit(self._invoke, index, method, message)

    def _result(self, index: int, future: Future[Any]) -> bytes:
        try:
            return bytes(future.result())
        except grpc.RpcError as exc:  # a gRPC future's (contribute); _invoke maps its own
            raise _refusal(self.servers[index], exc) from exc

    def status(self) -> list[dict[str, Any]]:
        """Both servers' Status headers (epochs held, layout, the policy they enforce)."""
        futures = [self._call(i, "Status", encode({})) for i in (0, 1)]
        return [decode(self._result(i, f))[0] for i, f in enumerate(futures)]

    def fetch_salt(self) -> bytes:
        """The applicant-hash salt, from server A (salt.py); cached by the caller."""
        return decode(self._invoke(0, "Salt", encode({})))[1]

    # ---- epochs -------------------------------------------------------------------------------

    def refresh_epoch(self) -> tuple[int, str, dict[str, int]]:
        """The newest epoch both servers hold with the same table digest."""
        return self._read_epoch()

    def _read_epoch(self) -> tuple[int, str, dict[str, int]]:
        futures = [self._call(i, "Status", encode({})) for i in (0, 1)]
        statuses = [decode(self._result(i, f))[0] for i, f in enumerate(futures)]
        for status in statuses:
            no_job = (status.get("policy") or {}).get("job", "") is None  # refuses lookups
            if status.get("layout") != self.layout.fingerprint() and not no_job:
                raise ProtocolError(
                    f"{status.get('server')} serves another table layout than the service job "
                    "this node read (its part_bits or contributors changed); the servers' "
                    "operators restart them (`alliance network down`, then `network up`)")
        held = [{e["epoch"]: e for e in s["epochs"]} for s in statuses]
        common = sorted(set(held[0]) & set(held[1]), reverse=True)
        for number in common:
            a, b = held[0][number], held[1][number]
            if a["digest"] == b["digest"]:
                current = (number, a["digest"], dict(a.get("versions", {})))
                self._epoch, self._epoch_read_at = current, time.monotonic()
                self.formed_in = int(a.get("formed_in_ms", 0)) / 1000
                return current
        raise EpochUnavailable(
            f"the query servers hold no common table yet ({self.servers[0].name}: "
            f"{sorted(held[0])}, {self.servers[1].name}: {sorted(held[1])}); the first one "
            "forms within an epoch of both servers running - try again shortly")

    # ---- lookup -------------------------------------------------------------------------------

    def lookup(self, applicant_id: str, purpose: str, consent_hash: str | tuple[str, str],
               member: Member | None = None) -> LookupResult:
        """Aggregates over the *other* members for one applicant (see module doc).
        `consent_hash`: one value for both servers, or one per server (A, B) — the salted
        commitments of node/query/consent.py, fresh per lookup and server."""
        self._check_may_ask()
        if (self._epoch is None
                or time.monotonic() - self._epoch_read_at > EPOCH_REFRESH_SECONDS):
            self.refresh_epoch()
        try:
            return self._lookup(applicant_id, purpose, consent_hash, member)
        except EpochUnavailable:
            self.refresh_epoch()
            return self._lookup(applicant_id, purpose, consent_hash, member)

    def _lookup(self, applicant_id: str, purpose: str, consent_hash: str | tuple[str, str],
                member: Member | None) -> LookupResult:
        first, result = self._one(self._lookups.run(
            [self._ask(applicant_id, purpose, consent_hash)])[0])
        own = member.contributed(first.versions.get(self.org), first.hashed) if member else None
        if own is not None:
            result = result.minus(own)
        return LookupResult(result.only(first.answered), first.epoch, first.logged,
                            first.answered, dict(first.versions))

    def first_round(self, applicant_id: str, purpose: str,
                    consent_hash: str | tuple[str, str]) -> FirstRound:
        """Round 1 at both servers (signed, logged, counted): their sealed halves, the masks
        of the slots read, the fields both answer (one round alone; `lookup` batches both)."""
        self._check_may_ask()
        return self._one(self._first_rounds([self._ask(applicant_id, purpose, consent_hash)])[0])

    def second_round(self, first: FirstRound, fields: tuple[str, ...]) -> Aggregates:
        """Round 2 at both servers: the sum over members of the applicant's records, for
        `fields` (the fields both servers answered, as `lookup` asks)."""
        return self._one(self._second_rounds([(first, matching.check_fields(fields))])[0])

    def _check_may_ask(self) -> None:
        """A server's member never asks (the servers refuse it too): it holds the masked table
        D, and the masks R an answer gives at the slots read would show it each member's
        record there (D - R), not only their sum."""
        if self.org in (self.servers[0].name, self.servers[1].name):
            raise server_may_not_ask(self.org)

    def _ask(self, applicant_id: str, purpose: str, consent_hash: str | tuple[str, str]) -> _Ask:
        consents = (consent_hash, consent_hash) if isinstance(consent_hash, str) else consent_hash
        return _Ask(hash_applicant(self.salt, applicant_id), purpose, consents)

    @staticmethod
    def _one(result: T | BaseException) -> T:
        if isinstance(result, BaseException):
            raise result
        return result

    def _both_rounds(self, asks: list[_Ask]
                     ) -> list[tuple[FirstRound, Aggregates] | QueryError]:
        """A batch of whole lookups: the second rounds of those whose first succeeded follow
        as one batch too (not each one's own as its thread wakes)."""
        firsts = self._first_rounds(asks)
        done = [first for first in firsts if isinstance(first, FirstRound)]
        seconds = iter(self._second_rounds([(first, first.answered) for first in done])
                       if done else [])
        out: list[tuple[FirstRound, Aggregates] | QueryError] = []
        for first in firsts:
            if isinstance(first, FirstRound):
                second = next(seconds)
                out.append(second if isinstance(second, QueryError) else (first, second))
            else:
                out.append(first)
        return out

    def _first_rounds(self, asks: list[_Ask]) -> list[FirstRound | QueryError]:
        """A batch of first rounds: their DPF keys generated together, each lookup signed on
        its own (a server refuses one without the others), one call to each server."""
        number, digest, versions = self._epoch or self._read_epoch()
        layout = self.layout
        located = [layout.locate(ask.hashed) for ask in asks]
        keys = dpf.generate_packed([dpf.point_for_position(p, layout.part_bits)
                                    for positions, _ in located for p in positions],
                                   layout.part_bits)
        size = len(keys[0]) // len(asks)
        blocks = [masks.block_point(Layout.block_of(positions[0])) for positions, _ in located]
        # one blinding per lookup for both servers: each sees a uniformly random element
        # either way, and the lookup id already links a lookup's two halves
        blinds = [masks.blind(block) for block in blocks]
        ids = [relay.new_lookup_id() for _ in asks]
        raw = np.frombuffer(os.urandom(2 * len(asks) * layout.subtables * RECORD_BYTES),
                            dtype=np.uint64).reshape(2, len(asks), -1, LANES)

        def message(side: int, i: int) -> bytes:
            body = lookup_body.make(keys[side][i * size:(i + 1) * size], blinds[i].element,
                                    ids[i], raw[side, i])
            request = LookupRequest(
                server=self.servers[side].name, epoch=number, asker=self.org,
                msp_id=self.identity.msp_id, purpose=asks[i].purpose,
                consent_hash=asks[i].consents[side], nonce=os.urandom(16).hex(),
                issued_at=int(time.time()), body_digest=body_digest(body))
            signature = self.signer.sign(request.digest())
            header = {"request": request.fields(),
                      "signature": base64.b64encode(signature).decode(),
                      "certificate": self.identity.certificate.decode()}
            return encode(header, body)

        answers = self._send_both("Lookup", [(message(0, i), message(1, i))
                                             for i in range(len(asks))])
        sealed_size = relay.OVERHEAD + layout.subtables * RECORD_BYTES
        out: list[FirstRound | QueryError] = []
        for i, (ask, pair) in enumerate(zip(asks, answers, strict=True)):
            try:
                halves, evaluated, logged, fields = [], [], [], []
                for side, (header, body) in enumerate(self._opened(s, x)
                                                      for s, x in enumerate(pair)):
                    logged.append({k: header[k] for k in ("seq", "at", "request", "job")
                                   if k in header})
                    fields.append(set(header.get("fields", ())))
                    if header.get("epoch") != number or header.get("digest") != digest:
                        raise EpochUnavailable(f"{self.servers[side].name} answered on "
                                               "another table")
                    if len(body) != sealed_size + masks.POINT_BYTES:
                        raise ProtocolError(f"{self.servers[side].name} sent an answer of the "
                                            "wrong size")
                    halves.append(body[:sealed_size])
                    evaluated.append(body[sealed_size:])
                positions, tag = located[i]
                offsets = layout.offsets(positions)
                r = masks.slot_masks_of_both(blinds[i].unblinder, evaluated, offsets)
                answered = tuple(f for f in record.FIELDS if f in fields[0] & fields[1])
                out.append(FirstRound(number, versions, ask.hashed, tag, ids[i],
                                      raw[0, i] ^ raw[1, i], r, (halves[0], halves[1]),
                                      answered, tuple(logged)))
            except QueryError as exc:
                out.append(exc)
        return out

    def _second_rounds(self, items: list[tuple[FirstRound, tuple[str, ...]]]
                       ) -> list[Aggregates | QueryError]:
        """A batch of second rounds: the FSS keys of those asking the same fields generated
        together, one call to each server."""
        keys: list[tuple[bytes, bytes]] = [(b"", b"")] * len(items)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, (_, fields) in enumerate(items):
            groups.setdefault(fields, []).append(i)
        for fields, members in groups.items():
            firsts = [items[i][0] for i in members]
            pair = matching.keys_of(np.array([f.tag for f in firsts], dtype=np.uint64),
                                    np.stack([f.masks for f in firsts]),
                                    np.stack([f.rho for f in firsts]), fields)
            size = len(pair[0]) // len(members)
            for n, i in enumerate(members):
                keys[i] = (pair[0][n * size:(n + 1) * size], pair[1][n * size:(n + 1) * size])

        def message(side: int, i: int) -> bytes:
            first, fields = items[i]
            header = {"lookup": first.lookup_id.hex(), "epoch": first.epoch,
                      "fields": list(fields)}
            return encode(header, first.halves[0] + first.halves[1] + keys[i][side])

        answers = self._send_both("Select", [(message(0, i), message(1, i))
                                             for i in range(len(items))])
        out: list[Aggregates | QueryError] = []
        for (_, fields), pair in zip(items, answers, strict=True):
            try:
                shares = []
                for side, (answer, body) in enumerate(self._opened(s, x)
                                                      for s, x in enumerate(pair)):
                    if answer.get("fields") != list(fields) or len(body) != 8 * len(fields):
                        raise ProtocolError(f"{self.servers[side].name} sent a second answer "
                                            "of the wrong shape")
                    shares.append(np.frombuffer(body, dtype=np.uint64))
                out.append(matching.combine(shares[0], shares[1], fields))
            except QueryError as exc:
                out.append(exc)
        return out

    def _opened(self, side: int, answer: bytes | QueryError) -> tuple[dict[str, Any], bytes]:
        """A server's answer to one lookup of a batch; its error or refusal raised."""
        if isinstance(answer, QueryError):
            raise answer
        header, body = decode(answer)
        if "refused" in header:
            try:
                code = grpc.StatusCode[str(header["status"])]
            except KeyError as exc:
                raise ProtocolError(f"{self.servers[side].name} refused with an unknown "
                                    f"status {header.get('status')!r}") from exc
            raise _refused(self.servers[side], code,
                           f"{header['refused']}: {header.get('message', '')}")
        return header, body

    def _send_both(self, method: str, pairs: list[tuple[bytes, bytes]]
                   ) -> list[tuple[bytes | QueryError, bytes | QueryError]]:
        """A batch of lookups' messages in one call to each server: B's travels (on a pool
        thread) while A's is sent from this one. Per lookup, each server's answer or error."""
        from_b = self._pool.submit(self._batch, 1, method, [pair[1] for pair in pairs])
        answers_a = self._batch(0, method, [pair[0] for pair in pairs])
        return list(zip(answers_a, from_b.result(), strict=True))

    def _batch(self, index: int, method: str, messages: list[bytes]
               ) -> list[bytes | QueryError]:
        try:
            answers: list[bytes | QueryError] = list(
                unpack(self._invoke(index, method, pack(messages))))
            if len(answers) != len(messages):
                raise ProtocolError(f"{self.servers[index].name} answered {len(answers)} "
                                    f"lookups of {len(messages)}")
        except QueryError as exc:  # the whole call failed: so did each of its lookups
            answers = [exc] * len(messages)
        return answers

    # ---- audit --------------------------------------------------------------------------------

    def proof(self, index: int, start: int, end: int, seq: int) -> tuple[int, list[Any]]:
        """Server `index`'s Merkle path of this member's logged query `seq` within start..end:
        (leaf index, [ProofStep...])."""
        from alliance.fingerprint import ProofStep

        reply = self._result(index, self._call(
            index, "Proof", encode({"start": start, "end": end, "seq": seq})))
        header = decode(reply)[0]
        steps = [ProofStep(bytes.fromhex(h), bool(left)) for h, left in header["steps"]]
        return int(header["index"]), steps

    # ---- contributing -------------------------------------------------------------------------

    def contribute(self, contribution: Contribution) -> None:
        """Send one interval's shares: the masked segment to A, the seed to B (both or error);
        ContributionError, nothing sent, when it is not one segment of this client's layout."""
        expected = (self.layout.segment_slots, LANES)
        if contribution.masked.shape != expected or contribution.masked.dtype != np.uint64:
            raise ContributionError(
                f"a contribution is this member's segment, uint64 of shape {expected}; got "
                f"{contribution.masked.dtype} of shape {contribution.masked.shape} (build it "
                "with LoanBook.vector and LoanBook.share for the layout in force)")
        raw = memoryview(np.ascontiguousarray(contribution.masked)).cast("B")
        header = {"member": self.org, "version": contribution.version,
                  "layout": self.layout.fingerprint()}

        def chunks() -> Iterator[bytes]:
            yield encode(header, bytes(raw[:CHUNK_BYTES]))
            for start in range(CHUNK_BYTES, len(raw), CHUNK_BYTES):
                yield bytes(raw[start:start + CHUNK_BYTES])

        stub_a = self._channels[0].stream_unary(f"/{SERVICE}/Contribute")
        stub_b = self._channels[1].stream_unary(f"/{SERVICE}/Contribute")
        future_b = stub_b.future(iter([encode(header, contribution.seed)]),
                                 timeout=self.timeout * 6)
        future_a = stub_a.future(chunks(), timeout=self.timeout * 6)
        for index, future in ((0, future_a), (1, future_b)):
            self._result(index, future)
