"""ADB authentication on the device side: tokens, signature checks, adb public keys.

The host signs the 20-byte token as if it were a SHA-1 digest (OpenSSL ``RSA_sign(NID_sha1)``,
adb-shell's "SHA-1 prehashed" trick), so it is verified with ``Prehashed(SHA1())``. Public keys
arrive in Android's own format: ``base64(RSAPublicKey struct) + " user@host"``, where the
struct holds the modulus little-endian (see ``reference/ADB_PROTOCOL.md`` §2.4).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from npubench.devices.sim.protocol import TOKEN_SIZE

_STRUCT_HEADER = struct.Struct("<2I")  # modulus_size_words, n0inv


def new_token() -> bytes:
    """A fresh challenge: exactly 20 random bytes (any other size crashes the adb 29 server)."""
    return os.urandom(TOKEN_SIZE)


def decode_public_key(data: bytes | str) -> rsa.RSAPublicKey:
    """An adb public key (``adbkey.pub`` content or an ``AUTH(3)`` payload: base64 struct,
    optional `` user@host`` comment, optional NUL), or a PEM public key, as an RSA key.
    Raises ValueError for anything else."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    raw = raw.strip(b"\0 \r\n\t")
    if raw.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(raw)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("not an RSA public key")
        return key
    encoded = raw.split(None, 1)[0] if raw else b""
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"public key is not base64: {exc}") from None
    if len(blob) < _STRUCT_HEADER.size + 4:
        raise ValueError("public key struct too short")
    words, _n0inv = _STRUCT_HEADER.unpack_from(blob)
    size = words * 4
    if words == 0 or len(blob) != _STRUCT_HEADER.size + 2 * size + 4:
        raise ValueError(f"public key struct of {len(blob)} bytes does not hold {words} words")
    start = _STRUCT_HEADER.size
    modulus = int.from_bytes(blob[start:start + size], "little")
    (exponent,) = struct.unpack_from("<I", blob, start + 2 * size)
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def encode_public_key(key: rsa.RSAPublicKey, comment: str = "") -> bytes:
    """The adb format of ``key`` (the inverse of :func:`decode_public_key`), for tests and for
    seeding ``trusted_keys`` from a PEM key."""
    numbers = key.public_numbers()
    size = key.key_size // 8
    words = size // 4
    n0inv = (-pow(numbers.n, -1, 1 << 32)) & 0xFFFFFFFF
    rr = pow(2, 2 * size * 8, numbers.n)
    blob = (_STRUCT_HEADER.pack(words, n0inv) + numbers.n.to_bytes(size, "little")
            + rr.to_bytes(size, "little") + struct.pack("<I", numbers.e))
    text = base64.b64encode(blob)
    return text + (b" " + comment.encode() if comment else b"")


def key_id(key: rsa.RSAPublicKey) -> tuple[int, int]:
    """A hashable identity for a key (its numbers), to keep a set of trusted keys."""
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def verify_signature(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``key``'s PKCS#1 v1.5 signature of ``token`` taken as a
    SHA-1 digest."""
    try:
        key.verify(bytes(signature), bytes(token), padding.PKCS1v15(), Prehashed(hashes.SHA1()))
    except (InvalidSignature, ValueError):
        return False
    return True
