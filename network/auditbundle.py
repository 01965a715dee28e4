"""An audit bundle of one job: the chain's block headers, the full blocks that hold the job's
transactions (and those that wrote the charter, the membership, revocations and the job's input
datasets), the members' CA roots, and the charter and job records as the blocks last wrote them.

`python -m alliance.verify BUNDLE` checks it offline (alliance/verify/)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from fabric_protos.common import common_pb2

from alliance.msp import MspRegistry
from chaincode import keys
from network.protoutil import MalformedMessage, ReadWriteSet, unpack_transaction

FORMAT = "alliance-audit-bundle/1"


def _relevant(key: str, job_key: str, dataset_keys: set[str]) -> bool:
    return (
        key == job_key
        or key == keys.CHARTER
        or key in dataset_keys
        or key.startswith(keys.revoked_certs_range()[0])
        or key.startswith(keys.members_range()[0])
    )


def build_bundle(
    blocks: Iterable[common_pb2.Block],
    registry: MspRegistry,
    job_id: str,
    input_datasets: list[str],
    *,
    channel: str,
    chaincode: str,
    exported_at: int,
) -> dict[str, Any]:
    """The bundle as JSON-able data; the job's record and the charter are the blocks' last
    writes of their keys (a verifier compares them with the blocks again)."""
    job_key = keys.job(job_id)
    dataset_keys = {keys.dataset(*d.split("/", 1)) for d in input_datasets}
    headers: list[dict[str, Any]] = []
    full: dict[str, str] = {}
    transactions: list[dict[str, Any]] = []
    last: dict[str, bytes] = {}
    for block in blocks:
        h = block.header
        headers.append({"number": h.number, "previous_hash": h.previous_hash.hex(),
                        "data_hash": h.data_hash.hex()})
        codes = block.metadata.metadata[common_pb2.BlockMetadataIndex.TRANSACTIONS_FILTER]
        for index, raw in enumerate(block.data.data):
            if index >= len(codes) or codes[index] != 0:
                continue
            try:
                tx = unpack_transaction(common_pb2.Envelope.FromString(raw))
            except MalformedMessage:
                continue
            if tx.chaincode != chaincode:
                continue
            writes = {}
            for rwset in ReadWriteSet.from_bytes(tx.chaincode_action.results):
                if rwset.namespace == chaincode:
                    writes.update(rwset.writes)
            touched = [k for k in writes if _relevant(k, job_key, dataset_keys)]
            if not touched:
                continue
            for key in touched:
                if writes[key] is not None:
                    last[key] = writes[key]  # type: ignore[assignment]
            full[str(h.number)] = base64.b64encode(block.SerializeToString()).decode()
            transactions.append({"block": h.number, "index": index, "tx_id": tx.tx_id})
    if job_key not in last:
        raise LookupError(f"no block writes job {job_id}")
    return {
        "format": FORMAT,
        "channel": channel,
        "chaincode": chaincode,
        "job_id": job_id,
        "exported_at": exported_at,
        "headers": headers,
        "blocks": full,
        "transactions": transactions,
        "msps": {
            msp_id: [pem.decode() for pem in registry.get(msp_id).root_certs]
            for msp_id in registry.msp_ids()
        },
        "charter": json.loads(last[keys.CHARTER]),
        "job": json.loads(last[job_key]),
    }
