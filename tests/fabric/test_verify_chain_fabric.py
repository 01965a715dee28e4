"""`audit verify-chain` over a real Fabric peer's chain, through the same Deliver reader and the
same checks as devnet's: Fabric's genesis config block, its orderer's block signatures, the
lifecycle transactions that deployed the contract, and the contract replayed; a flipped byte in
an orderer signature is named."""

from __future__ import annotations

from conftest import Fabric, dataset_spec
from fabric_protos.common import common_pb2

from alliance.app.audit import verify_chain
from alliance.app.session import open_session
from alliance.msp import MspRegistry
from chaincode import default_router
from network.chainverify import ChainVerifier
from network.connection import record_engine
from network.deliver import BlockReader


def _blocks(fabric: Fabric, name: str) -> list[common_pb2.Block]:
    with fabric.gateway("bank") as gw:
        fabric.contract(gw).submit_transaction("RegisterDataset", dataset_spec(name))
        reader = BlockReader(gw, fabric.network.channel)
        return list(reader.blocks("oldest", reader.height() - 1, wait=False))


def test_fabrics_chain_verifies_with_orderer_signatures(fabric: Fabric) -> None:
    blocks = _blocks(fabric, "verified")
    record_engine(fabric.net_dir, "fabric")  # the session fixture started Fabric directly
    with open_session(fabric.net_dir, "regulator") as s:
        report = verify_chain(s)
    assert report.findings == [], "\n".join(str(f.to_dict()) for f in report.findings)
    assert report.height >= len(blocks)
    assert report.orderer_signatures >= len(blocks) - 1  # every block but the genesis block
    assert report.replayed >= 2  # InitCharter and the dataset, at least


def test_a_flipped_byte_in_an_orderer_signature_is_named(fabric: Fabric) -> None:
    blocks = _blocks(fabric, "signed")
    index = common_pb2.BlockMetadataIndex.SIGNATURES
    block = blocks[-1]
    metadata = common_pb2.Metadata.FromString(block.metadata.metadata[index])
    signature = bytearray(metadata.signatures[0].signature)
    signature[10] ^= 0x01
    metadata.signatures[0].signature = bytes(signature)
    block.metadata.metadata[index] = metadata.SerializeToString()
    verifier = ChainVerifier(MspRegistry.from_network(fabric.net_dir), default_router,
                             fabric.network.chaincode, fabric.network.channel)
    for b in blocks:
        verifier.feed(b)
    assert [(f.block, f.check) for f in verifier.report.findings] == [
        (block.header.number, "orderer-signature")
    ]
