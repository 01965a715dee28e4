"""Protocol Buffers' wire format, read by hand: enough to take Fabric's blocks apart without
the protobuf library (the offline verifier needs only the standard library and `cryptography`).

`fields(data)` maps each field number to the list of its raw values, in order: an int for a
varint, bytes for a length-delimited field (a nested message, a string or bytes)."""

from __future__ import annotations


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise WireError("a varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("a varint is longer than 10 bytes")


def fields(data: bytes) -> dict[int, list[int | bytes]]:
    out: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, kind = key >> 3, key & 7
        value: int | bytes
        if kind == 0:
            value, pos = _varint(data, pos)
        elif kind == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise WireError(f"field {number} runs past the end of the message")
            value, pos = data[pos : pos + length], pos + length
        elif kind == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif kind == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise WireError(f"field {number} has wire type {kind}, which Fabric never uses")
        if number == 0:
            raise WireError("field number 0 is not valid")
        out.setdefault(number, []).append(value)
    if pos != len(data):
        raise WireError("the message ends inside a field")
    return out


def get_bytes(msg: dict[int, list[int | bytes]], number: int) -> bytes:
    """The last value of a bytes/string/message field ('' when absent, as protobuf reads it)."""
    values = msg.get(number)
    if not values:
        return b""
    value = values[-1]
    if not isinstance(value, bytes):
        raise WireError(f"field {number} is not length-delimited")
    return value


def get_int(msg: dict[int, list[int | bytes]], number: int) -> int:
    values = msg.get(number)
    if not values:
        return 0
    value = values[-1]
    if not isinstance(value, int):
        raise WireError(f"field {number} is not a varint")
    return value


def get_all(msg: dict[int, list[int | bytes]], number: int) -> list[bytes]:
    out = []
    for value in msg.get(number, []):
        if not isinstance(value, bytes):
            raise WireError(f"field {number} is not length-delimited")
        out.append(value)
    return out
