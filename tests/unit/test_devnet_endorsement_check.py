"""Devnet's VSCC (network.devnet.txcheck.EndorsementCheck): an endorsement counts only when its
signature verifies; the only signatures not re-verified are devnet's own over identical bytes."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.peer import proposal_response_pb2

from alliance.network_init import CertificateAuthority, cert_pem
from alliance.signing import EcdsaSigner
from network.devnet.endorser import EndorsementPolicy, PeerIdentity
from network.devnet.txcheck import EndorsementCheck
from network.protoutil import endorse, serialize_identity


def _peer(org: str) -> PeerIdentity:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = CertificateAuthority.create(org, f"ca.{org}")
    cert = ca.issue(key.public_key(), org=org, common_name=f"peer0.{org}", ou="peer")
    msp = f"{org.capitalize()}MSP"
    return PeerIdentity(msp, serialize_identity(msp, cert_pem(cert)), EcdsaSigner(key))


PEERS = {p.msp_id: p for p in (_peer("bank"), _peer("telecom"), _peer("platform"))}
BANK, TELECOM = PEERS["BankMSP"], PEERS["TelecomMSP"]


class Tx:
    """The two fields of an UnpackedTransaction the check reads."""

    def __init__(self, prp: bytes, *endorsements: proposal_response_pb2.Endorsement) -> None:
        self.prp_bytes = prp
        self.endorsements = endorsements


def _check() -> EndorsementCheck:
    return EndorsementCheck(PEERS, EndorsementPolicy.of(PEERS))


def _real(peer: PeerIdentity, prp: bytes) -> proposal_response_pb2.Endorsement:
    return endorse(prp, peer.serialized, peer.signer.sign)


def test_two_real_endorsements_satisfy_the_majority_policy() -> None:
    prp = b"payload"
    assert _check().satisfied(Tx(prp, _real(BANK, prp), _real(TELECOM, prp)))


def test_a_second_endorsement_with_random_bytes_does_not_count() -> None:
    prp = b"payload"
    forged = proposal_response_pb2.Endorsement(endorser=TELECOM.serialized, signature=b"\x30" * 70)
    assert not _check().satisfied(Tx(prp, _real(BANK, prp), forged))


def test_a_copied_signature_naming_another_peer_does_not_count() -> None:
    prp = b"payload"
    real = _real(BANK, prp)
    copied = proposal_response_pb2.Endorsement(
        endorser=TELECOM.serialized, signature=real.signature
    )
    assert not _check().satisfied(Tx(prp, real, copied))


def test_a_remembered_signature_skips_verification_only_on_identical_bytes() -> None:
    prp = b"payload"
    endorsements = (_real(BANK, prp), _real(TELECOM, prp))
    check = _check()
    check.remember(prp, endorsements)
    assert check.satisfied(Tx(prp, *endorsements))
    assert check.verified == 0
    # the same signatures over another payload are verified, and fail
    check.remember(prp, endorsements)
    assert not check.satisfied(Tx(b"other payload", *endorsements))
    assert check.verified == 2


def test_a_remembered_signature_cannot_be_moved_to_another_endorser() -> None:
    prp = b"payload"
    real = _real(BANK, prp)
    check = _check()
    check.remember(prp, (real,))
    moved = proposal_response_pb2.Endorsement(endorser=TELECOM.serialized, signature=real.signature)
    assert not check.satisfied(Tx(prp, real, moved))
