"""XChaCha20-Poly1305 (IETF) in pure Python: the fallback AEAD of the conformance client.

    NOT FOR PRODUCTION. This is reference / test code for short messages. It is slow and NOT
    constant-time (Python integers, data-dependent timing everywhere except the final tag
    comparison). Do not use it outside tests: real code uses libsodium (PyNaCl) or an equivalent.

It follows, section by section:

  - RFC 8439 "ChaCha20 and Poly1305 for IETF Protocols":
      §2.1   the quarter round;
      §2.3   the ChaCha20 block function (32-bit counter, 96-bit nonce);
      §2.4   ChaCha20 encryption (keystream XOR, counter from 1 for the AEAD);
      §2.5   Poly1305 (clamped r, s, accumulate mod 2^130 - 5);
      §2.6   Poly1305 key generation with ChaCha20 (block 0, first 32 bytes);
      §2.8   AEAD_CHACHA20_POLY1305 (mac_data = aad | pad16 | ct | pad16 | le64 lengths).
  - draft-irtf-cfrg-xchacha-03 "XChaCha: eXtended-nonce ChaCha and AEAD_XChaCha20_Poly1305":
      §2.2   HChaCha20 (subkey from the key and the first 16 nonce bytes);
      §2.3   XChaCha20 / AEAD_XChaCha20_Poly1305: the AEAD of RFC 8439 §2.8 under the subkey,
             with the 12-byte nonce 00000000 | nonce[16:24].

The output is ciphertext | 16-byte tag, exactly as libsodium's
crypto_aead_xchacha20poly1305_ietf_encrypt (and PyNaCl's binding of it) returns it, so the two
are interchangeable: see xchacha20poly1305_encrypt / _decrypt below.

Self-checks (RFC 8439 §2.8.2, draft §2.2.1 and §A.3.1 test vectors, and a comparison with PyNaCl
on random inputs when PyNaCl is installed) are in check_vectors.py.
"""

from __future__ import annotations

import hmac
import struct

__all__ = [
    "AuthenticationError",
    "chacha20_block",
    "chacha20_xor",
    "poly1305_mac",
    "chacha20poly1305_encrypt",
    "chacha20poly1305_decrypt",
    "hchacha20",
    "xchacha20poly1305_encrypt",
    "xchacha20poly1305_decrypt",
]

KEY_BYTES = 32
NONCE_BYTES = 12  # RFC 8439 (IETF) ChaCha20 nonce
XNONCE_BYTES = 24  # XChaCha20 nonce
TAG_BYTES = 16
HCHACHA_NONCE_BYTES = 16

_MASK32 = 0xFFFFFFFF
# "expand 32-byte k" as four little-endian words (RFC 8439 §2.3)
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
# Largest plaintext for one (key, nonce): the 32-bit block counter starts at 1 (§2.8), so
# 2^32 - 1 blocks of 64 bytes (RFC 8439 §2.8: "about 256 GB").
_MAX_MESSAGE_BYTES = (2**32 - 1) * 64


class AuthenticationError(ValueError):
    """The tag does not verify: wrong key, nonce, associated data, or altered ciphertext/tag."""


def _check_len(name: str, value: bytes, n: int) -> bytes:
    value = bytes(value)
    if len(value) != n:
        raise ValueError(f"{name} must be {n} bytes, got {len(value)}")
    return value


# ---------------------------------------------------------------------------------------------
# ChaCha20: RFC 8439 §2.1 - §2.4
# ---------------------------------------------------------------------------------------------


def _rotl32(v: int, c: int) -> int:
    return ((v << c) & _MASK32) | (v >> (32 - c))


def _quarter_round(x: list[int], a: int, b: int, c: int, d: int) -> None:
    """RFC 8439 §2.1 / §2.2: QUARTERROUND(a, b, c, d) on the state words, in place."""
    x[a] = (x[a] + x[b]) & _MASK32; x[d] = _rotl32(x[d] ^ x[a], 16)  # noqa: E702
    x[c] = (x[c] + x[d]) & _MASK32; x[b] = _rotl32(x[b] ^ x[c], 12)  # noqa: E702
    x[a] = (x[a] + x[b]) & _MASK32; x[d] = _rotl32(x[d] ^ x[a], 8)  # noqa: E702
    x[c] = (x[c] + x[d]) & _MASK32; x[b] = _rotl32(x[b] ^ x[c], 7)  # noqa: E702


