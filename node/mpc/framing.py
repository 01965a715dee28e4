"""Message framing for the MPC transports: headers, chunking, reassembly and the transcript hash.

One `Framer` per party and job run. Every message a protocol sends becomes one or more wire frames:

    frame = uint32 big-endian header length || header (canonical JSON) || payload chunk

The header names the job, run, sender, receiver, step, tag, a per-sender sequence number, the
chunk index and count, and the kind: `bytes`, `array` (with dtype and shape: the payload is the
array's raw little-endian bytes, C order), `abort` (with a reason) or `close` (the sender is done).
Payloads are cut into chunks of `chunk_bytes` (default 1 MiB) taken as memoryview slices of the
caller's buffer; the receiver preallocates the whole array from the first chunk's header and fills
it in place. A header is checked before anything is allocated (sizes and dimensions not negative,
an array's shape times itemsize equal to its size, chunk index within the count, at most
`MAX_MESSAGE_BYTES` per message, every chunk of a message with the same header): a peer that
sends anything else gets TransportError, never a crash or an outsized allocation.

The transcript: for every message, in the order this party's protocol *sent* it (called send) or
*received* it (recv returned), the hash absorbs the message's logical header (the header without
the chunk index) and the sha256 of its payload. Hashing the payload digest rather than the payload
lets it be computed chunk by chunk as frames arrive, while the order stays the protocol's own
(deterministic), not the network's.

`Mailbox` is the receiving half both transports share: completed messages queued by
(sender, step, tag), taken by the protocol under a deadline, and an abort state that wakes every
waiter.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from node.errors import ProtocolAborted, ProtocolTimeout, TransportError

DEFAULT_CHUNK_BYTES = 1 << 20
"""1 MiB: large enough that per-frame overhead is negligible, small enough for gRPC's limits."""

MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 4 << 30
"""4 GiB: the largest single message (all its chunks) a party sends or accepts."""
MAX_DIMENSIONS = 32
_LEN = struct.Struct(">I")

KIND_BYTES = "bytes"
KIND_ARRAY = "array"
KIND_ABORT = "abort"
KIND_CLOSE = "close"
_KINDS = (KIND_BYTES, KIND_ARRAY, KIND_ABORT, KIND_CLOSE)


