"""The governance contract served by devnet (chaincode.default_router) through the client."""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf import timestamp_pb2

from alliance.founding import found_charter, load_signed_charter
from network import protoutil
from network.errors import ContractRejected, EndorseError


def _spec(name: str) -> str:
    return json.dumps(
        {
            "name": name,
            "schema": [{"name": "id", "type": "string"}],
            "row_count": 3,
            "fingerprint": "sha256:" + "ab" * 32,
        }
    )


@pytest.fixture
def governed(devnet_factory):
    net = devnet_factory(router="")
    def submit(org: str, function: str, argument: str) -> bytes:
        with net.gateway(org, "admin") as gw:
            return net.contract(gw).submit_transaction(function, argument)

    found_charter(load_signed_charter(net.net_dir), submit, "bank")
    return net


def test_register_dataset_then_read_it_back(governed) -> None:
    with governed.gateway("bank", "admin") as gw:
        contract = governed.contract(gw)
        contract.submit_transaction("RegisterDataset", _spec("customers"))
        dataset = json.loads(contract.evaluate_transaction("GetDataset", "bank/customers"))
    assert dataset["owner"] == "bank" and dataset["row_count"] == 3


def test_contract_refusal_carries_its_error_class(governed) -> None:
    with governed.gateway("bank", "admin") as gw:
        contract = governed.contract(gw)
        contract.submit_transaction("RegisterDataset", _spec("twice"))
        with pytest.raises(ContractRejected) as info:
            contract.submit_transaction("RegisterDataset", _spec("twice"))
    assert info.value.error_type == "Conflict"
    assert "already registered" in info.value.reason


def test_a_proposal_outside_the_timewindow_is_refused(
    governed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every time rule reads the client-written timestamp; as Fabric's peers do
    # (peer.authentication.timewindow, 15 min), devnet refuses a proposal far from its clock.
    monkeypatch.setattr(protoutil, "now_timestamp", an_hour_ago)
    with governed.gateway("bank", "admin") as gw, pytest.raises(EndorseError) as info:
        governed.contract(gw).submit_transaction("RegisterDataset", _spec("backdated"))
    assert "incorrect timestamp" in str(info.value)
    assert "peer.authentication.timewindow 15m0s" in str(info.value)


def an_hour_ago() -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=int(time.time()) - 3600)


def _self_made_admin(msp_id: str):
    """An "admin" certificate claiming `msp_id`, self-signed: no CA of the channel issued it."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from alliance.identity import Identity
    from alliance.signing import EcdsaSigner

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Admin@{msp_id}")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return Identity(msp_id, cert.public_bytes(serialization.Encoding.PEM)), EcdsaSigner(key)


def test_one_founder_with_self_made_founder_certificates_founds_nothing(devnet_factory) -> None:
    # bank's real admin names self-made "admins" for the other founders, signs for them, and
    # lowers the threshold to 1%: the charter stays pending, and the self-made certificates
    # cannot accept it (the ledger's MSP refuses their transactions)
    from alliance.charter import Charter
    from alliance.founding import sign_charter
    from alliance.wallet import load_user

    net = devnet_factory(router="")
    honest = load_signed_charter(net.net_dir)
    charter = Charter.model_validate(honest.charter)
    bank = load_user(net.net_dir, "bank", "admin", net.passphrase)
    signers = {org: _self_made_admin(charter.members[org].msp_id)
               for org in charter.founders if org != "bank"}
    signers["bank"] = bank
    forged = Charter.model_validate({
        **charter.model_dump(), "membership_threshold_pct": 1,
        "founders": {org: identity.fingerprint for org, (identity, _) in signers.items()},
    })
    with net.gateway("bank", "admin") as gw:
        status = json.loads(net.contract(gw).submit_transaction(
            "InitCharter", sign_charter(forged, signers).to_json().decode()))
    assert status["state"] == "pending"
    with net.connect(*signers["telecom"]) as gw, pytest.raises(EndorseError) as info:
        net.contract(gw).submit_transaction("AcceptCharter", status["charter_hash"])
    assert not isinstance(info.value, ContractRejected)
    assert "not issued by the CA of TelecomMSP" in str(info.value)
    with net.gateway("telecom", "admin") as gw:
        with pytest.raises(ContractRejected) as refused:
            net.contract(gw).submit_transaction("AcceptCharter", status["charter_hash"])
        assert refused.value.error_type == "NotAuthorized"
        with pytest.raises(ContractRejected) as missing:
            net.contract(gw).evaluate_transaction("GetCharter")
        assert missing.value.error_type == "NotFound"
        assert "awaits acceptance by platform, regulator, telecom" in missing.value.reason
