"""The offline verifier of audit bundles (`python -m alliance.verify BUNDLE`): standard library
and `cryptography` only, nothing of network/, node/ or chaincode/."""

from alliance.verify.bundle import BundleError, Outcome, load, verify

__all__ = ["BundleError", "Outcome", "load", "verify"]
