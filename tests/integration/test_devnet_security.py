"""Every signature and identity rule of devnet, each tried by someone trying to break it."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from alliance.identity import Identity
from alliance.signing import P256_ORDER, EcdsaSigner
from network.errors import (
    CommitError,
    CommitStatusError,
    ContractRejected,
    EndorseError,
    SubmitError,
)
from network.gateway.commit import Commit
from network.gateway.transaction import submit_envelope
from network.protoutil import ReadWriteSet, deserialize_identity, sign_envelope


class HighS:
    """Signs correctly, then flips S to the high half: a valid ECDSA signature Fabric refuses."""

    def __init__(self, signer: EcdsaSigner) -> None:
        self._signer = signer

    def sign(self, digest: bytes) -> bytes:
        r, s = decode_dss_signature(self._signer.sign(digest))
        return encode_dss_signature(r, P256_ORDER - s)


def _foreign_identity(msp_id: str) -> tuple[Identity, EcdsaSigner]:
    """A certificate claiming `msp_id`, issued by a CA that MSP never heard of."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # noqa: E731
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("mallory"))
        .issuer_name(name("ca.bank"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return Identity(msp_id, cert.public_bytes(serialization.Encoding.PEM)), EcdsaSigner(key)


def _endorse_error(devnet, identity, signer) -> EndorseError:
    with devnet.connect(identity, signer) as gw, pytest.raises(EndorseError) as info:
        devnet.contract(gw).submit_transaction("Put", "k", "v")
    assert not isinstance(info.value, ContractRejected)
    return info.value


def test_signature_by_another_key_is_rejected(devnet) -> None:
    with devnet.gateway() as gw:
        identity = gw.identity
    err = _endorse_error(devnet, identity, EcdsaSigner(ec.generate_private_key(ec.SECP256R1())))
    assert "signature over the proposal is not valid" in str(err)


def test_high_s_signature_is_rejected(devnet) -> None:
    with devnet.gateway() as gw:
        identity, signer = gw.identity, gw.signer
    err = _endorse_error(devnet, identity, HighS(signer))
    assert "high-S" in str(err)


def test_certificate_from_unknown_ca_is_rejected(devnet) -> None:
    identity, signer = _foreign_identity("BankMSP")
    err = _endorse_error(devnet, identity, signer)
    assert "not issued by the CA of BankMSP" in str(err)


def test_unknown_msp_is_rejected(devnet) -> None:
    identity, signer = _foreign_identity("EvilMSP")
    err = _endorse_error(devnet, identity, signer)
    assert "unknown MSP id 'EvilMSP'" in str(err)


def test_replayed_envelope_is_committed_as_duplicate_and_changes_nothing(devnet) -> None:
    # As on Fabric: the orderer takes the replay; the committer marks it DUPLICATE_TXID.
    from network.deliver import BlockReader, block_transactions

    with devnet.gateway() as gw:
        transaction = devnet.contract(gw).new_proposal("Put", ["once", "1"]).endorse()
        envelope = transaction.signed_envelope()
        submit_envelope(gw, "alliance", transaction.tx_id, envelope)
        submit_envelope(gw, "alliance", transaction.tx_id, envelope)  # still pending
        first = Commit(gw, "alliance", transaction.tx_id).status()
        submit_envelope(gw, "alliance", transaction.tx_id, envelope)  # already committed
        devnet.contract(gw).submit_transaction("Put", "after", "1")  # a later block
        reader = BlockReader(gw, "alliance")
        txs = [
            t for b in reader.blocks("oldest", "newest", wait=False) for t in block_transactions(b)
        ]
    assert first.successful
    codes = [t.code_name for t in txs if t.tx_id == transaction.tx_id]
    assert codes == ["VALID", "DUPLICATE_TXID", "DUPLICATE_TXID"]


def test_replayed_proposal_of_committed_tx_is_not_endorsed(devnet) -> None:
    with devnet.gateway() as gw:
        proposal = devnet.contract(gw).new_proposal("Put", ["p", "1"])
        proposal.endorse().submit().require_success()
        with pytest.raises(EndorseError) as info:
            proposal.endorse()
    assert "duplicate transaction found" in str(info.value)


def _tamper_write(envelope: common_pb2.Envelope, value: bytes) -> common_pb2.Envelope:
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload
    )
    action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    [rwset] = ReadWriteSet.from_bytes(action.results)
    rwset.writes = {k: value for k in rwset.writes}
    action.results = rwset.to_bytes()
    prp.extension = action.SerializeToString()
    cap.action.proposal_response_payload = prp.SerializeToString()
    tx.actions[0].payload = cap.SerializeToString()
    payload.data = tx.SerializeToString()
    return common_pb2.Envelope(payload=payload.SerializeToString())


def test_write_set_changed_after_endorsement_commits_invalid_and_writes_nothing(devnet) -> None:
    # As on Fabric: the orderer takes it, the committer marks it ENDORSEMENT_POLICY_FAILURE.
    with devnet.gateway() as gw:
        transaction = devnet.contract(gw).new_proposal("Put", ["balance", "10"]).endorse()
        forged = sign_envelope(_tamper_write(transaction.prepared, b"1000000"), gw.sign)
        submit_envelope(gw, "alliance", transaction.tx_id, forged)
        status = Commit(gw, "alliance", transaction.tx_id).status()
        assert status.code_name == "ENDORSEMENT_POLICY_FAILURE"
        with pytest.raises(ContractRejected):  # never written
            devnet.contract(gw).evaluate_transaction("Get", "balance")


def test_one_org_alone_cannot_satisfy_the_endorsement_policy(devnet) -> None:
    with devnet.gateway() as gw:
        proposal = devnet.contract(gw).new_proposal(
            "Put", ["alone", "1"], endorsing_organizations=["BankMSP"]
        )
        with pytest.raises(CommitError) as info:
            proposal.endorse().submit().require_success()
    assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE"


def test_an_auditors_endorsement_does_not_count(devnet) -> None:
    with devnet.gateway() as gw:
        proposal = devnet.contract(gw).new_proposal(
            "Put", ["audited", "1"], endorsing_organizations=["BankMSP", "RegulatorMSP"]
        )
        with pytest.raises(CommitError) as info:
            proposal.endorse().submit().require_success()
    assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE"


def test_a_majority_of_members_endorses_by_default(devnet) -> None:
    with devnet.gateway("telecom") as gw:
        transaction = devnet.contract(gw).new_proposal("Put", ["majority", "1"]).endorse()
        envelope = transaction.prepared
        transaction.submit().require_success()
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    endorsers = [deserialize_identity(e.endorser)[0] for e in cap.action.endorsements]
    assert endorsers[0] == "TelecomMSP"  # the client's own org first
    assert len(set(endorsers)) == 2  # 2 of the 3 voting members (bank, platform, telecom)


def test_envelope_signed_by_another_key_is_rejected(devnet) -> None:
    with devnet.gateway() as gw:
        transaction = devnet.contract(gw).new_proposal("Put", ["k", "v"]).endorse()
        other = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
        forged = sign_envelope(transaction.prepared, other.sign)
        with pytest.raises(SubmitError) as info:
            submit_envelope(gw, "alliance", transaction.tx_id, forged)
    assert "FORBIDDEN" in str(info.value) and "signature" in str(info.value)


def test_commit_status_needs_a_valid_signature(devnet) -> None:
    with devnet.gateway() as gw:
        identity = gw.identity
    bad = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    with devnet.connect(identity, bad) as gw:
        from network.gateway.commit import Commit

        with pytest.raises(CommitStatusError) as info:
            Commit(gw, "alliance", "00" * 32).status(timeout=5)
    assert info.value.code == "PERMISSION_DENIED"


def _org_ca(net_dir, org: str, passphrase: bytes):
    from alliance.keystore import load_private_key

    ca_dir = net_dir / "orgs" / org / "ca"
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    return cert, load_private_key(ca_dir / "ca.key", passphrase)


def test_expired_certificate_from_the_right_ca_is_rejected(devnet) -> None:
    ca_cert, ca_key = _org_ca(devnet.net_dir, "bank", devnet.passphrase)
    key = ec.generate_private_key(ec.SECP256R1())
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "old.bank"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(past)
        .not_valid_after(past + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    identity = Identity("BankMSP", cert.public_bytes(serialization.Encoding.PEM))
    err = _endorse_error(devnet, identity, EcdsaSigner(key))
    assert "expired" in str(err)


def test_certificate_revoked_while_devnet_runs_is_rejected(devnet) -> None:
    import time

    from alliance.msp import revoke_certificate

    with devnet.gateway("telecom", "client") as gw:
        contract = devnet.contract(gw)
        contract.submit_transaction("Put", "before", "ok")
        revoke_certificate(devnet.net_dir, "telecom", gw.identity.certificate, devnet.passphrase)
        deadline = time.monotonic() + 60
        while True:
            try:
                contract.submit_transaction("Put", "after", "no")
            except (EndorseError, SubmitError, CommitStatusError) as exc:
                # the endorser refuses the revoked creator; or, when devnet read the new CRL
                # while this proposal was on its way, the orderer refuses it, or (it was
                # ordered just before) the request for its commit status is refused
                assert "revoked" in str(exc)
                break
            assert time.monotonic() < deadline, "revocation never took effect"
            time.sleep(0.2)
        with pytest.raises(EndorseError, match="revoked"):  # from then on, at the first step
            contract.submit_transaction("Put", "later", "no")
