"""`alliance keys list|rotate|revoke|renew-ca|change-passphrase` and `alliance doctor`: an
org's identities over their lifecycle; the use cases live in `alliance.app.keys`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from alliance.app import keys
from alliance.app.clock import when
from alliance.app.errors import BadInput
from alliance.cli import output
from alliance.cli.parsing import parse_duration
from alliance.cli.session import acting_org, add_dir_option, net_dir, session
from alliance.keyring import EXPIRY_WARNING_DAYS, REASONS


def register(groups: Any) -> None:
    parser = groups.add_parser("keys", help="your org's keys and certificates")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    p = commands.add_parser(
        "list",
        help="every identity of your org: role, key, serial, expiry, status",
        description=(
            "Lists the admin, client and node identities (signing and TLS) and the peer's, with "
            "where the key is, the certificate's serial and expiry, and its status: active, "
            f"expiring (within {EXPIRY_WARNING_DAYS} days), expired, revoked (on the org's CRL, "
            "with its reason) or revoked-on-ledger. Exits 1 when any identity is expired, "
            "expiring or revoked."
        ),
    )
    add_dir_option(p)
    p.set_defaults(handler=list_keys)

    p = commands.add_parser(
        "revoke",
        help="revoke an identity of your org: on the ledger and on the org's CRL",
        description=(
            "Records the revocation on the ledger (the contract, and every node's MPC links, "
            "refuse the certificate from then on) and adds it, with an X.509 reason code, to "
            "the org's CRL in its channel MSP (devnet's MSP refuses it at once)."
        ),
    )
    add_dir_option(p)
    p.add_argument("identity", choices=keys.SIGNING_IDENTITIES)
    p.add_argument("--reason", default="unspecified", choices=tuple(REASONS),
                   help="X.509 CRLReason (default: unspecified)")
    p.set_defaults(handler=revoke)

    p = commands.add_parser(
        "rotate",
        help="a new key and certificate for an identity; the old one revoked after a grace",
        description=(
            "Issues a new key and certificate from your org's CA for the admin, client or node "
            "identity (or, node/tls, from its TLS CA for the node's MPC links), puts them in "
            "place (the old ones kept beside them as *.old-SERIAL), and "
            "records on the ledger the old certificate's revocation, in force after --grace, "
            "naming the new one (a rotated admin signs that with its new certificate). A running "
            "node whose identity rotated is restarted with the new one and picks up every live "
            "job from the ledger."
        ),
    )
    add_dir_option(p)
    p.add_argument("identity", choices=keys.ROTATABLE)
    p.add_argument("--hsm", action="store_true",
                   help="make the new key inside a PKCS#11 token (sensitive, non-extractable); "
                        "the keystore keeps only a reference (pkcs11.json). node/tls needs grpcio "
                        "linked to OpenSSL and libp11's pkcs11 engine (refused with how, else)")
    p.add_argument("--module", default=os.environ.get(keys.MODULE_ENV, ""),
                   help=f"the PKCS#11 module (default ${keys.MODULE_ENV})")
    p.add_argument("--token", default=os.environ.get(keys.TOKEN_ENV, ""),
                   help=f"the token's label (default ${keys.TOKEN_ENV})")
    p.add_argument("--pin-env", default="ALLIANCE_HSM_PIN",
                   help="the environment variable holding the token's user PIN "
                        "(default ALLIANCE_HSM_PIN)")
    p.add_argument("--grace", default="1d",
                   help="how long the old certificate keeps working: 0 (not at all), 1h, 7d, "
                        "... (default 1d)")
    p.set_defaults(handler=rotate)

    p = commands.add_parser(
        "renew-ca",
        help="a new org CA and TLS CA; both roots trusted for an overlap, then the old dropped",
        description=(
            "Creates a new signing CA and TLS CA for your org. For --overlap both the old and "
            "the new roots are trusted: in the org's MSP (devnet; on Fabric the channel MSP, by "
            "a config update a majority of the member admins sign), by the contract and by "
            "every node's MPC links (the ledger records the roots). Your admin, client, node "
            "and node/tls identities are issued anew from the new CAs (as `keys rotate`, the "
            "old certificates revoked on the ledger when the overlap ends), and so are the "
            "peer's and the TLS client identities; the Fabric peer and a running node restart "
            "with theirs. The contract and the nodes refuse the old CA's certificates once the "
            "overlap is over; run `keys renew-ca --finish` then (or to end it early) to drop "
            "the old roots from the MSP too."
        ),
    )
    add_dir_option(p)
    p.add_argument("--overlap", default="7d",
                   help="how long both roots are trusted: 0, 1h, 7d, ... (default 7d, at most "
                        "90d)")
    p.add_argument("--finish", action="store_true",
                   help="end the overlap now: the old roots are retired everywhere")
    p.set_defaults(handler=renew_ca)

    p = commands.add_parser(
        "change-passphrase",
        help="re-encrypt every key of your org under a new passphrase",
        description=(
            "Decrypts every encrypted key of the org with ALLIANCE_PASSPHRASE and writes it "
            "again under the new one (ALLIANCE_NEW_PASSPHRASE, or asked twice at a terminal), "
            "with scrypt + AES-256-CBC (PKCS#8); a wrong current passphrase changes nothing."
        ),
    )
    add_dir_option(p)
    p.set_defaults(handler=change_passphrase)

    p = groups.add_parser(
        "doctor",
        help="what needs attention: keys expired, expiring soon, or revoked",
        description=(
            f"Checks every identity of every org in NET (or of --as ORG): a certificate expired, "
            f"expiring within {EXPIRY_WARNING_DAYS} days, or revoked is flagged. Exits 0 when "
            "nothing is, 1 when something is. Needs no running ledger."
        ),
    )
    add_dir_option(p)
    p.set_defaults(handler=doctor)


def list_keys(args: argparse.Namespace) -> int:
    with session(args) as s:
        found = keys.list_keys(s)
    rows = found["identities"]
    if args.json:
        output.emit_json(found)
    else:
        output.emit_table(
            f"Identities of {found['org']}"
            + ("" if found["ledger_checked"] else " (ledger not reached: its revocations unseen)"),
            ("identity", "role", "serial", "not after", "status", "key"),
            [(r["identity"], r["role"], r["serial"], r["not_after"][:10], r["status"], r["key"])
             for r in rows],
            keep=("key",),
        )
    return 1 if any(keys.needs_attention(r) for r in rows) else 0


def revoke(args: argparse.Namespace) -> int:
    with session(args) as s:
        done = keys.revoke(s, args.identity, args.reason)
    if args.json:
        output.emit_json(done)
    else:
        where = f", on the CRL {done['crl']}" if done["crl"] else ""
        if done["channel_update_signed_by"]:
            where += (" and in the channel's MSP (config update signed by "
                      f"{', '.join(done['channel_update_signed_by'])})")
        output.emit_message(
            f"revoked {args.identity} of {acting_org(args)} (serial {done['serial']}, "
            f"{done['reason']}): on the ledger in tx {done['tx_id']}{where}"
        )
    return 0


def doctor(args: argparse.Namespace) -> int:
    found = keys.doctor(net_dir(args), args.org or None)
    if args.json:
        output.emit_json(found)
    elif found["warnings"]:
        output.emit_message(f"{len(found['warnings'])} thing(s) need attention:")
        for line in found["warnings"]:
            output.emit_message(f"  {line}")
        output.emit_message("see `alliance keys list --as ORG`")
    else:
        output.emit_message(
            f"all keys of {', '.join(found['orgs'])} are valid for more than "
            f"{found['warning_days']} days and none is revoked"
        )
    return 1 if found["warnings"] else 0


def rotate(args: argparse.Namespace) -> int:
    with session(args) as s:
        grace = 0 if args.grace.strip() == "0" else parse_duration(args.grace)
        hsm = None
        if args.hsm:
            if not args.module or not args.token:
                raise BadInput(f"--hsm needs the PKCS#11 module and token: give --module and "
                               f"--token (or set {keys.MODULE_ENV} and {keys.TOKEN_ENV})")
            hsm = keys.HsmTarget(args.module, args.token, args.pin_env)
        done = keys.rotate(s, args.identity, grace, hsm)
    if args.json:
        output.emit_json(done)
    else:
        restarted = "; the node was restarted with it" if done["node_restarted"] else ""
        output.emit_message(
            f"rotated {args.identity} of {acting_org(args)}: new serial {done['new_serial']}"
            f", key {done['key']}{restarted}; "
            f"serial {done['old_serial']} is revoked from {when(done['effective_at'])} "
            f"(tx {done['tx_id']}); the old files are kept as {done['kept']}"
        )
    return 0


def change_passphrase(args: argparse.Namespace) -> int:
    done = keys.change_passphrase(net_dir(args), acting_org(args), keys.new_passphrase())
    if args.json:
        output.emit_json(done)
    else:
        output.emit_message(
            f"re-encrypted {len(done['keys'])} keys of {done['org']} ({done['kdf']}); from now "
            "on set ALLIANCE_PASSPHRASE to the new passphrase"
        )
    return 0


def renew_ca(args: argparse.Namespace) -> int:
    with session(args) as s:
        if args.finish:
            done = keys.finish_ca_renewal(s)
        else:
            overlap = 0 if args.overlap.strip() == "0" else parse_duration(args.overlap)
            done = keys.renew_ca(s, overlap)
    if args.json:
        output.emit_json(done)
    elif args.finish:
        output.emit_message(
            f"the CA overlap of {done['org']} is over: the old roots are retired "
            f"({', '.join(done['retired']) or 'none left in the MSP'}); certificates they issued "
            "are refused from now on"
        )
    else:
        output.emit_message(
            f"{done['org']} has a new CA (serial {done['new_ca_serial']}) and TLS CA (serial "
            f"{done['new_tlsca_serial']}), recorded in tx {done['tx_id']}; the old ones are "
            f"trusted until {when(done['overlap_ends'])}. Issued anew: "
            f"{', '.join(done['reissued'])}. When the overlap is over run "
            "`alliance keys renew-ca --finish`."
        )
    return 0
