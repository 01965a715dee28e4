"""Fabric's `gateway.Gateway` gRPC service, served by devnet with Fabric's status codes and texts.

How failures look (as Fabric's gateway shapes them, `internal/pkg/gateway/*.go`; the codes are
checked against a real peer's by tests/conformance_oracle.json):
- Refused by the gateway before any peer: a proposal that does not parse INVALID_ARGUMENT; an
  unknown channel UNAVAILABLE at Evaluate, FAILED_PRECONDITION at Endorse; an unknown chaincode
  FAILED_PRECONDITION.
- Endorse refused by the peer (bad signature, unknown CA, wrong NodeOU, epoch, nonce, tx id,
  timestamp, duplicate tx id, contract refusal): ABORTED "failed to endorse transaction, see
  attached details for more info", with one `ErrorDetail(address, msp_id, message)`; a contract
  refusal's message is "chaincode response <status>, <ErrorClass>: <text>".
- Evaluate: the peer's message after "evaluate call to endorser returned error: " (UNKNOWN for
  a contract refusal, FAILED_PRECONDITION for a proposal the peer refused), with the detail;
  UNAVAILABLE "failed to evaluate transaction" when the peer's auth filters refused (an expired
  identity, a timestamp outside the window).
- Submit refused by the orderer: ABORTED "received unsuccessful response from orderer:
  status=<FORBIDDEN|BAD_REQUEST>, info=<why>"; a SubmitRequest naming an unknown channel:
  FAILED_PRECONDITION. Everything the orderer takes is committed with a validation code,
  a replayed transaction as DUPLICATE_TXID (network.devnet.txcheck).
- CommitStatus / ChaincodeEvents with a bad identity or signature, an identity outside the
  channel's Readers, or an unknown channel: PERMISSION_DENIED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2

from network.devnet import acl, qscc
from network.devnet.acl import PolicyNotSatisfied
from network.devnet.endorser import ERROR_THRESHOLD, Endorsed, UnknownEndorser
from network.devnet.ledger import DevnetLedger, Rejected
from network.devnet.msp import AccessDenied, Creator, certificate_expired
from network.errors import ErrorDetail
from network.protoutil import (
    MalformedMessage,
    UnpackedProposal,
    compute_tx_id,
    prepare_transaction,
    unpack_proposal,
)
from network.rpcstatus import STATUS_DETAILS_KEY, encode_status

log = logging.getLogger("network.devnet")

EVENTS_CHUNK = 200

_ORDERER_STATUS = {
    "forbidden": "FORBIDDEN",
    "bad_request": "BAD_REQUEST",
    "not_found": "NOT_FOUND",
}


TIMEWINDOW_SECONDS = 15 * 60
"""Fabric's `peer.authentication.timewindow` default: how far a proposal's client-written
timestamp may be from the peer's clock. Every time rule of the contract reads that timestamp."""


def timewindow_refusal(proposal_seconds: int, now: float) -> str | None:
    """Fabric's timewindow auth filter: the refusal message, or None when within the window."""
    if abs(proposal_seconds - now) <= TIMEWINDOW_SECONDS:
        return None

    def rfc3339(seconds: float) -> str:
        return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return (
        f"request unauthorized due to incorrect timestamp {rfc3339(proposal_seconds)}, peer time "
        f"{rfc3339(now)}, peer.authentication.timewindow {TIMEWINDOW_SECONDS // 60}m0s"
    )


class _PeerRefusal(Exception):
    """The endorsing peer refused the proposal before running the contract.

    `filtered`: refused by one of the peer's auth filters (expired identity, timewindow), which
    answer with a gRPC error instead of a proposal response; Fabric's gateway then reports an
    Evaluate as UNAVAILABLE ("failed to evaluate transaction") after trying the other peers."""

    def __init__(self, message: str, *, filtered: bool = False) -> None:
        super().__init__(message)
        self.filtered = filtered


class _GatewayRefusal(Exception):
    """The gateway itself refused the request before asking any peer."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _gateway_unpack(signed: proposal_pb2.SignedProposal) -> tuple[str, str]:
    """(channel, chaincode) as Fabric's gateway reads them; MalformedMessage if it cannot."""
    if not signed.proposal_bytes:
        raise MalformedMessage("a signed proposal is required")
    try:
        proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        chdr = common_pb2.ChannelHeader.FromString(header.channel_header)
        cpp = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(cpp.input)
    except Exception as exc:
        raise MalformedMessage(f"error unmarshalling Proposal: {exc}") from exc
    return chdr.channel_id, spec.chaincode_spec.chaincode_id.name


