"""The Gateway client against devnet as a real process over TLS: the happy paths and how
refusals surface."""

from __future__ import annotations

import json

import pytest

from network.errors import ContractRejected, EndorseError, Unavailable
from network.gateway import connect


def test_submit_then_evaluate_reads_committed_value(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        assert contract.submit_transaction("Put", "colour", "blue") == b"blue"
        assert contract.evaluate_transaction("Get", "colour") == b"blue"


def test_commit_status_names_block_and_validity(devnet) -> None:
    with devnet.gateway() as gw:
        proposal = devnet.contract(gw).new_proposal("Put", ["k", "v"])
        transaction = proposal.endorse()
        assert transaction.result == b"v"
        status = transaction.submit().status()
    assert status.tx_id == proposal.tx_id
    assert status.successful and status.code_name == "VALID"
    assert status.block_number >= 1


def test_evaluate_writes_nothing(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        contract.evaluate_transaction("Put", "ghost", "boo")
        with pytest.raises(ContractRejected) as info:
            contract.evaluate_transaction("Get", "ghost")
    assert info.value.error_type == "NotFound"


def test_contract_refusal_surfaces_class_and_message(devnet) -> None:
    with devnet.gateway() as gw, pytest.raises(ContractRejected) as info:
        devnet.contract(gw).submit_transaction("Refuse", "only admins may do this")
    err = info.value
    assert isinstance(err, EndorseError)
    assert err.error_type == "NotAuthorized"
    assert err.reason == "only admins may do this"
    assert err.status == 403
    assert err.tx_id and err.details and err.details[0].msp_id == "BankMSP"


def test_contract_refusal_on_evaluate(devnet) -> None:
    with devnet.gateway() as gw, pytest.raises(ContractRejected) as info:
        devnet.contract(gw).evaluate_transaction("Refuse", "no")
    assert str(info.value) == "NotAuthorized: no"


def test_range_scan_and_delete(devnet) -> None:
    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        for key in ("a1", "a2", "b1"):
            contract.submit_transaction("Put", key, "x")
        contract.submit_transaction("Delete", "a2")
        assert json.loads(contract.evaluate_transaction("Scan", "a", "b")) == ["a1"]


def test_unreachable_gateway_is_unavailable(devnet) -> None:
    with devnet.gateway() as gw:
        identity, signer = gw.identity, gw.signer
    gw2 = connect("127.0.0.1:1", identity=identity, signer=signer, tls_root_certs=b"")
    with gw2, pytest.raises(Unavailable):
        gw2.get_network("alliance").get_contract("alliance").evaluate_transaction("Get", "k")


def test_many_threads_submit_concurrently(devnet) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with devnet.gateway() as gw:
        contract = devnet.contract(gw)
        with ThreadPoolExecutor(16) as pool:
            results = list(
                pool.map(lambda i: contract.submit_transaction("Put", f"t{i}", str(i)), range(64))
            )
        assert results == [str(i).encode() for i in range(64)]
        assert contract.evaluate_transaction("Get", "t63") == b"63"


def test_qscc_answers_chain_info_and_transactions(devnet) -> None:
    from fabric_protos.common import common_pb2, ledger_pb2
    from fabric_protos.peer import transaction_pb2

    with devnet.gateway() as gw:
        network = gw.get_network("alliance")
        proposal = devnet.contract(gw).new_proposal("Put", ["audited", "v"])
        status = proposal.endorse().submit().status()
        qscc = network.get_contract("qscc")
        info = ledger_pb2.BlockchainInfo.FromString(
            qscc.evaluate_transaction("GetChainInfo", "alliance")
        )
        processed = transaction_pb2.ProcessedTransaction.FromString(
            qscc.evaluate_transaction("GetTransactionByID", "alliance", proposal.tx_id)
        )
        block = common_pb2.Block.FromString(
            qscc.evaluate_transaction("GetBlockByTxID", "alliance", proposal.tx_id)
        )
        by_number = common_pb2.Block.FromString(
            qscc.evaluate_transaction("GetBlockByNumber", "alliance", str(status.block_number))
        )
        with pytest.raises(ContractRejected) as missing:
            qscc.evaluate_transaction("GetTransactionByID", "alliance", "ff" * 32)
        with pytest.raises(EndorseError):
            qscc.submit_transaction("GetChainInfo", "alliance")
    assert info.height == status.block_number + 1
    assert processed.validationCode == 0
    assert block.header.number == by_number.header.number == status.block_number
    assert "no such transaction ID" in str(missing.value)