def _twenty_rounds(x: list[int]) -> None:
    """RFC 8439 §2.3: 10 iterations of a column round then a diagonal round (20 rounds)."""
    for _ in range(10):
        # column round
        _quarter_round(x, 0, 4, 8, 12)
        _quarter_round(x, 1, 5, 9, 13)
        _quarter_round(x, 2, 6, 10, 14)
        _quarter_round(x, 3, 7, 11, 15)
        # diagonal round
        _quarter_round(x, 0, 5, 10, 15)
        _quarter_round(x, 1, 6, 11, 12)
        _quarter_round(x, 2, 7, 8, 13)
        _quarter_round(x, 3, 4, 9, 14)


def chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes:
    """RFC 8439 §2.3: one 64-byte keystream block.

    State: 4 constant words | 8 key words | 1 counter word | 3 nonce words (all little-endian);
    run 20 rounds, add the initial state word by word, serialize little-endian.
    """
    key = _check_len("key", key, KEY_BYTES)
    nonce = _check_len("nonce", nonce, NONCE_BYTES)
    if not 0 <= counter <= _MASK32:
        raise ValueError("block counter out of range")
    state = [*_SIGMA, *struct.unpack("<8I", key), counter, *struct.unpack("<3I", nonce)]
    x = list(state)
    _twenty_rounds(x)
    return struct.pack("<16I", *((x[i] + state[i]) & _MASK32 for i in range(16)))


def chacha20_xor(key: bytes, counter: int, nonce: bytes, data: bytes) -> bytes:
    """RFC 8439 §2.4: XOR data with the keystream of blocks counter, counter+1, ...

    Encryption and decryption are the same operation. The last block's keystream is truncated.
    """
    data = bytes(data)
    nblocks = (len(data) + 63) // 64
    if counter + nblocks - 1 > _MASK32 and nblocks:
        raise ValueError("message too long for a 32-bit block counter")
    out = bytearray(len(data))
    for j in range(nblocks):
        chunk = data[64 * j : 64 * j + 64]
        ks = chacha20_block(key, counter + j, nonce)
        # XOR as big integers: one operation per block instead of 64
        n = len(chunk)
        x = int.from_bytes(chunk, "little") ^ int.from_bytes(ks[:n], "little")
        out[64 * j : 64 * j + n] = x.to_bytes(n, "little")
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Poly1305: RFC 8439 §2.5, §2.6
# ---------------------------------------------------------------------------------------------

_P1305 = (1 << 130) - 5
# §2.5: clear the top 4 bits of r[3], r[7], r[11], r[15] and the bottom 2 bits of r[4], r[8], r[12]
_CLAMP = 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF


def poly1305_mac(msg: bytes, one_time_key: bytes) -> bytes:
    """RFC 8439 §2.5.1: the 16-byte Poly1305 tag of msg under a 32-byte ONE-TIME key (r | s)."""
    one_time_key = _check_len("one-time key", one_time_key, 32)
    r = int.from_bytes(one_time_key[:16], "little") & _CLAMP
    s = int.from_bytes(one_time_key[16:], "little")
    acc = 0
    for i in range(0, len(msg), 16):
        block = msg[i : i + 16]
        # read the (possibly short) block little-endian with one extra 0x01 byte above it
        n = int.from_bytes(block, "little") + (1 << (8 * len(block)))
        acc = ((acc + n) * r) % _P1305
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _poly1305_key_gen(key: bytes, nonce: bytes) -> bytes:
    """RFC 8439 §2.6: the one-time key is the first 32 bytes of ChaCha20 block 0."""
    return chacha20_block(key, 0, nonce)[:32]


# ---------------------------------------------------------------------------------------------
# AEAD_CHACHA20_POLY1305: RFC 8439 §2.8
# ---------------------------------------------------------------------------------------------


def _pad16(n: int) -> bytes:
    return b"\x00" * (-n % 16)


