"""The connection to a Fabric Gateway (a peer's, or devnet's): identity, signer, gRPC channel.

    with connect("127.0.0.1:7051", identity=ident, signer=signer, tls_root_certs=ca) as gw:
        contract = gw.get_network("alliance").get_contract("alliance")
        contract.submit_transaction("RegisterDataset", spec_json)

A Gateway is safe to use from many threads at once (one gRPC channel, stateless calls).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2_grpc

from alliance.identity import Identity
from alliance.signing import Signer
from network.gateway.network import Network
from network.protoutil import serialize_identity


@dataclass(frozen=True)
class Timeouts:
    """Per-call deadlines in seconds, as fabric-gateway recommends them."""

    evaluate: float = 30.0
    endorse: float = 30.0
    submit: float = 10.0
    commit_status: float = 60.0


class Gateway:
    def __init__(
        self,
        channel: grpc.Channel,
        identity: Identity,
        signer: Signer,
        timeouts: Timeouts | None = None,
    ) -> None:
        self._channel = channel
        self.identity = identity
        self.signer = signer
        self.timeouts = timeouts or Timeouts()
        self.creator = serialize_identity(identity.msp_id, identity.certificate)
        self.stub = gateway_pb2_grpc.GatewayStub(channel)

    @property
    def grpc_channel(self) -> grpc.Channel:
        """The gRPC channel to the peer (for its other services, e.g. Deliver)."""
        return self._channel

    def get_network(self, name: str) -> Network:
        return Network(self, name)

    def sign(self, digest: bytes) -> bytes:
        return self.signer.sign(digest)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    endpoint: str,
    *,
    identity: Identity,
    signer: Signer,
    tls_root_certs: bytes | None = None,
    client_cert_chain: bytes | None = None,
    client_private_key: bytes | None = None,
    server_name: str | None = None,
    timeouts: Timeouts | None = None,
) -> Gateway:
    """Connect to the Gateway at `endpoint` ("host:port"): TLS when `tls_root_certs` is given
    (mutual TLS when a client certificate and key are given too), else plaintext.

    The connection is lazy: an unreachable gateway surfaces as `Unavailable` on the first call."""
    options = [
        ("grpc.max_receive_message_length", 100 * 1024 * 1024),
        ("grpc.max_send_message_length", 100 * 1024 * 1024),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    if tls_root_certs is not None:
        creds = grpc.ssl_channel_credentials(
            root_certificates=tls_root_certs,
            private_key=client_private_key,
            certificate_chain=client_cert_chain,
        )
        channel = grpc.secure_channel(endpoint, creds, options=options)
    else:
        channel = grpc.insecure_channel(endpoint, options=options)
    return Gateway(channel, identity, signer, timeouts)
