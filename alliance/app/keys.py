"""Key use cases of one org: list its identities with their state, rotate one, revoke one (on the
ledger and on the org's CRL, with an X.509 reason; on Fabric the CRL also goes into the org's
channel MSP by a config update a majority of the member admins sign), change the passphrase of
its keystore, and the `doctor`'s expiry warnings.

Revocation is written to both places an identity is checked: the contract's revocation list
(which the contract and the nodes' MPC links consult) and the org's CRL in its channel MSP (which
devnet's MSP — like a Fabric peer's — applies to every creator and endorser)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alliance.app.errors import BadInput, Refused, Unreachable, mapped_errors
from alliance.app.session import Session
from alliance.hsm import CONFIG_FILE, key_location

NEW_PASSPHRASE_ENV = "ALLIANCE_NEW_PASSPHRASE"
MODULE_ENV = "ALLIANCE_PKCS11_MODULE"
TOKEN_ENV = "ALLIANCE_PKCS11_TOKEN"
SIGNING_IDENTITIES = ("admin", "client", "node", "peer0", "node/tls")
"""What `keys revoke` takes: the MSP identities, and the node's TLS identity (its MPC links,
which the nodes check against the ledger's revocations; the TLS CA keeps no CRL)."""


def list_keys(
    session: Session, *, ledger: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """Every identity of the session's org with its state at `now` (default: the clock's);
    `ledger_checked` says whether the ledger's revocations were read (False when the ledger
    cannot be reached)."""
    from alliance.keyring import list_keys as entries

    revoked: list[str] = []
    checked = False
    if ledger:
        try:
            records = session.evaluate("ListRevokedCertificates")
            revoked = [r["fingerprint"] for r in records if r["org"] == session.org]
            checked = True
        except Unreachable:
            checked = False
    with mapped_errors():
        rows = [e.to_dict() for e in entries(session.net_dir, session.org, now,
                                             revoked_on_ledger=revoked)]
    return {"org": session.org, "ledger_checked": checked, "identities": rows}


def needs_attention(identity: dict[str, Any]) -> bool:
    """An identity of `list_keys` that is expired, expiring within 30 days, or revoked."""
    return identity["status"] != "active"


def _cert_of(session: Session, identity: str) -> bytes:
    from alliance.keyring import identity_files

    if identity not in SIGNING_IDENTITIES:
        raise BadInput(
            f"cannot revoke {identity!r}: give one of {', '.join(SIGNING_IDENTITIES)} "
            "(see `alliance keys list`)"
        )
    with mapped_errors():
        for name, _, cert_path, _ in identity_files(session.net_dir, session.org):
            if name == identity:
                return cert_path.read_bytes()
    raise BadInput(f"{session.org} has no {identity} identity; see `alliance keys list`")


def revoke(session: Session, identity: str, reason: str = "unspecified") -> dict[str, Any]:
    """Revoke `identity` of the session's org: the contract's revocation first (signed by the
    session's admin, which may be the identity revoked), then the CRL with `reason`."""
    from alliance.identity import Identity
    from alliance.keyring import REASONS
    from alliance.keystore import get_passphrase
    from alliance.msp import revoke_certificate

    if reason not in REASONS:
        raise BadInput(f"unknown reason {reason!r}; X.509 reasons: {', '.join(REASONS)}")
    pem = _cert_of(session, identity)
    with mapped_errors():
        ident = Identity(msp_id="", certificate=pem)
        fingerprint = ident.fingerprint
        serial = ident.serial
    record = session.submit("RevokeCertificate", fingerprint, json.dumps({"reason": reason}))
    if identity == "node/tls":
        crl, signers = None, []
    else:
        with mapped_errors():
            passphrase = session.passphrase or get_passphrase()
            crl = str(revoke_certificate(session.net_dir, session.org, pem, passphrase,
                                         REASONS[reason]))
        signers = _push_crl_to_fabric(session, passphrase)
    return {
        "channel_update_signed_by": signers,
        "identity": identity,
        "fingerprint": fingerprint,
        "serial": serial,
        "reason": reason,
        "tx_id": record["tx_id"],
        "crl": crl,
    }


def _restart_running_node(session: Session) -> bool:
    from alliance.app.network import restart_node
    from node.launcher import node_status

    with mapped_errors():
        if not node_status(session.net_dir, session.org)["running"]:
            return False
    restart_node(session.net_dir, session.org)
    return True


def _push_crl_to_fabric(session: Session, passphrase: bytes) -> list[str]:
    """On Fabric, put the org's CRL into its channel MSP (a config update signed by a majority
    of the member admins), so the peers themselves refuse the certificate; the signers."""
    from network.connection import current_engine

    if current_engine(session.net_dir) != "fabric":
        return []  # devnet reads the CRL from NET's MSP folders within a second
    from network.fabric.crl_update import majority_signers, push_crl

    with mapped_errors():
        signers = majority_signers(session.net_dir, session.org)
        push_crl(session.net_dir, session.org, passphrase, signers)
    return signers


def new_passphrase() -> bytes:
    """The new passphrase: `$ALLIANCE_NEW_PASSPHRASE`, else asked twice at a terminal."""
    import getpass
    import sys

    value = os.environ.get(NEW_PASSPHRASE_ENV)
    if value:
        return value.encode()
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass("New passphrase: ")
        if first and first == getpass.getpass("New passphrase again: "):
            return first.encode()
        raise BadInput("the two new passphrases differ or are empty; run the command again")
    raise BadInput(f"no new passphrase: set {NEW_PASSPHRASE_ENV} (or run it at a terminal)")


def change_passphrase(net_dir: Path, org: str, new: bytes, old: bytes | None = None
                      ) -> dict[str, Any]:
    """Re-encrypt every key of `org` under `new` (with scrypt); nothing changes if `old` is
    wrong."""
    from alliance.keyring import change_passphrase as rewrite
    from alliance.keystore import KDF_NAME, get_passphrase

    if len(new) < 8:
        raise BadInput("the new passphrase is shorter than 8 characters; choose a longer one")
    with mapped_errors():
        paths = rewrite(Path(net_dir), org, old or get_passphrase(), new)
    return {"org": org, "keys": [str(p) for p in paths], "kdf": KDF_NAME}


def doctor(net_dir: Path, org: str | None = None) -> dict[str, Any]:
    """What needs a person's attention in NET's key material: identities (of `org`, or of every
    org) expired, expiring within 30 days, or revoked. No ledger needed."""
    from alliance.keyring import EXPIRY_WARNING_DAYS, expiry_warnings
    from alliance.profile import load_profile

    with mapped_errors():
        orgs = [org] if org else sorted(load_profile(Path(net_dir)).orgs)
        warnings = expiry_warnings(Path(net_dir), orgs)
    return {"orgs": orgs, "warning_days": EXPIRY_WARNING_DAYS, "warnings": warnings}


ROTATABLE = ("admin", "client", "node", "node/tls")


def rotate(session: Session, identity: str, grace_seconds: int, hsm: HsmTarget | None = None
           ) -> dict[str, Any]:
    """See `_rotate`; a running node whose identity rotated is restarted."""
    return _rotate(session, identity, grace_seconds, hsm=hsm)


def _rotate(session: Session, identity: str, grace_seconds: int, *, restart: bool = True,
            wait_trusted: float = 0.0, hsm: HsmTarget | None = None) -> dict[str, Any]:
    """A new key and certificate from the org's CA (the TLS CA for `node/tls`, the node's MPC
    link identity) for `identity`, put in place of the old (kept beside it as
    `*.old-<serial>`), and recorded on the ledger: the old certificate's revocation, in force
    after `grace_seconds`, naming the new one. Rotating the admin, the new admin certificate
    signs that record. When the ledger refuses, the old files are put back. A running node whose
    identity rotated is restarted: it comes back with the new one and picks up every live job
    from the ledger, as at any start.

    The new key is made where the old one was (the keystore, or the PKCS#11 token its
    `pkcs11.json` names), or in the token `hsm` names: generated inside it, sensitive and
    non-extractable; the keystore then holds only the reference."""
    from alliance.identity import Identity, load_certificate
    from alliance.keyring import fingerprint
    from alliance.keystore import get_passphrase, load_private_key, write_private_key
    from alliance.network_init import LOOPBACK_SANS, CertificateAuthority, cert_pem, new_key
    from alliance.profile import load_profile

    if identity not in ROTATABLE:
        raise BadInput(f"cannot rotate {identity!r}: give one of {', '.join(ROTATABLE)}")
    if grace_seconds < 0:
        raise BadInput("the grace period cannot be negative")
    if hsm is not None and identity == "node/tls":
        from alliance.grpc_openssl import token_tls_problem

        problem = token_tls_problem()
        if problem is not None:
            raise BadInput(f"node/tls cannot move into a PKCS#11 token here: {problem}. "
                           f"{NO_HSM_TLS}")
    with mapped_errors():
        passphrase = session.passphrase or get_passphrase()
        org_dir = load_profile(session.net_dir).org_dir(session.net_dir, session.org)
        if identity == "node/tls":
            folder = org_dir / "users" / "node" / "tls"
            cert_path, key_path = folder / "client.crt", folder / "client.key"
            ca_dir, ca_name = org_dir / "tlsca", "tlsca"
        else:
            msp = org_dir / "users" / identity / "msp"
            cert_path, key_path = msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem"
            ca_dir, ca_name = org_dir / "ca", "ca"
        old_pem = cert_path.read_bytes()
        old = Identity(msp_id="", certificate=old_pem)
        token_ref = key_path.with_name(CONFIG_FILE)
        old_key_path = key_location(key_path)
        ca = CertificateAuthority(
            load_certificate((ca_dir / f"{ca_name}.pem").read_bytes()),
            load_private_key(ca_dir / f"{ca_name}.key", passphrase),
        )
        token = _token_key(session, identity, hsm, old_key_path)
        key = None
        if token is not None:
            from alliance.hsm import generate_key

            public = generate_key(token)
        else:
            key = new_key()
            public = key.public_key()
        if identity == "node/tls":
            cert = ca.issue(public, org=session.org, common_name=old.common_name,
                            tls_server=True, tls_client=True,
                            sans=(*LOOPBACK_SANS, old.common_name))
        else:
            cert = ca.issue(public, org=session.org, common_name=old.common_name,
                            ou="admin" if old.role == "admin" else "client")
        kept_cert = cert_path.with_name(f"{cert_path.name}.old-{old.serial}")
        kept_key = old_key_path.with_name(f"{old_key_path.name}.old-{old.serial}")
        cert_path.replace(kept_cert)
        old_key_path.replace(kept_key)
        if token is not None:
            token.save(token_ref)
        else:
            write_private_key(key_path, key, passphrase)  # type: ignore[arg-type]
        cert_path.write_bytes(cert_pem(cert))
    options = {"grace_seconds": grace_seconds, "reason": "superseded",
               "replaced_by": fingerprint(cert)}
    session.reconnect()  # a rotated admin signs with its new certificate from here on
    try:
        record = _submit_when_trusted(session, wait_trusted, "RevokeCertificate",
                                      old.fingerprint, json.dumps(options))
    except Exception:
        (token_ref if token is not None else key_path).unlink(missing_ok=True)
        kept_cert.replace(cert_path)
        kept_key.replace(old_key_path)
        if token is not None:
            from alliance.hsm import destroy_key

            with contextlib.suppress(Exception):  # the refusal is what the caller must see
                destroy_key(token)
        session.reconnect()
        raise
    restarted = restart and identity in ("node", "node/tls") and _restart_running_node(session)
    return {
        "identity": identity,
        "node_restarted": restarted,
        "old_serial": old.serial,
        "old_fingerprint": old.fingerprint,
        "new_serial": format(cert.serial_number, "x"),
        "new_fingerprint": fingerprint(cert),
        "effective_at": record.get("effective_at") or record["at"],
        "tx_id": record["tx_id"],
        "kept": str(kept_cert),
        "key": (f"pkcs11:token={token.token};object={token.key_label}" if token is not None
                else str(key_path)),
    }


NO_HSM_TLS = (
    "Meanwhile the node's signing identity can move into the token (`keys rotate node --hsm`); "
    "node/tls stays in the encrypted keystore"
)


@dataclass(frozen=True)
class HsmTarget:
    """Where `keys rotate --hsm` puts the new key: a PKCS#11 module and token, the PIN from
    the environment variable `pin_env`."""

    module: str
    token: str
    pin_env: str = "ALLIANCE_HSM_PIN"


def _token_key(session: Session, identity: str, hsm: HsmTarget | None, old_key: Path) -> Any:
    """The token reference of the new key (a fresh label), or None for the keystore."""
    import time

    from alliance.hsm import TokenKey

    if hsm is None and old_key.name != CONFIG_FILE:
        return None
    if hsm is None:  # the old key is in a token: the new one goes there too
        old = TokenKey.load(old_key)
        hsm = HsmTarget(old.module, old.token, old.pin_env)
    label = f"{session.org}-{identity.replace('/', '-')}-{time.time_ns():x}"
    return TokenKey(hsm.module, hsm.token, label, hsm.pin_env)


@dataclass(frozen=True)
class CertificateInfo:
    """One user certificate of an org, with its validity period."""

    user: str
    common_name: str
    role: str
    fingerprint: str
    not_before: datetime
    not_after: datetime
    path: str


def certificates(net_dir: Path, org: str) -> list[CertificateInfo]:
    """The signing certificates of `org`'s users in NET (read from its MSP folders)."""
    from alliance.identity import Identity
    from alliance.profile import load_profile

    with mapped_errors():
        profile = load_profile(net_dir)
        msp_id = profile.orgs[org].msp_id
        org_dir = profile.org_dir(net_dir, org)
        found = []
        for cert_path in sorted(org_dir.glob("users/*/msp/signcerts/cert.pem")):
            identity = Identity(msp_id=msp_id, certificate=cert_path.read_bytes())
            found.append(
                CertificateInfo(
                    user=cert_path.parents[2].name,
                    common_name=identity.common_name,
                    role=identity.role,
                    fingerprint=identity.fingerprint,
                    not_before=identity.cert.not_valid_before_utc,
                    not_after=identity.cert.not_valid_after_utc,
                    path=str(cert_path),
                )
            )
    return found


def _submit_when_trusted(session: Session, wait: float, function: str, *args: str) -> Any:
    """Submit; for up to `wait` seconds, again while the peers refuse the creator (on Fabric a
    channel config update that trusts a new root commits at each peer a moment later)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            return session.submit(function, *args)
        except Exception as exc:
            text = str(exc).lower()
            refused_creator = "access denied" in text or "creator" in text
            if not refused_creator or time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
            session.reconnect()


RENEWED = ("admin", "client", "node", "node/tls")
"""The identities a CA renewal reissues through `rotate` (the ledger records each old
certificate's revocation at the overlap's end, naming the new one)."""


def renew_ca(session: Session, overlap_seconds: int) -> dict[str, Any]:
    """A new signing CA and TLS CA for the session's org (`alliance.ca_renewal`), trusted with
    the old ones for `overlap_seconds`: in the org's verifying MSP (devnet applies it within a
    second; on Fabric a channel config update signed by a majority of the member admins puts
    both roots in the channel MSP), and on the ledger (RenewCertificateAuthority: the contract
    and every node check certificates against the recorded roots). Then every identity of the
    org is issued anew from the new CAs: admin, client, node and node/tls by `rotate` (their old
    certificates revoked on the ledger at the overlap's end), the peer's and the TLS client
    identities on disk; the Fabric peer and a running node are restarted with theirs. Ended
    early, or confirmed once over, by `finish_ca_renewal`."""
    import time

    from alliance import ca_renewal
    from alliance.authorities import MAX_OVERLAP_SECONDS
    from alliance.keystore import get_passphrase
    from network.connection import current_engine

    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise BadInput(f"the overlap must be between 0 and {MAX_OVERLAP_SECONDS // 86400} days")
    with mapped_errors():
        passphrase = session.passphrase or get_passphrase()
        fabric = current_engine(session.net_dir) == "fabric"
        ends = int(time.time()) + overlap_seconds
        renewal = ca_renewal.start(session.net_dir, session.org, passphrase, ends)
    session.passphrase = passphrase
    try:
        signers = _push_msp_to_fabric(session, passphrase) if fabric else []
        body = {"ca": renewal.ca.decode(), "tlsca": renewal.tlsca.decode(),
                "previous_ca": renewal.previous_ca.decode(),
                "previous_tlsca": renewal.previous_tlsca.decode(),
                "overlap_seconds": overlap_seconds}
        record = session.submit("RenewCertificateAuthority", json.dumps(body))
    except Exception:
        with mapped_errors():
            ca_renewal.undo_start(session.net_dir, session.org)
        raise
    rotated = {identity: _rotate(session, identity, overlap_seconds, restart=False,
                                 wait_trusted=60.0 if fabric else 0.0)
               for identity in RENEWED}
    with mapped_errors():
        reissued = ca_renewal.reissue_unrecorded(session.net_dir, session.org, passphrase)
    if fabric:
        from network.fabric.launcher import restart_peer

        with mapped_errors():
            restart_peer(session.net_dir, session.org)
    restarted = _restart_running_node(session)
    return {
        "org": session.org,
        "tx_id": record["tx_id"],
        "overlap_ends": ends,
        "new_ca_serial": ca_renewal.serial_of(renewal.ca),
        "new_tlsca_serial": ca_renewal.serial_of(renewal.tlsca),
        "old_ca_serial": ca_renewal.serial_of(renewal.previous_ca),
        "old_tlsca_serial": ca_renewal.serial_of(renewal.previous_tlsca),
        "reissued": [*RENEWED, *reissued],
        "rotations": {k: {"new_serial": v["new_serial"], "tx_id": v["tx_id"]}
                      for k, v in rotated.items()},
        "channel_update_signed_by": signers,
        "node_restarted": restarted,
    }


RETIREMENT_MARGIN_SECONDS = {"devnet": 2, "fabric": 10}
"""How long after the MSP dropped the old roots (devnet: files moved, re-read within a second;
Fabric: the config update ordered, its block cut within a batch timeout) the retired roots still
vouch, for `audit verify-chain` and devnet's MSP: a transaction ordered a moment before the drop
but timestamped near it stays verifiable."""


def finish_ca_renewal(session: Session) -> dict[str, Any]:
    """End the org's CA overlap now (or confirm it ended): the ledger retires the old roots
    (EndCaOverlap), the verifying MSP drops them (kept under msp/retired/ for `audit
    verify-chain` of earlier blocks), on Fabric by a majority-signed channel config update;
    a running node restarts without the old TLS root. From then on a certificate of the old
    CA is refused by devnet's MSP or Fabric's peers, the contract and every node."""
    import time

    from alliance import ca_renewal
    from alliance.keystore import get_passphrase
    from alliance.profile import load_profile
    from network.connection import current_engine

    with mapped_errors():
        org_dir = load_profile(session.net_dir).org_dir(session.net_dir, session.org)
        state = ca_renewal.renewal_state(org_dir)
    if state is None:
        raise BadInput(f"{session.org} has no CA overlap running; start one with "
                       "`alliance keys renew-ca --overlap 7d`")
    tx_id = ""
    try:
        tx_id = session.submit("EndCaOverlap")["tx_id"]
    except Refused as exc:
        if exc.error_type != "Conflict":  # Conflict: the overlap already ended by its time
            raise
    # The MSP trusts the old roots until it has dropped them (the contract, replayed by `audit
    # verify-chain`, applies the ledger's own retirement time): devnet within a second of the
    # files moving, Fabric's peers once the config block commits. What they accepted before
    # stays verifiable; a little late is safe (what they refused is not VALID in the chain).
    with mapped_errors():
        passphrase = session.passphrase or get_passphrase()
        engine = current_engine(session.net_dir)
        margin = RETIREMENT_MARGIN_SECONDS.get(engine, 10)
        moved = ca_renewal.finish(session.net_dir, session.org, int(time.time()) + margin)
    signers: list[str] = []
    if engine == "fabric":
        signers = _push_msp_to_fabric(session, passphrase)
        with mapped_errors():
            ca_renewal.date_retirement(session.net_dir, session.org, moved,
                                       int(time.time()) + margin)
    retired_at = ca_renewal.retired_at(session.net_dir, session.org, moved)
    restarted = _restart_running_node(session)
    return {"org": session.org, "tx_id": tx_id, "retired": moved, "retired_at": retired_at,
            "channel_update_signed_by": signers, "node_restarted": restarted}


def _push_msp_to_fabric(session: Session, passphrase: bytes) -> list[str]:
    """The org's roots and CRLs into its channel MSP, signed by a majority of member admins."""
    from network.fabric.crl_update import majority_signers, push_org_msp

    with mapped_errors():
        signers = majority_signers(session.net_dir, session.org)
        push_org_msp(session.net_dir, session.org, passphrase, signers)
    return signers
