"""A tiny contract for devnet's own tests and the ledger benchmark: raw ledger behaviour with no
governance rules in the way. Start devnet with `--router network.devnet.counter:router`.

    Put(key, value)   write; event "Put" with the key       Get(key)        read
    Incr(key)         read-modify-write (MVCC conflicts)     Scan(start,end) keys in range, JSON
    Refuse(message)   refused: 403 "NotAuthorized: message"  Delete(key)     delete
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Response:
    status: int
    message: str
    payload: bytes = b""


class CounterRouter:
    def is_query(self, name: str) -> bool:
        return name in ("Get", "Scan")

    def invoke(self, stub: Any) -> Response:
        name, args = stub.get_function_and_parameters()
        if name == "Put" and len(args) == 2:
            stub.put_state(args[0], args[1].encode())
            stub.set_event("Put", args[0].encode())
            return Response(200, "", args[1].encode())
        if name == "Get" and len(args) == 1:
            value = stub.get_state(args[0])
            if value is None:
                return Response(404, f"NotFound: no key {args[0]!r}")
            return Response(200, "", value)
        if name == "Incr" and len(args) == 1:
            value = int(stub.get_state(args[0]) or b"0") + 1
            stub.put_state(args[0], str(value).encode())
            stub.set_event("Incr", f"{args[0]}={value}".encode())
            return Response(200, "", str(value).encode())
        if name == "Delete" and len(args) == 1:
            stub.del_state(args[0])
            return Response(200, "")
        if name == "Scan" and len(args) == 2:
            keys = [k for k, _ in stub.get_state_by_range(args[0], args[1])]
            return Response(200, "", json.dumps(keys).encode())
        if name == "ScanAndPut" and len(args) == 4:
            keys = [k for k, _ in stub.get_state_by_range(args[0], args[1])]
            stub.put_state(args[2], args[3].encode())
            return Response(200, "", json.dumps(keys).encode())
        if name == "Refuse" and len(args) == 1:
            return Response(403, f"NotAuthorized: {args[0]}")
        return Response(400, f"UnknownFunction: no function {name!r} with {len(args)} argument(s)")


def router() -> CounterRouter:
    return CounterRouter()
