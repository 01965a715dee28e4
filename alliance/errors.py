"""The one exception tree of the `alliance` domain package.

    AllianceError
    ├── EncodingError        a value cannot be canonically encoded (floats, bad keys)
    ├── IdentityError        a certificate or MSP folder is missing, malformed or not trusted
    │   └── SignatureError   a signature is malformed, high-S, or does not verify
    ├── KeystoreError        a private key cannot be loaded
    │   └── PassphraseError  the passphrase is missing or wrong
    ├── CharterError         the charter file is missing or invalid
    ├── DatasetFileError     a data file cannot be read or does not match its schema
    ├── DurationError        a duration is not a positive number with an optional unit
    ├── ProtocolSpecError    a job does not fit its protocol's schema (unknown protocol, bad
    │                        parameters, impossible inputs/outputs/dealer)
    └── NetworkDirError      NET is not a network directory, or already holds one

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations


class AllianceError(Exception):
    """Root of every error raised by the `alliance` package."""


class EncodingError(AllianceError):
    """A value has no canonical encoding (floats, non-string keys, unknown types)."""


class IdentityError(AllianceError):
    """A certificate or MSP folder is missing, malformed or not trusted."""


class SignatureError(IdentityError):
    """A signature is malformed, uses a high S value, or does not verify."""


class KeystoreError(AllianceError):
    """A private key cannot be loaded."""


class PassphraseError(KeystoreError):
    """The key passphrase is missing or wrong."""


class CharterError(AllianceError):
    """The charter is missing or invalid."""


class DatasetFileError(AllianceError):
    """A data file cannot be read, or does not match the schema it should have."""


class DurationError(AllianceError, ValueError):
    """A duration is not of the form `90`, `15m`, `24h`, `7d`, `2w`."""


class ProtocolSpecError(AllianceError, ValueError):
    """A job does not fit its protocol's schema; the message lists the accepted values."""


class NetworkDirError(AllianceError):
    """The network directory is missing, incomplete, or already holds a network."""