def _aead_tag(otk: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """§2.8: Poly1305 over aad | pad16(aad) | ct | pad16(ct) | le64(len aad) | le64(len ct)."""
    mac_data = b"".join(
        (aad, _pad16(len(aad)), ciphertext, _pad16(len(ciphertext)), struct.pack("<QQ", len(aad), len(ciphertext)))
    )
    return poly1305_mac(mac_data, otk)


def chacha20poly1305_encrypt(plaintext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """RFC 8439 §2.8 (12-byte nonce): return ciphertext | tag.

    Argument order is libsodium's / PyNaCl's (message, aad, nonce, key).
    """
    key = _check_len("key", key, KEY_BYTES)
    nonce = _check_len("nonce", nonce, NONCE_BYTES)
    plaintext, aad = bytes(plaintext), bytes(aad or b"")
    if len(plaintext) > _MAX_MESSAGE_BYTES:
        raise ValueError("plaintext too long")
    otk = _poly1305_key_gen(key, nonce)
    ciphertext = chacha20_xor(key, 1, nonce, plaintext)  # §2.8: the counter starts at 1
    return ciphertext + _aead_tag(otk, aad, ciphertext)


def chacha20poly1305_decrypt(ciphertext_and_tag: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """RFC 8439 §2.8 (12-byte nonce): verify the tag, then decrypt. Raises AuthenticationError.

    The tag is checked (with hmac.compare_digest) BEFORE any plaintext is produced.
    """
    key = _check_len("key", key, KEY_BYTES)
    nonce = _check_len("nonce", nonce, NONCE_BYTES)
    data, aad = bytes(ciphertext_and_tag), bytes(aad or b"")
    if len(data) < TAG_BYTES:
        raise AuthenticationError("shorter than a tag")
    ciphertext, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    if len(ciphertext) > _MAX_MESSAGE_BYTES:
        raise AuthenticationError("ciphertext too long")
    otk = _poly1305_key_gen(key, nonce)
    if not hmac.compare_digest(_aead_tag(otk, aad, ciphertext), tag):
        raise AuthenticationError("tag does not verify")
    return chacha20_xor(key, 1, nonce, ciphertext)


# ---------------------------------------------------------------------------------------------
# HChaCha20 and AEAD_XChaCha20_Poly1305: draft-irtf-cfrg-xchacha-03 §2.2, §2.3
# ---------------------------------------------------------------------------------------------


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """draft-irtf-cfrg-xchacha §2.2: a 32-byte subkey from a 32-byte key and a 16-byte nonce.

    Like the ChaCha20 block, with the 16 nonce bytes in state words 12..15 (in place of the
    counter and the nonce), 20 rounds, and NO final addition of the initial state; the output is
    state words 0..3 and 12..15, little-endian.
    """
    key = _check_len("key", key, KEY_BYTES)
    nonce16 = _check_len("HChaCha20 nonce", nonce16, HCHACHA_NONCE_BYTES)
    x = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    _twenty_rounds(x)
    return struct.pack("<8I", *x[0:4], *x[12:16])


def _xchacha_subkey_and_nonce(key: bytes, nonce: bytes) -> tuple[bytes, bytes]:
    """draft §2.3: subkey = HChaCha20(key, nonce[0:16]); ChaCha20 nonce = 00000000 | nonce[16:24]."""
    key = _check_len("key", key, KEY_BYTES)
    nonce = _check_len("nonce", nonce, XNONCE_BYTES)
    return hchacha20(key, nonce[:16]), b"\x00\x00\x00\x00" + nonce[16:]


def xchacha20poly1305_encrypt(plaintext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """AEAD_XChaCha20_Poly1305 seal (24-byte nonce): return ciphertext | 16-byte tag.

    Same argument order and output as PyNaCl's
    nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(message, aad, nonce, key).
    """
    subkey, nonce12 = _xchacha_subkey_and_nonce(key, nonce)
    return chacha20poly1305_encrypt(plaintext, aad, nonce12, subkey)


def xchacha20poly1305_decrypt(ciphertext_and_tag: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """AEAD_XChaCha20_Poly1305 open (24-byte nonce). Raises AuthenticationError on a bad tag.

    Same argument order as PyNaCl's crypto_aead_xchacha20poly1305_ietf_decrypt (which raises
    nacl.exceptions.CryptoError instead).
    """
    subkey, nonce12 = _xchacha_subkey_and_nonce(key, nonce)
    return chacha20poly1305_decrypt(ciphertext_and_tag, aad, nonce12, subkey)
