"""Knock on a node's MPC server as some org's node, for a job, and report how it answered.

Used to show (demo) and test (integration) that a node refuses links for jobs that are not
approved, or from orgs that are not participants: the probe opens a real mutual-TLS stream with
the given org's node certificate, sends nothing, and returns the gRPC status the server ended
the stream with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from alliance.wallet import TlsMaterial
from node.mpc.grpc_transport import MD_FROM, MD_JOB, MD_RUN, MD_TO, METHOD_PATH


@dataclass(frozen=True)
class ProbeAnswer:
    code: str
    """gRPC status name: PERMISSION_DENIED when refused, NOT_FOUND when authorized but not open."""
    details: str

    @property
    def refused(self) -> bool:
        return self.code in ("PERMISSION_DENIED", "UNAUTHENTICATED")


def probe_link(
    net_dir: Path, as_org: str, target_org: str, job_id: str, *, run: int = 1,
    passphrase: bytes | None = None, timeout: float = 10.0, tls: TlsMaterial | None = None,
) -> ProbeAnswer:
    """Ask `target_org`'s node for a link of `job_id` as `as_org`'s node would (with `tls`:
    presenting that certificate instead of the node's current one)."""
    from alliance.wallet import user_tls
    from node.daemon import read_run_file
    from node.peer_orgs import TlsOrgs

    tls = tls or user_tls(net_dir, as_org, "node", passphrase)
    recorded = read_run_file(net_dir, target_org)
    if recorded is None:
        raise RuntimeError(f"the node of {target_org} has no run file; is it running?")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=TlsOrgs.from_network(net_dir).roots_pem(target_org),
        private_key=tls.private_key, certificate_chain=tls.cert_chain,
    )
    with grpc.secure_channel(f"127.0.0.1:{recorded['port']}", credentials) as channel:
        call = channel.stream_stream(METHOD_PATH)(
            iter(()),
            metadata=((MD_JOB, job_id), (MD_RUN, str(run)), (MD_FROM, as_org),
                      (MD_TO, target_org)),
            timeout=timeout,
        )
        try:
            for _ in call:
                pass
        except grpc.RpcError as exc:
            return ProbeAnswer(exc.code().name, exc.details() or "")
    return ProbeAnswer("OK", "the server accepted the link")