async def _abort(
    context: grpc.aio.ServicerContext,
    code: grpc.StatusCode,
    message: str,
    details: tuple[ErrorDetail, ...] = (),
) -> None:
    trailers = ()
    if details:
        trailers = ((STATUS_DETAILS_KEY, encode_status(code.value[0], message, details)),)
    await context.abort(code, message, trailing_metadata=trailers)


class GatewayService(gateway_pb2_grpc.GatewayServicer):
    def __init__(self, ledger: DevnetLedger, address: str) -> None:
        self.ledger = ledger
        self.address = address

    # -- proposals ------------------------------------------------------------------------------

    def _check_proposal(
        self, signed: proposal_pb2.SignedProposal
    ) -> tuple[UnpackedProposal, Creator]:
        """The endorser's auth filters and preProcess: unpack, header checks, creator and
        signature, duplicates, the Propose ACL."""
        try:
            proposal = unpack_proposal(signed)
        except MalformedMessage as exc:
            raise _PeerRefusal(f"error validating proposal: {exc}") from exc
        now = time.time()
        if certificate_expired(proposal.creator, now):
            raise _PeerRefusal("proposal client identity expired", filtered=True)
        refusal = timewindow_refusal(proposal.channel_header.timestamp.seconds, now)
        if refusal:
            raise _PeerRefusal(refusal, filtered=True)
        if proposal.channel_header.epoch != 0:
            raise _PeerRefusal("error validating proposal: epoch is non-zero")
        if not proposal.nonce:
            raise _PeerRefusal("error validating proposal: nonce is empty")
        if not proposal.creator:
            raise _PeerRefusal("error validating proposal: creator is empty")
        if compute_tx_id(proposal.nonce, proposal.creator) != proposal.tx_id:
            raise _PeerRefusal(
                f"error validating proposal: incorrectly computed txid '{proposal.tx_id}' -- "
                f"expected '{compute_tx_id(proposal.nonce, proposal.creator)}'"
            )
        try:
            creator = self.ledger.validator.verify(
                proposal.creator, signed.proposal_bytes, signed.signature, "proposal"
            )
        except AccessDenied as exc:
            raise _PeerRefusal(
                f"error validating proposal: access denied: channel [{proposal.channel_id}]: {exc}"
            ) from exc
        if self.ledger.is_known_tx(proposal.tx_id):
            raise _PeerRefusal(f"duplicate transaction found [{proposal.tx_id}]")
        policy = acl.QSCC if proposal.chaincode == qscc.NAME else acl.PROPOSE
        try:
            self.ledger.acl.check(policy, creator.msp_id, creator.identity.role)
        except PolicyNotSatisfied as exc:
            raise _PeerRefusal(f"access denied for [propose]: {exc}") from exc
        return proposal, creator

    def _gateway_checks(self, signed: proposal_pb2.SignedProposal, *, evaluate: bool) -> None:
        """What Fabric's gateway checks before choosing a peer: the proposal parses, its channel
        exists and its chaincode is defined there."""
        try:
            channel, chaincode = _gateway_unpack(signed)
        except MalformedMessage as exc:
            prefix = "failed to unpack transaction proposal: " if evaluate else ""
            raise _GatewayRefusal(grpc.StatusCode.INVALID_ARGUMENT, prefix + str(exc)) from exc
        if channel != self.ledger.channel_id:
            if evaluate:
                raise _GatewayRefusal(
                    grpc.StatusCode.UNAVAILABLE,
                    f"failed to get config for channel [{channel}]: could not get last config "
                    f"for channel {channel}",
                )
            raise _GatewayRefusal(
                grpc.StatusCode.FAILED_PRECONDITION,
                "no combination of peers can be derived which satisfy the endorsement policy: "
                f"No metadata was found for chaincode {chaincode} in channel {channel}",
            )
        if chaincode not in (self.ledger.chaincode, qscc.NAME):
            if evaluate:
                message = (
                    f"no peers available to evaluate chaincode {chaincode} in channel {channel}"
                )
            else:
                message = (
                    "no combination of peers can be derived which satisfy the endorsement "
                    f"policy: No metadata was found for chaincode {chaincode} in channel {channel}"
                )
            raise _GatewayRefusal(grpc.StatusCode.FAILED_PRECONDITION, message)

    async def _endorse_refused(
        self, context: grpc.aio.ServicerContext, msp_id: str, message: str
    ) -> None:
        """Fabric's gateway answer when its endorsing peer refuses: ABORTED plus the detail."""
        await _abort(
            context,
            grpc.StatusCode.ABORTED,
            "failed to endorse transaction, see attached details for more info",
            (self._detail(msp_id, message),),
        )

    def _detail(self, msp_id: str, message: str) -> ErrorDetail:
        return ErrorDetail(address=self.address, msp_id=msp_id, message=message)

    async def Evaluate(
        self, request: gateway_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EvaluateResponse:
        peer_msp = self.ledger.endorser.peer_for("").msp_id
        try:
            self._gateway_checks(request.proposed_transaction, evaluate=True)
            proposal, creator = self._check_proposal(request.proposed_transaction)
        except _GatewayRefusal as exc:
            await _abort(context, exc.code, exc.message)
            raise AssertionError("unreachable") from exc
        except _PeerRefusal as exc:
            message = str(exc)
            if exc.filtered:
                code, text = (
                    grpc.StatusCode.UNAVAILABLE,
                    "failed to evaluate transaction, see attached details for more info",
                )
            else:
                code, text = (
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "evaluate call to endorser returned error: " + message,
                )
            await _abort(context, code, text, (self._detail(peer_msp, message),))
            raise AssertionError("unreachable") from exc
        if proposal.chaincode == qscc.NAME:
            ledger = self.ledger
            response = qscc.invoke(
                ledger.store,
                ledger.channel_id,
                ledger.height,
                ledger.last_hash,
                proposal.function,
                list(proposal.args),
            )
            ok = response.status < ERROR_THRESHOLD
        else:
            simulated = self.ledger.endorser.simulate(proposal, creator)
            response, ok = simulated.response, simulated.ok
        if not ok:
            message = f"chaincode response {response.status}, {response.message}"
            peer = self.ledger.endorser.peer_for(creator.msp_id)
            await _abort(
                context,
                grpc.StatusCode.UNKNOWN,
                "evaluate call to endorser returned error: " + message,
                (self._detail(peer.msp_id, message),),
            )
        return gateway_pb2.EvaluateResponse(result=response)

    async def Endorse(
        self, request: gateway_pb2.EndorseRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EndorseResponse:
        peer_msp = self.ledger.endorser.peer_for("").msp_id
        try:
            self._gateway_checks(request.proposed_transaction, evaluate=False)
            proposal, creator = self._check_proposal(request.proposed_transaction)
        except _GatewayRefusal as exc:
            await _abort(context, exc.code, exc.message)
            raise AssertionError("unreachable") from exc
        except _PeerRefusal as exc:
            await self._endorse_refused(context, peer_msp, str(exc))
            raise AssertionError("unreachable") from exc
        if proposal.chaincode == qscc.NAME:
            await self._endorse_refused(
                context, peer_msp, "qscc is a query system chaincode: evaluate it"
            )
        try:
            result = self.ledger.endorser.endorse(
                proposal, creator, tuple(request.endorsing_organizations)
            )
        except UnknownEndorser as exc:
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "failed to select a set of endorsers that satisfy the endorsement policy",
                (self._detail(peer_msp, str(exc)),),
            )
            raise AssertionError("unreachable") from exc
        if not isinstance(result, Endorsed):
            response = result.response
            peer = self.ledger.endorser.peer_for(creator.msp_id)
            await self._endorse_refused(
                context, peer.msp_id, f"chaincode response {response.status}, {response.message}"
            )
            raise AssertionError("unreachable")
        self.ledger.remember_endorsement(result.prp_bytes, result.endorsements)
        envelope = prepare_transaction(proposal, result.prp_bytes, result.endorsements)
        return gateway_pb2.EndorseResponse(prepared_transaction=envelope)

    # -- ordering -------------------------------------------------------------------------------

    async def Submit(
        self, request: gateway_pb2.SubmitRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.SubmitResponse:
        if not request.HasField("prepared_transaction"):
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "a prepared transaction is required"
            )
        try:
            self.ledger.submit(request.prepared_transaction, request.channel_id)
        except Rejected as exc:
            if exc.kind == "invalid":
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, exc.message)
            elif exc.kind == "no_channel":
                await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, exc.message)
            elif exc.kind == "unavailable":
                await _abort(context, grpc.StatusCode.UNAVAILABLE, exc.message)
            await _abort(
                context,
                grpc.StatusCode.ABORTED,
                "received unsuccessful response from orderer: "
                f"status={_ORDERER_STATUS.get(exc.kind, 'BAD_REQUEST')}, info={exc.message}",
            )
        return gateway_pb2.SubmitResponse()

    # -- signed reads ---------------------------------------------------------------------------

    async def _check_signed(
        self,
        context: grpc.aio.ServicerContext,
        identity: bytes,
        request: bytes,
        signature: bytes,
        channel_id: str,
        what: str,
        policy: acl.Policy = acl.COMMIT_STATUS,
    ) -> None:
        if not identity:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "no identity provided")
        if not channel_id:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "no channel ID provided")
        if channel_id != self.ledger.channel_id:
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"Failed to get policy manager for channel [{channel_id}]",
            )
        try:
            creator = self.ledger.validator.verify(identity, request, signature, what)
            self.ledger.acl.check(policy, creator.msp_id, creator.identity.role)
        except (AccessDenied, PolicyNotSatisfied) as exc:
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"access denied: channel [{channel_id}]: {exc}",
            )

    async def CommitStatus(
        self, signed: gateway_pb2.SignedCommitStatusRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CommitStatusResponse:
        if not signed.request:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "a commit status request is required"
            )
        try:
            request = gateway_pb2.CommitStatusRequest.FromString(signed.request)
        except Exception as exc:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"invalid status request: {exc}"
            )
            raise AssertionError("unreachable") from exc
        if not request.transaction_id:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "transaction ID should not be empty"
            )
        await self._check_signed(
            context,
            request.identity,
            signed.request,
            signed.signature,
            request.channel_id,
            "commit status request",
        )
        status = await self.ledger.wait_for_commit(request.transaction_id)
        return gateway_pb2.CommitStatusResponse(
            result=status.code, block_number=status.block_number
        )

    async def ChaincodeEvents(
        self, signed: gateway_pb2.SignedChaincodeEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.ChaincodeEventsResponse]:
        if not signed.request:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "a chaincode events request is required"
            )
        try:
            request = gateway_pb2.ChaincodeEventsRequest.FromString(signed.request)
        except Exception as exc:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid chaincode events request: {exc}",
            )
            raise AssertionError("unreachable") from exc
        await self._check_signed(
            context,
            request.identity,
            signed.request,
            signed.signature,
            request.channel_id,
            "chaincode events request",
            acl.CHAINCODE_EVENTS,
        )
        ledger = self.ledger
        start = None
        if request.after_transaction_id:
            found = ledger.tx_status(request.after_transaction_id)
            if found is not None:
                start = found.block_number
        if start is None:
            kind = request.start_position.WhichOneof("Type")
            if kind == "specified":
                start = request.start_position.specified.number
            elif kind in (None, "next_commit"):
                start = ledger.height
            else:
                await _abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"invalid start position type: {kind} (use next_commit or specified)",
                )
        after = request.after_transaction_id
        passed = not after
        next_block = start or 0
        while True:
            height = ledger.height
            if next_block >= height:
                await ledger.wait_for_height(next_block)
                continue
            last = min(height - 1, next_block + EVENTS_CHUNK - 1)
            by_block: dict[int, list[chaincode_event_pb2.ChaincodeEvent]] = {}
            for ev in ledger.store.events(next_block, last, request.chaincode_id):
                if not passed:
                    passed = ev.tx_id == after
                    continue
                by_block.setdefault(ev.block_number, []).append(
                    chaincode_event_pb2.ChaincodeEvent(
                        chaincode_id=ev.chaincode_id,
                        tx_id=ev.tx_id,
                        event_name=ev.event_name,
                        payload=ev.payload,
                    )
                )
            for number in sorted(by_block):
                yield gateway_pb2.ChaincodeEventsResponse(
                    events=by_block[number], block_number=number
                )
            next_block = last + 1
