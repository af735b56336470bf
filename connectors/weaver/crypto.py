"""The EC dev-auth crypto (weaver-oa.md §2): the client key pair (`cpk`) and RSA PKCS#1 v1.5 with the server's `spk`.

`secret` (applytoken) and `userid` (every business call) are `Base64(RSA_encrypt(spk, text))`; the padding is
randomized, so the same text gives a different header on every call (the server decrypts, never compares).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key


def client_public_key() -> str:
    """A fresh `cpk`: Base64 of an RSA public key's X.509 SubjectPublicKeyInfo DER (the server keeps it but
    the flows Lifeline uses never need its private half, §2.1)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def encrypt(spk: str, text: str) -> str:
    """`Base64(RSA_encrypt(spk, text))` with PKCS#1 v1.5 padding; `ValueError` for a `spk` that is no RSA key."""
    try:
        key = load_der_public_key(base64.b64decode(spk, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"spk is not a Base64 X.509 RSA public key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("spk is not an RSA public key")
    return base64.b64encode(key.encrypt(text.encode("utf-8"), padding.PKCS1v15())).decode("ascii")