@dataclass(frozen=True)
class FrameHeader:
    """The header of one wire frame (one chunk of one message)."""

    job: str
    run: int
    frm: str
    to: str
    step: str
    tag: str
    seq: int
    kind: str
    nbytes: int = 0
    chunk: int = 0
    chunks: int = 1
    dtype: str = ""
    shape: tuple[int, ...] = ()
    reason: str = ""

    def to_dict(self, with_chunk: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job": self.job, "run": self.run, "from": self.frm, "to": self.to,
            "step": self.step, "tag": self.tag, "seq": self.seq, "kind": self.kind,
            "nbytes": self.nbytes, "chunks": self.chunks,
        }
        if with_chunk:
            data["chunk"] = self.chunk
        if self.kind == KIND_ARRAY:
            data["dtype"] = self.dtype
            data["shape"] = list(self.shape)
        if self.reason:
            data["reason"] = self.reason
        return data

    def encode(self) -> bytes:
        return _json(self.to_dict())

    def logical(self) -> bytes:
        """The header as it enters the transcript: the same for every chunk of a message."""
        return _json(self.to_dict(with_chunk=False))

    @classmethod
    def decode(cls, data: bytes | memoryview) -> FrameHeader:
        try:
            raw = json.loads(bytes(data))
            header = cls(
                job=str(raw["job"]), run=int(raw["run"]), frm=str(raw["from"]), to=str(raw["to"]),
                step=str(raw["step"]), tag=str(raw["tag"]), seq=int(raw["seq"]),
                kind=str(raw["kind"]), nbytes=int(raw["nbytes"]), chunk=int(raw.get("chunk", 0)),
                chunks=int(raw["chunks"]), dtype=str(raw.get("dtype", "")),
                shape=tuple(int(d) for d in raw.get("shape", ())),
                reason=str(raw.get("reason", "")),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise TransportError(
                f"malformed frame header ({exc}); the peer speaks another framing"
            ) from exc
        if header.kind not in _KINDS:
            raise TransportError(
                f"frame of unknown kind {header.kind!r}; the peer speaks another framing"
            )
        header.validate()
        return header

    def validate(self) -> None:
        """Raise TransportError unless the header's sizes, shape and chunking are coherent.
        Pure and cheap: runs before any buffer is allocated for the message."""
        who = f"frame from {self.frm!r}"
        if self.kind in (KIND_ABORT, KIND_CLOSE):
            return
        if self.seq < 0:
            raise TransportError(f"{who} has a negative sequence number {self.seq}")
        if not 0 <= self.nbytes <= MAX_MESSAGE_BYTES:
            raise TransportError(
                f"{who} declares {self.nbytes} bytes; a message holds 0..{MAX_MESSAGE_BYTES} "
                "bytes (split larger data into several messages)"
            )
        if not 1 <= self.chunks <= max(1, self.nbytes):
            raise TransportError(
                f"{who} declares {self.chunks} chunks for {self.nbytes} bytes; expected "
                f"1..{max(1, self.nbytes)}"
            )
        if not 0 <= self.chunk < self.chunks:
            raise TransportError(f"{who} is chunk {self.chunk} of {self.chunks}; out of range")
        if self.kind == KIND_ARRAY:
            if len(self.shape) > MAX_DIMENSIONS or any(d < 0 for d in self.shape):
                raise TransportError(
                    f"{who} declares an array of shape {list(self.shape)}; dimensions must be "
                    f"at least 0 and at most {MAX_DIMENSIONS} of them"
                )
            try:
                dtype = np.dtype(self.dtype)
            except (TypeError, ValueError) as exc:
                raise TransportError(f"{who}: array of unknown dtype {self.dtype!r}") from exc
            if dtype.hasobject:
                raise TransportError("object arrays cannot travel; send numeric arrays or bytes")
            needed = math.prod(self.shape) * dtype.itemsize  # Python ints: no overflow
            if needed != self.nbytes:
                raise TransportError(
                    f"{who}: array header says {self.nbytes} bytes but "
                    f"{self.dtype}{list(self.shape)} needs {needed}"
                )


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Message:
    """One reassembled message: its (first) header and payload (bytes or numpy array)."""

    header: FrameHeader
    payload: bytes | np.ndarray | None
    payload_digest: bytes


@dataclass
class _Partial:
    header: FrameHeader
    buffer: np.ndarray | bytearray
    view: memoryview
    hasher: Any
    position: int = 0
    next_chunk: int = 0


@dataclass
class Framer:
    """Frames outgoing messages, reassembles incoming ones, and keeps this party's transcript."""

    job: str
    run: int
    party: str
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    _seq: dict[str, int] = field(default_factory=dict)
    _partials: dict[tuple[str, int], _Partial] = field(default_factory=dict)
    _entries: list[list[bytes]] = field(default_factory=list)

    # ---- sending -------------------------------------------------------------------------------

    def _next_seq(self, to: str) -> int:
        seq = self._seq.get(to, 0)
        self._seq[to] = seq + 1
        return seq

    def _frames(self, header: FrameHeader, data: memoryview) -> Iterator[bytes]:
        size = self.chunk_bytes
        if len(data) > MAX_MESSAGE_BYTES:
            raise TransportError(
                f"a message of {len(data)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit; "
                "split the data into several messages"
            )
        chunks = max(1, -(-len(data) // size))
        header = replace(header, nbytes=len(data), chunks=chunks)
        entry = self._reserve(header)

        def frames() -> Iterator[bytes]:
            hasher = hashlib.sha256()
            for index in range(chunks):
                piece = data[index * size:(index + 1) * size]
                hasher.update(piece)
                head = replace(header, chunk=index).encode()
                yield b"".join((_LEN.pack(len(head)), head, piece))
            entry[1] = hasher.digest()

        return frames()

    def bytes_frames(self, to: str, step: str, tag: str, payload: bytes) -> Iterator[bytes]:
        """Wire frames of a bytes message; the transcript records it once all frames are taken."""
        header = FrameHeader(self.job, self.run, self.party, to, step, tag, self._next_seq(to),
                             KIND_BYTES)
        return self._frames(header, memoryview(payload).cast("B"))

    def array_frames(self, to: str, step: str, tag: str, array: np.ndarray) -> Iterator[bytes]:
        """Wire frames of an array message, slicing the array's buffer without copying it whole."""
        array = wire_array(array)
        header = FrameHeader(self.job, self.run, self.party, to, step, tag, self._next_seq(to),
                             KIND_ARRAY, dtype=array.dtype.str, shape=tuple(array.shape))
        return self._frames(header, memoryview(array).cast("B") if array.size else memoryview(b""))

    def control_frame(self, to: str, kind: str, reason: str = "", origin: str = "") -> bytes:
        """An abort or close frame (not part of the transcript); an abort names in `tag` the
        party that aborted first (`origin`), since it may reach this peer relayed."""
        header = FrameHeader(self.job, self.run, self.party, to, "", origin, -1, kind,
                             reason=reason)
        head = header.encode()
        return _LEN.pack(len(head)) + head

    # ---- messages without wire frames (the in-memory transport) --------------------------------

    def message(self, to: str, step: str, tag: str, payload: bytes | np.ndarray) -> Message:
        """A whole message for a transport that moves objects, recorded as sent."""
        seq = self._next_seq(to)
        if isinstance(payload, np.ndarray):
            array = np.array(wire_array(payload), copy=True)
            header = FrameHeader(self.job, self.run, self.party, to, step, tag, seq, KIND_ARRAY,
                                 nbytes=array.nbytes, dtype=array.dtype.str,
                                 shape=tuple(array.shape))
            digest = hashlib.sha256(memoryview(array).cast("B") if array.size else b"").digest()
            message = Message(header, array, digest)
        else:
            data = bytes(payload)
            header = FrameHeader(self.job, self.run, self.party, to, step, tag, seq, KIND_BYTES,
                                 nbytes=len(data))
            message = Message(header, data, hashlib.sha256(data).digest())
        self._record(message.header, message.payload_digest)
        return message

    # ---- receiving -----------------------------------------------------------------------------

    def accept(self, frame: bytes) -> Message | None:
        """Take one wire frame; return the message once its last chunk is in, else None."""
        view = memoryview(frame)
        if len(view) < _LEN.size:
            raise TransportError("truncated frame (shorter than its length prefix)")
        (head_len,) = _LEN.unpack_from(view)
        if head_len > MAX_HEADER_BYTES or _LEN.size + head_len > len(view):
            raise TransportError(f"frame header length {head_len} is out of range")
        header = FrameHeader.decode(view[_LEN.size:_LEN.size + head_len])
        body = view[_LEN.size + head_len:]
        if header.job != self.job or header.run != self.run or header.to != self.party:
            raise TransportError(
                f"frame for job {header.job} run {header.run} to {header.to} arrived at "
                f"{self.party} in job {self.job} run {self.run}; the peer is misrouting"
            )
        if header.kind in (KIND_ABORT, KIND_CLOSE):
            return Message(header, None, b"")
        key = (header.frm, header.seq)
        partial = self._partials.get(key)
        if partial is None:
            if header.chunk != 0:
                raise TransportError(
                    f"message {key} from {header.frm} starts at chunk {header.chunk}"
                )
            partial = self._start(header)
            self._partials[key] = partial
        elif header.chunk != partial.next_chunk:
            raise TransportError(
                f"message {key} from {header.frm}: chunk {header.chunk} arrived, "
                f"expected {partial.next_chunk}"
            )
        elif replace(header, chunk=0) != partial.header:
            raise TransportError(
                f"message {key} from {header.frm}: chunk {header.chunk}'s header differs from "
                "the message's first; the peer speaks another framing"
            )
        header = partial.header
        end = partial.position + len(body)
        if end > header.nbytes:
            raise TransportError(
                f"message {key} from {header.frm} overflows its {header.nbytes} bytes"
            )
        partial.view[partial.position:end] = body
        partial.hasher.update(body)
        partial.position = end
        partial.next_chunk += 1
        if partial.next_chunk < header.chunks:
            return None
        del self._partials[key]
        if partial.position != header.nbytes:
            raise TransportError(
                f"message {key} from {header.frm} ended at {partial.position} "
                f"of {header.nbytes} bytes"
            )
        buffer = partial.buffer
        payload = buffer if isinstance(buffer, np.ndarray) else bytes(buffer)
        return Message(partial.header, payload, partial.hasher.digest())

    def _start(self, header: FrameHeader) -> _Partial:
        if header.kind == KIND_ARRAY:
            header.validate()  # sizes checked before allocating
            try:
                array = np.empty(header.shape, dtype=np.dtype(header.dtype))
            except (TypeError, ValueError, MemoryError) as exc:
                raise TransportError(
                    f"cannot hold {header.frm}'s array {header.dtype}{list(header.shape)}: {exc}"
                ) from exc
            if array.nbytes != header.nbytes:
                raise TransportError(
                    f"array header says {header.nbytes} bytes but "
                    f"{header.dtype}{list(header.shape)} needs {array.nbytes}"
                )
            view = memoryview(array).cast("B") if array.size else memoryview(bytearray())
            return _Partial(header, array, view, hashlib.sha256())
        header.validate()
        try:
            buffer = bytearray(header.nbytes)
        except MemoryError as exc:
            raise TransportError(
                f"cannot hold {header.frm}'s message of {header.nbytes} bytes: {exc}"
            ) from exc
        return _Partial(header, buffer, memoryview(buffer), hashlib.sha256())

    def record_received(self, message: Message) -> None:
        """Enter a message into the transcript when the protocol takes it (protocol order)."""
        self._record(message.header, message.payload_digest)

    # ---- transcript ----------------------------------------------------------------------------

    def _reserve(self, header: FrameHeader) -> list[bytes]:
        """Take the message's place in the transcript now; its payload digest comes later."""
        entry = [header.logical(), b""]
        self._entries.append(entry)
        return entry

    def _record(self, header: FrameHeader, payload_digest: bytes) -> None:
        self._reserve(header)[1] = payload_digest

    @property
    def transcript_digest(self) -> str:
        """sha256 over (len || logical header || sha256(payload)) of every message, in order.

        A message whose sending did not finish enters with an empty payload digest.
        """
        transcript = hashlib.sha256()
        for logical, digest in self._entries:
            transcript.update(_LEN.pack(len(logical)))
            transcript.update(logical)
            transcript.update(digest)
        return "sha256:" + transcript.hexdigest()


def wire_array(array: np.ndarray) -> np.ndarray:
    """The array as it travels: numeric, little-endian, C-contiguous (copied only if it is not)."""
    if array.dtype.hasobject:
        raise TransportError("object arrays cannot travel; send numeric arrays or bytes")
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array)


class _Aborted:
    """Queue sentinel that wakes a waiting receiver when the job aborts."""


_ABORTED = _Aborted()


class Mailbox:
    """One party's completed incoming messages by (sender, step, tag), with abort and deadlines."""

    def __init__(self, framer: Framer, step_timeout: float) -> None:
        self.framer = framer
        self.step_timeout = step_timeout
        self._queues: dict[tuple[str, str, str], asyncio.Queue[Message | _Aborted]] = {}
        self.aborted: ProtocolAborted | None = None
        self.aborted_event = asyncio.Event()

    def _queue(self, key: tuple[str, str, str]) -> asyncio.Queue[Message | _Aborted]:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
        return queue

    def deliver(self, message: Message) -> None:
        header = message.header
        self._queue((header.frm, header.step, header.tag)).put_nowait(message)

    def fail(self, reason: str, party: str | None) -> bool:
        """Enter the aborted state (first reason wins); True if this call did it."""
        if self.aborted is not None:
            return False
        self.aborted = ProtocolAborted(reason, party)
        self.aborted_event.set()
        for queue in self._queues.values():
            queue.put_nowait(_ABORTED)
        return True

    def check(self) -> None:
        if self.aborted is not None:
            raise ProtocolAborted(self.aborted.reason, self.aborted.party)

    async def take(self, frm: str, step: str, tag: str, timeout: float | None = None) -> Message:
        """The next message from `frm` under (step, tag), entered into the transcript.

        Raises ProtocolAborted if the job aborted, ProtocolTimeout after the step deadline.
        """
        self.check()
        limit = self.step_timeout if timeout is None else timeout
        queue = self._queue((frm, step, tag))
        started = time.monotonic()
        try:
            item = await asyncio.wait_for(queue.get(), limit)
        except TimeoutError:
            waited = time.monotonic() - started
            raise ProtocolTimeout(
                f"{self.framer.party} waited {waited:.1f} s for {frm}'s message at step "
                f"{step!r} tag {tag!r}; the peer is slow or stuck — retry the job, or raise "
                "the step deadline if the data is large"
            ) from None
        if isinstance(item, _Aborted):
            queue.put_nowait(item)
        self.check()
        assert isinstance(item, Message)
        self.framer.record_received(item)
        return item


def expect_bytes(message: Message) -> bytes:
    if message.header.kind != KIND_BYTES or not isinstance(message.payload, bytes):
        raise TransportError(
            f"{message.header.frm} sent an array at step {message.header.step!r} tag "
            f"{message.header.tag!r} where bytes were expected; the parties run different protocols"
        )
    return message.payload


def expect_array(message: Message) -> np.ndarray:
    if message.header.kind != KIND_ARRAY or not isinstance(message.payload, np.ndarray):
        raise TransportError(
            f"{message.header.frm} sent bytes at step {message.header.step!r} tag "
            f"{message.header.tag!r} where an array was expected; the parties run different "
            "protocols"
        )
    return message.payload
