"""Fabric message building and parsing: round trips, the tx id rule, hashes."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_response_pb2

from alliance.signing import EcdsaSigner, verify
from network import protoutil as pu

CERT = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"


def _proposal(**kw):
    creator = pu.serialize_identity("BankMSP", CERT)
    return pu.create_proposal("alliance", "alliance", "Put", [b"k", b"v"], creator, **kw), creator


def test_tx_id_is_sha256_of_nonce_and_creator() -> None:
    nonce = bytes(range(24))
    (_, tx_id), creator = _proposal(nonce=nonce)
    assert tx_id == hashlib.sha256(nonce + creator).hexdigest()
    assert pu.compute_tx_id(nonce, creator) == tx_id


def test_proposal_round_trip_as_fabric_gateway_builds_it() -> None:
    (proposal, tx_id), creator = _proposal(transient={"secret": b"s"})
    signer = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    signed = pu.sign_proposal(proposal.SerializeToString(), signer.sign)
    verify(signer.public_key, signed.proposal_bytes, signed.signature)
    up = pu.unpack_proposal(signed)
    assert up.tx_id == tx_id and up.channel_id == "alliance" and up.chaincode == "alliance"
    assert up.function == "Put" and up.args == (b"k", b"v")
    assert up.creator == creator and len(up.nonce) == pu.NONCE_LENGTH
    assert up.channel_header.type == common_pb2.HeaderType.ENDORSER_TRANSACTION
    assert up.cpp.TransientMap["secret"] == b"s"
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(up.cpp.input)
    assert spec.chaincode_spec.type == chaincode_pb2.ChaincodeSpec.Type.NODE
    assert pu.deserialize_identity(creator) == ("BankMSP", CERT)


def test_proposal_hash_ignores_transient_data() -> None:
    (p1, _), _ = _proposal(nonce=b"n" * 24, transient={"a": b"1"})
    up = pu.unpack_proposal(pu.sign_proposal(p1.SerializeToString(), lambda d: b"sig"))
    h = up.header
    expected = hashlib.sha256(
        h.channel_header + h.signature_header + pu.cpp_without_transient(up.cpp)
    ).digest()
    assert up.hash() == expected


def test_unpack_refuses_empty_and_garbage() -> None:
    from fabric_protos.peer import proposal_pb2

    with pytest.raises(pu.MalformedMessage):
        pu.unpack_proposal(proposal_pb2.SignedProposal())
    with pytest.raises(pu.MalformedMessage):
        pu.unpack_proposal(proposal_pb2.SignedProposal(proposal_bytes=b"\xff\xff"))


def test_prepared_transaction_round_trip() -> None:
    (proposal, tx_id), creator = _proposal(transient={"t": b"x"})
    up = pu.unpack_proposal(pu.sign_proposal(proposal.SerializeToString(), lambda d: b"sig"))
    rwset = pu.ReadWriteSet(
        "alliance", reads={"a": (1, 0), "b": None}, writes={"k": b"v", "gone": None}
    )
    response = proposal_response_pb2.Response(status=200, payload=b"result")
    events = pu.chaincode_event_bytes("alliance", tx_id, "Put", b"k")
    prp = pu.proposal_response_payload(
        up.hash(), response, rwset.to_bytes(), events, "alliance", "1.0"
    )
    peer = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    endorser = pu.serialize_identity("BankMSP", CERT)
    endorsement = pu.endorse(prp, endorser, peer.sign)
    verify(peer.public_key, prp + endorser, endorsement.signature)
    envelope = pu.prepare_transaction(up, prp, [endorsement])
    assert not envelope.signature
    tx = pu.unpack_transaction(pu.sign_envelope(envelope, peer.sign))
    assert tx.tx_id == tx_id and tx.creator == creator
    assert tx.action_header == up.header.signature_header
    assert tx.proposal_hash == tx.expected_proposal_hash() == up.hash()
    assert b"x" not in tx.cpp_bytes  # transient data never reaches the ledger
    assert pu.transaction_result(envelope) == b"result"
    assert pu.transaction_event(envelope).event_name == "Put"
    assert tx.endorsements[0].endorser == endorser
    [back] = pu.ReadWriteSet.from_bytes(tx.chaincode_action.results)
    assert back.reads == {"a": (1, 0), "b": None}
    assert back.writes == {"k": b"v", "gone": None}


def test_rwset_range_reads_round_trip() -> None:
    rr = pu.RangeRead("a", "b", True, (("a1", (2, 3)), ("a2", (4, 0))))
    rwset = pu.ReadWriteSet("cc", range_reads=[rr])
    [back] = pu.ReadWriteSet.from_bytes(rwset.to_bytes())
    assert back.range_reads == [rr]


def test_block_header_bytes_are_fabric_asn1() -> None:
    header = common_pb2.BlockHeader(number=1, previous_hash=b"\x01\x02", data_hash=b"\x03")
    # SEQUENCE { INTEGER 1, OCTET STRING 0102, OCTET STRING 03 }
    assert pu.block_header_bytes(header) == bytes.fromhex("300a02010104020102040103")
    big = common_pb2.BlockHeader(number=128, previous_hash=b"", data_hash=b"")
    assert pu.block_header_bytes(big) == bytes.fromhex("30080202008004000400")
    assert pu.block_header_hash(header) == hashlib.sha256(pu.block_header_bytes(header)).digest()


def test_new_block_hashes_data_and_records_codes() -> None:
    block = pu.new_block(3, b"prev", [b"tx1", b"tx2"], [0, 11])
    assert block.header.data_hash == hashlib.sha256(b"tx1tx2").digest()
    assert pu.block_tx_filter(block) == bytes([0, 11])
    assert len(block.metadata.metadata) == 5
    with pytest.raises(ValueError):
        pu.new_block(3, b"", [b"tx"], [])


def test_signed_requests_carry_identity_and_verify() -> None:
    from fabric_protos.gateway import gateway_pb2

    signer = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    ident = pu.serialize_identity("BankMSP", CERT)
    signed = pu.signed_commit_status_request("alliance", "tx", ident, signer.sign)
    verify(signer.public_key, signed.request, signed.signature)
    assert gateway_pb2.CommitStatusRequest.FromString(signed.request).identity == ident
    ev = pu.signed_chaincode_events_request(
        "alliance", "cc", ident, signer.sign, start_block=5, after_tx_id="t"
    )
    req = gateway_pb2.ChaincodeEventsRequest.FromString(ev.request)
    assert req.start_position.specified.number == 5 and req.after_transaction_id == "t"
    nxt = pu.signed_chaincode_events_request("alliance", "cc", ident, signer.sign)
    assert gateway_pb2.ChaincodeEventsRequest.FromString(nxt.request).start_position.HasField(
        "next_commit"
    )
