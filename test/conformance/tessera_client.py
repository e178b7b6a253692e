"""Tessera protocol v1: an independent client, written from docs/protocol.md alone.

This module is a reference for third-party implementers. It was written from the normative
specification (docs/protocol.md, "the spec"; section numbers below refer to it) and the test
vectors it names in §11, without reading the TypeScript implementation. Everything a client needs
is here:

  - the canonical msgpack subset, encoder and strict decoder (§2);
  - key derivation, sealing and opening of sealed objects (§3);
  - name grammars and scope lists (§4);
  - KDC frames and every message body schema (§5.1-§5.7);
  - the AS exchange with pre-authentication (§5.3) and the TGS exchange (§5.4) over a minimal
    RFC 6455 WebSocket client (§5.1);
  - authenticators, request hashes and the `Authorization: Tessera ...` header (§5.5, §6.1, §6.2);
  - the AP-REP of mutual authentication (§5.5);
  - keytab files (§8.2);
  - ERROR frames decoded to their code names (§10, docs/errors.md).

Dependencies: the Python 3 standard library. BLAKE2b and SHA-256 come from hashlib. For
XChaCha20-Poly1305, PyNaCl (libsodium; Debian: python3-nacl) is used when it is importable, and
otherwise the pure-Python xchacha.py next to this file (slow, not constant-time: tests only).
`AEAD_IMPL` names the one in use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

# XChaCha20-Poly1305 (§3.1): libsodium through PyNaCl when it is installed, else the pure-Python
# fallback next to this file. Both take (message, aad, nonce, key) and return ciphertext | tag;
# a failed open raises (nacl.exceptions.CryptoError / xchacha.AuthenticationError).
import xchacha as _xchacha  # noqa: E402  (this directory is on sys.path: scripts put it there)

# TESSERA_CONFORMANCE_AEAD=pure forces the fallback even where PyNaCl is installed (to exercise it).
_nacl = None
if os.environ.get("TESSERA_CONFORMANCE_AEAD", "") != "pure":
    try:
        from nacl import bindings as _nacl
    except ImportError:
        _nacl = None

if _nacl is not None:
    import nacl as _nacl_pkg

    AEAD_IMPL = f"PyNaCl {getattr(_nacl_pkg, '__version__', '?')} (libsodium)"
    _aead_encrypt = _nacl.crypto_aead_xchacha20poly1305_ietf_encrypt
    _aead_decrypt = _nacl.crypto_aead_xchacha20poly1305_ietf_decrypt
else:
    AEAD_IMPL = "pure-Python xchacha.py (tests only, not constant-time)"
    _aead_encrypt = _xchacha.xchacha20poly1305_encrypt
    _aead_decrypt = _xchacha.xchacha20poly1305_decrypt


def aead_encrypt(plaintext: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """XChaCha20-Poly1305 (IETF) seal with the implementation in use: ciphertext | 16-byte tag."""
    return _aead_encrypt(plaintext, aad, nonce, key)


def aead_decrypt(ciphertext_and_tag: bytes, aad: bytes, nonce: bytes, key: bytes) -> bytes:
    """XChaCha20-Poly1305 (IETF) open with the implementation in use; raises on a bad tag."""
    return _aead_decrypt(ciphertext_and_tag, aad, nonce, key)


# ---------------------------------------------------------------------------------------------
# §9 Limits (wire-format constants; not configurable)
# ---------------------------------------------------------------------------------------------

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 65536
MAX_STR_BYTES = 4096
MAX_BIN_BYTES = 65536
MAX_ARRAY_ITEMS = 4096
MAX_NESTING_DEPTH = 8
KEY_BYTES = 32
NONCE_BYTES = 24
TAG_BYTES = 16
REQUEST_NONCE_BYTES = 16
TICKET_ID_BYTES = 16
HASH_BYTES = 32
MAX_SEALED_BYTES = 8192
MAX_ADMIN_SEALED_BYTES = 60000
MAX_SCOPES = 32
MAX_UINT32 = 0xFFFFFFFF
MAX_CLOCK_SKEW_S = 300
MIN_TICKET_LIFETIME_S = 60
TGS_PRINCIPAL = "krbtgt"
ADMIN_PRINCIPAL = "kadmin"
MAX_KEYTAB_BYTES = 4096  # §9 "Other bounds"
MAX_KEYTAB_KEYS = 16
MIN_SEALED_BYTES = NONCE_BYTES + TAG_BYTES + 1  # 41: one plaintext byte at least (§3.4, §9)


# ---------------------------------------------------------------------------------------------
# §10 Errors (codes and wire numbers from docs/errors.md; registry test/vectors/error-codes.json)
# ---------------------------------------------------------------------------------------------

WIRE_CODES: dict[str, int] = {
    "ERR_PROTO_MALFORMED": 100,
    "ERR_PROTO_VERSION": 101,
    "ERR_PROTO_TOO_LARGE": 102,
    "ERR_PROTO_UNEXPECTED": 103,
    "ERR_PROTO_NON_CANONICAL": 104,
    "ERR_KDC_PRINCIPAL_UNKNOWN": 200,
    "ERR_KDC_PREAUTH_REQUIRED": 201,
    "ERR_KDC_PREAUTH_FAILED": 202,
    "ERR_KDC_POLICY": 203,
    "ERR_KDC_BAD_LIFETIME": 204,
    "ERR_KDC_RATE_LIMITED": 205,
    "ERR_KDC_PRINCIPAL_DISABLED": 206,
    "ERR_KDC_CLIENT_REVOKED": 207,
    "ERR_AP_BAD_INTEGRITY": 300,
    "ERR_AP_TKT_EXPIRED": 301,
    "ERR_AP_TKT_NOT_YET_VALID": 302,
    "ERR_AP_SKEW": 303,
    "ERR_AP_REPLAY": 304,
    "ERR_AP_NOT_US": 305,
    "ERR_AP_BAD_KVNO": 306,
    "ERR_AP_BAD_MATCH": 307,
    "ERR_AP_REQUEST_MISMATCH": 308,
    "ERR_AP_SCOPE": 309,
    "ERR_AP_NO_CREDENTIALS": 310,
    "ERR_ADMIN_FORBIDDEN": 400,
    "ERR_ADMIN_NOT_FOUND": 401,
    "ERR_ADMIN_EXISTS": 402,
    "ERR_ADMIN_INVALID": 403,
    "ERR_ADMIN_NOT_WRITER": 404,
    "ERR_KDC_INTERNAL": 500,
    "ERR_KDC_UNAVAILABLE": 503,
}
CODE_BY_WIRE: dict[int, str] = {n: c for c, n in WIRE_CODES.items()}


def code_name(wire: int) -> str:
    """Map an ERROR frame's wire number to its code; an unknown number is ERR_PROTO_MALFORMED (§10)."""
    return CODE_BY_WIRE.get(wire, "ERR_PROTO_MALFORMED")


class TesseraError(Exception):
    """A refusal with a stable code (docs/errors.md). `kdc_time` is set for KDC ERROR frames."""

    def __init__(self, code: str, message: str = "", kdc_time: Optional[int] = None):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.kdc_time = kdc_time


class _Bad(Exception):
    """Internal: a value does not match its schema. Callers turn it into the right code."""


# ---------------------------------------------------------------------------------------------
# §2 Encoding: the canonical msgpack subset
# ---------------------------------------------------------------------------------------------
# Values are Python int (0 .. 2^32-1), str, bytes and list. Nothing else exists on the wire.


def encode(value) -> bytes:
    """Canonical encoding of a value (§2.2): the smallest format for every integer and header."""
    out = bytearray()
    _encode_into(value, out, 1)
    return bytes(out)


def _encode_into(v, out: bytearray, depth: int) -> None:
    if isinstance(v, bool) or v is None:
        raise TypeError("booleans and nil do not exist on the wire (§2.1)")
    if isinstance(v, int):
        if v < 0 or v > MAX_UINT32:
            raise ValueError("integers are unsigned and below 2^32 (§2.1)")
        if v <= 0x7F:
            out.append(v)
        elif v <= 0xFF:
            out += b"\xcc" + struct.pack(">B", v)
        elif v <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", v)
        else:
            out += b"\xce" + struct.pack(">I", v)
    elif isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n <= 31:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += b
    elif isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n <= 0xFF:
            out += b"\xc4" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += bytes(v)
    elif isinstance(v, (list, tuple)):
        if depth > MAX_NESTING_DEPTH:
            raise ValueError("nesting deeper than MAX_NESTING_DEPTH (§2.1)")
        n = len(v)
        if n <= 15:
            out.append(0x90 | n)
        elif n <= 0xFFFF:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in v:
            _encode_into(item, out, depth + 1)
    else:
        raise TypeError(f"no wire type for {type(v).__name__} (§2.1)")


def decode(data: bytes, max_bytes: int = MAX_FRAME_BYTES):
    """Strict decoder of §2.3. Raises TesseraError with an ERR_PROTO_* code.

    Iterative (an explicit stack, no recursion), so depth is bounded whatever the input. Checks are
    made in the order §2.3 gives: input size; per length prefix the limits (TOO_LARGE) and then the
    remaining bytes (MALFORMED); then formats outside the subset, UTF-8, non-minimal headers.
    """
    if len(data) > max_bytes:
        raise TesseraError("ERR_PROTO_TOO_LARGE", "input over its limit")
    if len(data) == 0:
        raise TesseraError("ERR_PROTO_MALFORMED", "empty input")
    n = len(data)
    pos = 0
    # stack of [list being filled, items still expected]
    stack: list[list] = []
    root = None
    have_root = False

    def need(k: int) -> None:
        if n - pos < k:
            raise TesseraError("ERR_PROTO_MALFORMED", "truncated")

    def noncanonical() -> None:
        raise TesseraError("ERR_PROTO_NON_CANONICAL", "non-minimal integer or header")

    while True:
        need(1)
        b = data[pos]
        pos += 1
        value = None
        new_array_len = -1

        if b <= 0x7F:  # positive fixint
            value = b
        elif 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):  # arrays
            if b <= 0x9F:
                count = b & 0x0F
            else:
                w = 2 if b == 0xDC else 4
                need(w)
                count = int.from_bytes(data[pos : pos + w], "big")
                pos += w
            if count > MAX_ARRAY_ITEMS:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "array over MAX_ARRAY_ITEMS")
            if len(stack) + 1 > MAX_NESTING_DEPTH:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "array nested deeper than MAX_NESTING_DEPTH")
            if count > n - pos:  # one byte per item at least
                raise TesseraError("ERR_PROTO_MALFORMED", "array length beyond the input")
            if (b == 0xDC and count <= 15) or (b == 0xDD and count <= 0xFFFF):
                noncanonical()
            new_array_len = count
            value = []
        elif 0xA0 <= b <= 0xBF or b in (0xD9, 0xDA, 0xDB):  # strings
            if b <= 0xBF:
                ln = b & 0x1F
            else:
                w = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
                need(w)
                ln = int.from_bytes(data[pos : pos + w], "big")
                pos += w
            if ln > MAX_STR_BYTES:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "string over MAX_STR_BYTES")
            need(ln)
            if (b == 0xD9 and ln <= 31) or (b == 0xDA and ln <= 0xFF) or (b == 0xDB and ln <= 0xFFFF):
                noncanonical()
            raw = data[pos : pos + ln]
            pos += ln
            try:
                value = raw.decode("utf-8", errors="strict")  # rejects overlongs and surrogates
            except UnicodeDecodeError:
                raise TesseraError("ERR_PROTO_MALFORMED", "invalid UTF-8") from None
        elif b in (0xC4, 0xC5, 0xC6):  # binary
            w = {0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
            need(w)
            ln = int.from_bytes(data[pos : pos + w], "big")
            pos += w
            if ln > MAX_BIN_BYTES:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "binary over MAX_BIN_BYTES")
            need(ln)
            if (b == 0xC5 and ln <= 0xFF) or (b == 0xC6 and ln <= 0xFFFF):
                noncanonical()
            value = bytes(data[pos : pos + ln])
            pos += ln
        elif b in (0xCC, 0xCD, 0xCE):  # uint8/16/32
            w = {0xCC: 1, 0xCD: 2, 0xCE: 4}[b]
            need(w)
            value = int.from_bytes(data[pos : pos + w], "big")
            pos += w
            if (b == 0xCC and value <= 0x7F) or (b == 0xCD and value <= 0xFF) or (b == 0xCE and value <= 0xFFFF):
                noncanonical()
        elif b == 0xCF:  # uint64
            raise TesseraError("ERR_PROTO_TOO_LARGE", "uint64")
        else:
            # maps, nil, booleans, floats, signed integers, extension types, reserved c1
            raise TesseraError("ERR_PROTO_MALFORMED", f"format 0x{b:02x} outside the subset")

        # attach the value to its parent (or make it the root)
        if stack:
            stack[-1][0].append(value)
            stack[-1][1] -= 1
        else:
            root = value
            have_root = True
        if new_array_len > 0:
            stack.append([value, new_array_len])
        # close every array that is now complete
        while stack and stack[-1][1] == 0:
            stack.pop()
        if not stack and have_root:
            break

    if pos != n:
        raise TesseraError("ERR_PROTO_MALFORMED", "trailing bytes")
    # Belt and braces, as the reference decoder does (§2.3): re-encode and compare.
    if encode(root) != bytes(data):
        raise TesseraError("ERR_PROTO_NON_CANONICAL", "re-encoding differs")
    return root


# ---------------------------------------------------------------------------------------------
# §4 Names and scope lists
# ---------------------------------------------------------------------------------------------

_PRINCIPAL = re.compile(r"[a-z][a-z0-9._-]{0,62}", re.ASCII)
_REALM = re.compile(r"[A-Z0-9][A-Z0-9.-]{0,62}", re.ASCII)
_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._/*-]{0,63}", re.ASCII)
_NODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", re.ASCII)  # §5.7


def is_principal(s) -> bool:
    return isinstance(s, str) and _PRINCIPAL.fullmatch(s) is not None


def is_realm(s) -> bool:
    return isinstance(s, str) and _REALM.fullmatch(s) is not None


def is_scope(s) -> bool:
    return isinstance(s, str) and _SCOPE.fullmatch(s) is not None


def canonical_scopes(scopes: Sequence[str]) -> list[str]:
    """Sort and de-duplicate scopes into the canonical scope list of §4 (byte order)."""
    out = sorted(set(scopes), key=lambda s: s.encode("ascii"))
    for s in out:
        if not is_scope(s):
            raise ValueError(f"invalid scope {s!r} (§4)")
    if len(out) > MAX_SCOPES:
        raise ValueError("more than MAX_SCOPES scopes (§4)")
    return out


# ---------------------------------------------------------------------------------------------
# Schema helpers: each raises _Bad when the value does not have the exact shape (§2.3, §5)
# ---------------------------------------------------------------------------------------------


def _arr(v, n: int) -> list:
    if not isinstance(v, list) or len(v) != n:
        raise _Bad("arity")
    return v


def _uint(v, hi: int = MAX_UINT32) -> int:
    if type(v) is not int or not 0 <= v <= hi:
        raise _Bad("uint")
    return v


def _bin(v, lo: int, hi: Optional[int] = None) -> bytes:
    hi = lo if hi is None else hi
    if not isinstance(v, bytes) or not lo <= len(v) <= hi:
        raise _Bad("bytes")
    return v


def _str(v) -> str:
    if not isinstance(v, str):
        raise _Bad("str")
    return v


def _principal(v) -> str:
    if not is_principal(v):
        raise _Bad("principal")
    return v


def _realm(v) -> str:
    if not is_realm(v):
        raise _Bad("realm")
    return v


def _node(v) -> str:
    if not isinstance(v, str) or _NODE.fullmatch(v) is None:
        raise _Bad("node")
    return v


def _scope_list(v) -> list[str]:
    """A canonical scope list (§4): <= MAX_SCOPES, each valid, strictly ascending in byte order."""
    if not isinstance(v, list) or len(v) > MAX_SCOPES:
        raise _Bad("scopes")
    prev = None
    for s in v:
        if not is_scope(s):
            raise _Bad("scope")
        b = s.encode("ascii")
        if prev is not None and not prev < b:
            raise _Bad("scope order")
        prev = b
    return v


def _ticket(v) -> list:
    """Ticket = [realm, service, kvno, sealed: bytes(41..8192)] (§5.1)."""
    _arr(v, 4)
    _realm(v[0])
    _principal(v[1])
    _uint(v[2])
    _bin(v[3], MIN_SEALED_BYTES, MAX_SEALED_BYTES)
    return v


def _sealed(v) -> bytes:
    return _bin(v, MIN_SEALED_BYTES, MAX_SEALED_BYTES)


def _admin_sealed(v) -> bytes:
    return _bin(v, MIN_SEALED_BYTES, MAX_ADMIN_SEALED_BYTES)


# ---------------------------------------------------------------------------------------------
# §3 Cryptography
# ---------------------------------------------------------------------------------------------

LABEL_TICKET = "tessera/v1/ticket"
LABEL_PREAUTH = "tessera/v1/preauth"
LABEL_AS_REP = "tessera/v1/as-rep"
LABEL_TGS_REP = "tessera/v1/tgs-rep"
LABEL_AUTHENTICATOR = "tessera/v1/authenticator"
LABEL_AP_REP = "tessera/v1/ap-rep"
LABEL_ADMIN = "tessera/v1/admin"
LABEL_REPLICATION = "tessera/v1/replication"
LABEL_DB = "tessera/v1/db"

# Object types (§3.3)
OBJ_TICKET = 32
OBJ_PREAUTH = 33
OBJ_AS_REP = 34
OBJ_TGS_REP = 35
OBJ_AUTHENTICATOR = 36
OBJ_AP_REP = 37
OBJ_ADMIN_REQ = 38
OBJ_ADMIN_REP = 39
OBJ_DB_KEY = 40
OBJ_REPLICATION = 41


def _sch_enc_ticket_part(v):  # §5.2
    _arr(v, 10)
    _uint(v[0])
    _bin(v[1], KEY_BYTES)
    _principal(v[2])
    _uint(v[3]); _uint(v[4]); _uint(v[5])
    _scope_list(v[6])
    _uint(v[7])
    _bin(v[8], TICKET_ID_BYTES)
    _bin(v[9], 0, 64)


def _sch_preauth(v):  # §5.3
    _arr(v, 2)
    _uint(v[0])
    _bin(v[1], REQUEST_NONCE_BYTES)


def _sch_as_rep_part(v):  # §5.3
    _arr(v, 6)
    _bin(v[0], KEY_BYTES)
    _bin(v[1], REQUEST_NONCE_BYTES)
    _uint(v[2]); _uint(v[3]); _uint(v[4]); _uint(v[5])


def _sch_tgs_rep_part(v):  # §5.4
    _arr(v, 9)
    _bin(v[0], KEY_BYTES)
    _bin(v[1], REQUEST_NONCE_BYTES)
    _uint(v[2]); _uint(v[3]); _uint(v[4])
    _scope_list(v[5])
    _uint(v[6])
    _bin(v[7], TICKET_ID_BYTES)
    _uint(v[8])


def _sch_authenticator(v):  # §6.1
    _arr(v, 3)
    _uint(v[0]); _uint(v[1])
    _bin(v[2], HASH_BYTES)


def _sch_ap_rep_part(v):  # §5.5
    _arr(v, 2)
    _uint(v[0]); _uint(v[1])


def _sch_admin_payload(v):  # §5.6.1: [op: str, args/result]; the per-op schemas are in protocol-admin.md
    if not isinstance(v, list) or len(v) != 2:
        raise _Bad("arity")
    _str(v[0])


@dataclass(frozen=True)
class SealedObject:
    label: str
    max_plaintext: int
    schema: Optional[Callable]  # None: raw bytes plaintext (db key, §8.3)


OBJECTS: dict[int, SealedObject] = {  # §3.3 table
    OBJ_TICKET: SealedObject(LABEL_TICKET, 8152, _sch_enc_ticket_part),
    OBJ_PREAUTH: SealedObject(LABEL_PREAUTH, 32, _sch_preauth),
    OBJ_AS_REP: SealedObject(LABEL_AS_REP, 128, _sch_as_rep_part),
    OBJ_TGS_REP: SealedObject(LABEL_TGS_REP, 4096, _sch_tgs_rep_part),
    OBJ_AUTHENTICATOR: SealedObject(LABEL_AUTHENTICATOR, 64, _sch_authenticator),
    OBJ_AP_REP: SealedObject(LABEL_AP_REP, 16, _sch_ap_rep_part),
    OBJ_ADMIN_REQ: SealedObject(LABEL_ADMIN, 59960, _sch_admin_payload),
    OBJ_ADMIN_REP: SealedObject(LABEL_ADMIN, 59960, _sch_admin_payload),
    OBJ_DB_KEY: SealedObject(LABEL_DB, 32, None),
}


def kdf(key: bytes, label: str) -> bytes:
    """§3.2: subkey = keyed BLAKE2b-256 (RFC 7693) of UTF-8(label) under the 32-byte key."""
    if len(key) != KEY_BYTES:
        raise ValueError("keys are 32 bytes")
    return hashlib.blake2b(label.encode("utf-8"), key=key, digest_size=32).digest()


def make_aad(obj_type: int, context: Sequence) -> bytes:
    """§3.3: aad = msgpack([LABEL, 1, objectType, ...context])."""
    return encode([object_label(obj_type), PROTOCOL_VERSION, obj_type, *context])


def object_label(obj_type: int) -> str:
    if obj_type == OBJ_REPLICATION:
        return LABEL_REPLICATION
    return OBJECTS[obj_type].label


def seal(key: bytes, obj_type: int, context: Sequence, plaintext, nonce: Optional[bytes] = None) -> bytes:
    """§3.3: sealed = nonce ‖ XChaCha20-Poly1305(subkey, nonce, aad, msgpack(plaintext)).

    `plaintext` is a wire value (msgpack-encoded here) or, for the db key (§8.3), raw bytes.
    `nonce` is only for reproducing test vectors: otherwise 24 fresh CSPRNG bytes (§3.1).
    """
    obj = OBJECTS[obj_type]
    pt = plaintext if obj.schema is None else encode(plaintext)
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_BYTES)
    ct = aead_encrypt(pt, make_aad(obj_type, context), nonce, kdf(key, obj.label))
    return nonce + ct


def open_sealed(key: bytes, obj_type: int, context: Sequence, sealed: bytes):
    """§3.4: open a sealed object with ONE key and the receiver's own view of the context.

    Every failure (length, tag, key, context, non-canonical or ill-shaped plaintext) is the single
    code ERR_AP_BAD_INTEGRITY.
    """
    obj = OBJECTS[obj_type]
    bad = TesseraError("ERR_AP_BAD_INTEGRITY", "sealed object does not open")
    # step 2: length before any cryptography
    if not MIN_SEALED_BYTES <= len(sealed) <= NONCE_BYTES + TAG_BYTES + obj.max_plaintext:
        raise bad
    # step 3: open with the derived subkey and the rebuilt AAD
    try:
        pt = aead_decrypt(
            sealed[NONCE_BYTES:], make_aad(obj_type, context), sealed[:NONCE_BYTES], kdf(key, obj.label)
        )
    except Exception:
        raise bad from None
    if obj.schema is None:  # §8.3 raw key bytes
        if len(pt) != KEY_BYTES:
            raise bad
        return pt
    # step 4: decode with §2 and check the schema
    try:
        value = decode(pt, max_bytes=obj.max_plaintext)
        obj.schema(value)
    except (TesseraError, _Bad):
        raise bad from None
    return value


# ---------------------------------------------------------------------------------------------
# §6.2 Request hashes
# ---------------------------------------------------------------------------------------------

EMPTY_BODY_HASH = hashlib.sha256(b"").digest()


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def canonical_authority(authority: str) -> str:
    """§6.2: lower-case the ASCII letters (only those), drop a ':80' or ':443' suffix.

    Refuses (ValueError) an authority that names no server: empty host, userinfo, a port that is
    not a number up to 65535.
    """
    a = authority.translate(_ASCII_LOWER)
    if "@" in a or a == "":
        raise ValueError("authority names no server")
    if a.startswith("["):
        end = a.find("]")
        if end < 0:
            raise ValueError("unterminated IPv6 literal")
        host, rest = a[: end + 1], a[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("garbage after IPv6 literal")
        port = rest[1:] if rest else None
    else:
        host, sep, port = a.partition(":")
        if not sep:
            port = None
        elif ":" in port:
            raise ValueError("bare IPv6 address without brackets")
    if host in ("", "[]"):
        raise ValueError("empty host")
    if port is not None:
        if not port.isdigit() or not port.isascii() or int(port) > 65535:
            raise ValueError("bad port")
        # The spec removes the suffix ':80' or ':443' textually, whatever the scheme.
        if port in ("80", "443"):
            return host
        return f"{host}:{port}"
    return host


def split_url(url: str) -> tuple[str, str, str]:
    """Split an absolute http(s) URL into (scheme, authority, target) as §6.2 binds them.

    target = path and query exactly as written, without the fragment; '/' when the path is empty.
    """
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", url, re.S)
    if not m:
        raise ValueError("not an absolute URL")
    scheme, authority, rest = m.group(1).lower(), m.group(2), m.group(3)
    if scheme not in ("http", "https"):
        raise ValueError("only http and https URLs are bound (§6.2)")
    rest = rest.split("#", 1)[0]
    if rest == "" or rest.startswith("?"):
        rest = "/" + rest
    return scheme, authority, rest


def http_request_hash(method: str, authority: str, target: str, body: bytes = b"") -> bytes:
    """§6.2: BLAKE2b-256(msgpack(["tessera/v1/http", METHOD, authority, target, SHA-256(body)]))."""
    return blake2b_256(http_preimage(method, authority, target, body))


def http_preimage(method: str, authority: str, target: str, body: bytes = b"") -> bytes:
    return encode(
        ["tessera/v1/http", method.upper(), canonical_authority(authority), target, hashlib.sha256(body).digest()]
    )


def tgs_request_hash(target: str, scopes: Sequence[str], lifetime: int, nonce: bytes) -> bytes:
    """§6.2: BLAKE2b-256(msgpack(["tessera/v1/tgs-req", target, scopes, lifetime, nonce]))."""
    return blake2b_256(encode(["tessera/v1/tgs-req", target, list(scopes), lifetime, nonce]))


def admin_request_hash(frame_id: int, sealed_payload: bytes) -> bytes:
    """§6.2: BLAKE2b-256(msgpack(["tessera/v1/admin-req", frameId, sealed payload]))."""
    return blake2b_256(encode(["tessera/v1/admin-req", frame_id, sealed_payload]))


# ---------------------------------------------------------------------------------------------
# §5.1 Frames, §5.3-§5.7 bodies
# ---------------------------------------------------------------------------------------------

AS_REQ, AS_REP, TGS_REQ, TGS_REP, AP_REQ, AP_REP, ERROR = 1, 2, 3, 4, 5, 6, 7
ADMIN_REQ, ADMIN_REP, REPL_REQ, REPL_REP = 8, 9, 10, 11


def _body_as_req(v):
    _arr(v, 6); _realm(v[0]); _principal(v[1]); _uint(v[2]); _bin(v[3], REQUEST_NONCE_BYTES); _uint(v[4]); _sealed(v[5])


def _body_as_rep(v):
    _arr(v, 4); _uint(v[0]); _ticket(v[1]); _uint(v[2]); _sealed(v[3])


def _body_tgs_req(v):
    _arr(v, 6); _ticket(v[0]); _sealed(v[1]); _principal(v[2]); _scope_list(v[3]); _uint(v[4]); _bin(v[5], REQUEST_NONCE_BYTES)


def _body_tgs_rep(v):
    _arr(v, 4); _uint(v[0]); _principal(v[1]); _ticket(v[2]); _sealed(v[3])


def _body_error(v):
    _arr(v, 2); _uint(v[0]); _uint(v[1], 65535)


def _body_admin_req(v):
    _arr(v, 3); _ticket(v[0]); _sealed(v[1]); _admin_sealed(v[2])


def _body_admin_rep(v):
    _arr(v, 2); _uint(v[0]); _admin_sealed(v[1])


def _body_repl(v):
    _arr(v, 2); _node(v[0]); _admin_sealed(v[1])


FRAME_BODIES: dict[int, Callable] = {
    AS_REQ: _body_as_req,
    AS_REP: _body_as_rep,
    TGS_REQ: _body_tgs_req,
    TGS_REP: _body_tgs_rep,
    ERROR: _body_error,
    ADMIN_REQ: _body_admin_req,
    ADMIN_REP: _body_admin_rep,
    REPL_REQ: _body_repl,
    REPL_REP: _body_repl,
}


def encode_frame(ftype: int, fid: int, body: list) -> bytes:
    """frame = msgpack([1, type, id, body]) (§5.1)."""
    data = encode([PROTOCOL_VERSION, ftype, fid, body])
    if len(data) > MAX_FRAME_BYTES:
        raise TesseraError("ERR_PROTO_TOO_LARGE", "frame over MAX_FRAME_BYTES")
    return data


def _check_version(v) -> None:
    """§5.1: any array whose first item is an integer other than 1 is ERR_PROTO_VERSION, whatever its length."""
    if isinstance(v, list) and v and type(v[0]) is int and v[0] != PROTOCOL_VERSION:
        raise TesseraError("ERR_PROTO_VERSION", "unsupported protocol version")


def decode_frame(data: bytes) -> tuple[int, int, list]:
    """Decode and validate a KDC frame (§5.1): returns (type, id, body)."""
    v = decode(data, MAX_FRAME_BYTES)
    _check_version(v)
    if not isinstance(v, list) or len(v) != 4 or type(v[1]) is not int or type(v[2]) is not int:
        raise TesseraError("ERR_PROTO_MALFORMED", "not a frame")
    ftype, fid, body = v[1], v[2], v[3]
    schema = FRAME_BODIES.get(ftype)  # AP-REQ/AP-REP (5, 6) are never frames
    if schema is None:
        raise TesseraError("ERR_PROTO_MALFORMED", "unknown frame type")
    try:
        schema(body)
    except _Bad as e:
        raise TesseraError("ERR_PROTO_MALFORMED", f"bad body: {e}") from None
    return ftype, fid, body


# §5.5 AP messages (HTTP; not frames, no id)


def encode_ap_req(ticket: list, authenticator: bytes) -> bytes:
    return encode([PROTOCOL_VERSION, AP_REQ, ticket, authenticator])


def _is_uint(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def decode_ap_req(data: bytes) -> tuple[list, bytes]:
    """AP-REQ = [1, 5, Ticket, authenticator]. Order (§5.1.2): version, arity, type."""
    v = decode(data, MAX_FRAME_BYTES)
    _check_version(v)
    if not isinstance(v, list) or len(v) != 4 or not _is_uint(v[0]):
        raise TesseraError("ERR_PROTO_MALFORMED", "AP-REQ is a 4-item array")
    if v[1] != AP_REQ:
        raise TesseraError("ERR_PROTO_UNEXPECTED", "not an AP-REQ (§5.1.2 step 4)")
    try:
        _ticket(v[2]); _sealed(v[3])
    except _Bad as e:
        raise TesseraError("ERR_PROTO_MALFORMED", f"bad AP-REQ: {e}") from None
    return v[2], v[3]


def decode_ap_rep(data: bytes) -> bytes:
    """AP-REP = [1, 6, encPart]: a 3-item array (§5.5). Returns encPart."""
    v = decode(data, MAX_FRAME_BYTES)
    _check_version(v)
    if not isinstance(v, list) or len(v) != 3 or not _is_uint(v[0]):
        raise TesseraError("ERR_PROTO_MALFORMED", "AP-REP is a 3-item array")
    if v[1] != AP_REP:
        raise TesseraError("ERR_PROTO_UNEXPECTED", "not an AP-REP (§5.1.2 step 4)")
    try:
        _sealed(v[2])
    except _Bad:
        raise TesseraError("ERR_PROTO_MALFORMED", "bad AP-REP") from None
    return v[2]


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5), as §5.5 requires."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode_strict(s: str) -> bytes:
    """Strict base64url (§5.5): no padding, no other characters, zero trailing bits."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s) or len(s) % 4 == 1:
        raise TesseraError("ERR_PROTO_MALFORMED", "not strict base64url")
    data = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if b64url_encode(data) != s:  # non-zero trailing bits
        raise TesseraError("ERR_PROTO_MALFORMED", "non-zero trailing bits")
    return data


# ---------------------------------------------------------------------------------------------
# §8.2 Keytab files
# ---------------------------------------------------------------------------------------------


@dataclass
class Keytab:
    realm: str
    principal: str
    entries: list  # [(kvno, key, createdAt)], kvnos strictly ascending; the last is current

    @property
    def current(self) -> tuple[int, bytes]:
        kvno, key, _ = self.entries[-1]
        return kvno, key

    def key(self, kvno: int) -> Optional[bytes]:
        for k, key, _ in self.entries:
            if k == kvno:
                return key
        return None

    def to_bytes(self) -> bytes:
        return encode(["tessera-keytab", 1, self.realm, self.principal, [list(e) for e in self.entries]])


def parse_keytab(data: bytes) -> Keytab:
    """keytab = msgpack(["tessera-keytab", 1, realm, principal, [[kvno, key(32), createdAt], ...]]).

    1-16 entries, kvnos strictly ascending, at most 4096 bytes. Any defect is ERR_CLIENT_KEYTAB, and
    the message never contains key bytes.
    """
    try:
        v = decode(data, MAX_KEYTAB_BYTES)
        _arr(v, 5)
        if v[0] != "tessera-keytab" or type(v[1]) is not int or v[1] != 1:
            raise _Bad("magic/version")
        _realm(v[2]); _principal(v[3])
        ents = v[4]
        if not isinstance(ents, list) or not 1 <= len(ents) <= MAX_KEYTAB_KEYS:
            raise _Bad("entry count")
        prev = -1
        for e in ents:
            _arr(e, 3); _uint(e[0]); _bin(e[1], KEY_BYTES); _uint(e[2])
            if e[0] <= prev:
                raise _Bad("kvnos not strictly ascending")
            prev = e[0]
    except (TesseraError, _Bad) as e:
        raise TesseraError("ERR_CLIENT_KEYTAB", f"invalid keytab ({e.__class__.__name__}: {getattr(e, 'code', e)})") from None
    return Keytab(v[2], v[3], [tuple(e) for e in ents])


_warned_modes: set = set()


def read_keytab(path: str) -> Keytab:
    """Read a keytab file; warn (once per file) when group or others have any access (§8.2)."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(MAX_KEYTAB_BYTES + 1)
    except OSError as e:
        raise TesseraError("ERR_CLIENT_KEYTAB", f"cannot read keytab {path}: {e.strerror}") from None
    if st.st_mode & 0o077 and path not in _warned_modes:
        _warned_modes.add(path)
        print(f"[TESSERA_KEYTAB_MODE] Warning: {path} has mode {stat.S_IMODE(st.st_mode):04o}", file=sys.stderr)
    return parse_keytab(data)


# ---------------------------------------------------------------------------------------------
# §5.1 Transport: a minimal RFC 6455 WebSocket client (binary messages, no extensions)
# ---------------------------------------------------------------------------------------------


class WebSocket:
    """Just enough of RFC 6455 for the KDC: client handshake, masked binary messages, ping/pong,
    close. No permessage-deflate (the KDC refuses compression, §5.1)."""

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url: str, timeout: float = 5.0):
        m = re.fullmatch(r"ws://([^/:]+|\[[^\]]+\])(?::(\d+))?(/.*)?", url)
        if not m:
            raise ValueError("only ws://HOST:PORT/PATH URLs are supported here")
        host, port, path = m.group(1), int(m.group(2) or 80), m.group(3) or "/"
        try:
            self.sock = socket.create_connection((host.strip("[]"), port), timeout=timeout)
        except OSError as e:
            raise TesseraError("ERR_CLIENT_UNREACHABLE", f"{url}: {e}") from None
        self.sock.settimeout(timeout)
        self._buf = b""
        key = base64.b64encode(secrets.token_bytes(16))
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode("ascii"))
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise TesseraError("ERR_CLIENT_UNREACHABLE", f"handshake refused: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        accept = base64.b64encode(hashlib.sha1(key + self.GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise TesseraError("ERR_CLIENT_UNREACHABLE", "bad Sec-WebSocket-Accept")
        if headers.get("sec-websocket-extensions"):
            raise TesseraError("ERR_PROTO_MALFORMED", "server negotiated an extension we did not offer")

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TesseraError("ERR_CLIENT_TIMEOUT", "no reply from the KDC in time") from None
            if not chunk:
                raise TesseraError("ERR_CLIENT_CLOSED", "connection closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_until(self, sep: bytes) -> bytes:
        while sep not in self._buf:
            if len(self._buf) > 16384:
                raise TesseraError("ERR_CLIENT_UNREACHABLE", "handshake too long")
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise TesseraError("ERR_CLIENT_TIMEOUT", "no handshake reply in time") from None
            if not chunk:
                raise TesseraError("ERR_CLIENT_CLOSED", "connection closed during the handshake")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(sep)
        return head

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        hdr = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            hdr.append(0x80 | n)
        elif n < 65536:
            hdr.append(0x80 | 126); hdr += struct.pack(">H", n)
        else:
            hdr.append(0x80 | 127); hdr += struct.pack(">Q", n)
        mask = secrets.token_bytes(4)
        hdr += mask
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(bytes(hdr) + masked)

    def send_binary(self, payload: bytes) -> None:
        self._send_frame(0x2, payload)

    def recv_binary(self) -> bytes:
        """One whole binary message (reassembling fragments); answers pings; refuses text."""
        message = b""
        opcode_of_message = None
        while True:
            b0, b1 = self._recv_exact(2)
            fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            if b0 & 0x70:
                raise TesseraError("ERR_PROTO_MALFORMED", "RSV bits set (no extension was negotiated)")
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            if n > MAX_FRAME_BYTES + 16:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "WebSocket message over MAX_FRAME_BYTES")
            mask = self._recv_exact(4) if masked else None
            payload = self._recv_exact(n)
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise TesseraError("ERR_CLIENT_CLOSED", f"KDC closed the connection {payload[:2].hex()}")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                opcode_of_message = opcode
                message = payload
            elif opcode == 0x0:
                message += payload
            if len(message) > MAX_FRAME_BYTES:
                raise TesseraError("ERR_PROTO_TOO_LARGE", "message over MAX_FRAME_BYTES")
            if fin:
                if opcode_of_message != 0x2:
                    raise TesseraError("ERR_PROTO_MALFORMED", "text messages are refused (§5.1)")
                return message

    def close(self) -> None:
        try:
            self._send_frame(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# The client: AS exchange (§5.3), TGS exchange (§5.4), AP-REQ (§5.5, §6.1)
# ---------------------------------------------------------------------------------------------


@dataclass
class Credentials:
    """A ticket and what the client learnt about it from the sealed reply part."""

    realm: str
    client: str
    service: str
    ticket: list  # the Ticket as on the wire: [realm, service, kvno, sealed]
    session_key: bytes
    auth_time: int
    start_time: int
    end_time: int
    flags: int
    scopes: list = field(default_factory=list)
    policy_version: Optional[int] = None
    ticket_id: Optional[bytes] = None
    counter: int = 0  # last authenticator counter used with this ticket (§6.1)

    def next_counter(self) -> int:
        self.counter += 1
        return self.counter


def make_authenticator(creds: Credentials, msg_type: int, request_hash: bytes, ctime: int, counter: int) -> bytes:
    """§6.1: sealed object 36 under the ticket session key, context [realm, client, service, msgType],
    plaintext [ctime, counter, requestHash]."""
    return seal(
        creds.session_key,
        OBJ_AUTHENTICATOR,
        [creds.realm, creds.client, creds.service, msg_type],
        [ctime, counter, request_hash],
    )


@dataclass
class ApRequest:
    """An Authorization header value and what is needed to check the AP-REP (§5.5)."""

    header: str
    ctime: int
    counter: int
    method: str
    authority: str
    target: str


class TesseraClient:
    """Logs in with a keytab (AS), gets service tickets (TGS) and builds AP-REQ headers."""

    def __init__(self, keytab: Keytab, kdc_url: str, timeout: float = 5.0):
        self.keytab = keytab
        self.realm = keytab.realm
        self.name = keytab.principal
        self.kdc_url = kdc_url
        self.timeout = timeout
        self.offset = 0  # kdcTime - localTime, learnt from authenticated startTimes (§6.3)
        self._ws: Optional[WebSocket] = None
        self._next_id = 1
        self.tgt: Optional[Credentials] = None

    # -- transport -----------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.offset

    def _conn(self) -> WebSocket:
        if self._ws is None:
            self._ws = WebSocket(self.kdc_url, self.timeout)
        return self._ws

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def request(self, ftype: int, body: list, reply_type: int) -> list:
        """Send one request frame and return the body of its reply (§5.1).

        An ERROR reply raises TesseraError(code, kdc_time=...). A reply with another id, or of a type
        that does not answer this request, is refused.
        """
        fid = self._next_id
        self._next_id = (self._next_id % MAX_UINT32) + 1
        ws = self._conn()
        try:
            ws.send_binary(encode_frame(ftype, fid, body))
            rtype, rid, rbody = decode_frame(ws.recv_binary())
        except (TesseraError, OSError):
            # A broken or unreadable connection is not reused: the next request opens a new one.
            self.close()
            raise
        if rtype == ERROR:
            # id 0 is allowed: the KDC could not read ours (§5.1); we have one request in flight.
            if rid not in (fid, 0):
                raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "ERROR for another request id")
            raise TesseraError(code_name(rbody[1]), "refused by the KDC", kdc_time=rbody[0])
        if rid != fid:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "reply id differs")
        if rtype != reply_type:
            raise TesseraError("ERR_PROTO_UNEXPECTED", f"frame type {rtype} does not answer type {ftype}")
        return rbody

    # -- AS exchange (§5.3) --------------------------------------------------------------------

    def login(self, lifetime: int = 0) -> Credentials:
        """AS exchange with PA-ENC-TIMESTAMP.

        §6.3: the kdcTime of an ERROR is a hint for ONE retry; the offset is kept for good only
        when the retry succeeds (then from the authenticated startTime). The KDC checks freshness
        only after the key is proved (§5.3), so a skewed pre-auth answers ERR_AP_SKEW; §6.3 also
        names "a failed pre-auth" as a case for the hint, which we honour only when the hint is
        more than the skew away from our clock (otherwise a retry cannot change the outcome).
        """
        try:
            return self._login_once(lifetime, self.offset)
        except TesseraError as e:
            if e.kdc_time is None:
                raise
            hint = e.kdc_time - int(time.time())
            if e.code == "ERR_AP_SKEW" or (
                e.code == "ERR_KDC_PREAUTH_FAILED" and abs(hint - self.offset) > MAX_CLOCK_SKEW_S
            ):
                return self._login_once(lifetime, hint)
            raise

    def _login_once(self, lifetime: int, offset: int) -> Credentials:
        kvno, key = self.keytab.current  # only the current key logs in (§5.3)
        nonce = secrets.token_bytes(REQUEST_NONCE_BYTES)
        ctime = int(time.time()) + offset
        preauth = seal(key, OBJ_PREAUTH, [self.realm, self.name, kvno, lifetime], [ctime, nonce])
        rep = self.request(AS_REQ, [self.realm, self.name, kvno, nonce, lifetime, preauth], AS_REP)
        kdc_time, tgt, rep_kvno, enc_part = rep
        # The reply must match the request: the echoed kvno, a TGT of our realm for krbtgt.
        if rep_kvno != kvno:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "AS-REP kvno is not the one we sealed with")
        if tgt[0] != self.realm or tgt[1] != TGS_PRINCIPAL:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "AS-REP ticket is not a TGT of our realm")
        # §3.4: exactly one key (ours, version kvno); context [realm, client, kvno].
        part = open_sealed(key, OBJ_AS_REP, [self.realm, self.name, kvno], enc_part)
        session_key, rnonce, auth_time, start, end, flags = part
        if not hmac.compare_digest(rnonce, nonce):
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "AS-REP nonce differs")
        if not flags & 1:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "TGT without the INITIAL flag")
        if not (auth_time <= start < end):
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "AS-REP times are inconsistent")
        # §6.3: startTime is an authenticated KDC time ("the KDC issues tickets starting now").
        self.offset = start - int(time.time())
        self.tgt = Credentials(self.realm, self.name, TGS_PRINCIPAL, tgt, session_key, auth_time, start, end, flags)
        return self.tgt

    # -- TGS exchange (§5.4) -------------------------------------------------------------------

    def service_ticket(self, target: str, scopes: Sequence[str] = (), lifetime: int = 0) -> Credentials:
        """TGS exchange. Logs in first when there is no usable TGT, and logs in again and retries
        once when the KDC says the TGT is too old (ERR_AP_TKT_EXPIRED, §7: fewer than
        MIN_TICKET_LIFETIME_S left) or names a principal record that no longer exists
        (ERR_KDC_CLIENT_REVOKED, §5.2.1)."""
        if self.tgt is None or self.now() >= self.tgt.end_time:
            self.login()
        try:
            return self._tgs_once(target, scopes, lifetime)
        except TesseraError as e:
            if e.code not in ("ERR_AP_TKT_EXPIRED", "ERR_KDC_CLIENT_REVOKED"):
                raise
            self.login()
            return self._tgs_once(target, scopes, lifetime)

    def _tgs_once(self, target: str, scopes: Sequence[str], lifetime: int) -> Credentials:
        tgt = self.tgt
        assert tgt is not None
        if not is_principal(target):
            raise ValueError("target is not a principal name (§4)")
        scopes = canonical_scopes(scopes)
        nonce = secrets.token_bytes(REQUEST_NONCE_BYTES)
        rh = tgs_request_hash(target, scopes, lifetime, nonce)
        auth = make_authenticator(tgt, TGS_REQ, rh, self.now(), tgt.next_counter())
        rep = self.request(TGS_REQ, [tgt.ticket, auth, target, scopes, lifetime, nonce], TGS_REP)
        kdc_time, rtarget, ticket, enc_part = rep
        if rtarget != target or ticket[0] != self.realm or ticket[1] != target:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "TGS-REP names another target or realm")
        part = open_sealed(tgt.session_key, OBJ_TGS_REP, [self.realm, self.name, target], enc_part)
        skey, rnonce, auth_time, start, end, rscopes, policy_version, ticket_id, flags = part
        if not hmac.compare_digest(rnonce, nonce):
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "TGS-REP nonce differs")
        if scopes and not set(rscopes) <= set(scopes):
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "TGS-REP grants scopes we did not ask for")
        if not (start < end) or end > tgt.end_time:
            raise TesseraError("ERR_CLIENT_REPLY_MISMATCH", "service ticket times are inconsistent")
        self.offset = start - int(time.time())  # §6.3
        return Credentials(
            self.realm, self.name, target, ticket, skey, auth_time, start, end, flags,
            list(rscopes), policy_version, ticket_id,
        )

    # -- AP-REQ (§5.5, §6.1, §6.2) -------------------------------------------------------------

    def authorization(
        self, creds: Credentials, method: str, url: str, body: bytes = b"", counter: Optional[int] = None
    ) -> ApRequest:
        """The `Authorization: Tessera <base64url(AP-REQ)>` value for METHOD URL with this body.

        `url` is absolute (http/https); the authority and request target bound are those §6.2
        derives from it, so the HTTP request must be sent with exactly that Host and target.
        `counter` overrides the ticket's next counter (tests only).
        """
        _, authority, target = split_url(url)
        ctime = self.now()
        ctr = creds.next_counter() if counter is None else counter
        rh = http_request_hash(method, authority, target, body)
        auth = make_authenticator(creds, AP_REQ, rh, ctime, ctr)
        ap_req = encode_ap_req(creds.ticket, auth)
        if len(ap_req) > MAX_FRAME_BYTES:
            raise TesseraError("ERR_PROTO_TOO_LARGE", "AP-REQ over MAX_FRAME_BYTES")
        return ApRequest("Tessera " + b64url_encode(ap_req), ctime, ctr, method.upper(), authority, target)


def verify_ap_rep(creds: Credentials, header_value: Optional[str], req: ApRequest) -> None:
    """Mutual authentication (§5.5): Tessera-AP-REP must open under the session key with context
    [realm, client, service] and echo [ctime, counter] of our authenticator."""
    if not header_value:
        raise TesseraError("ERR_CLIENT_MUTUAL_FAILED", "no Tessera-AP-REP header")
    try:
        enc = decode_ap_rep(b64url_decode_strict(header_value.strip()))
        ctime, counter = open_sealed(creds.session_key, OBJ_AP_REP, [creds.realm, creds.client, creds.service], enc)
    except TesseraError as e:
        raise TesseraError("ERR_CLIENT_MUTUAL_FAILED", f"bad AP-REP ({e.code})") from None
    if ctime != req.ctime or counter != req.counter:
        raise TesseraError("ERR_CLIENT_MUTUAL_FAILED", "AP-REP does not echo our authenticator")


def parse_www_authenticate(value: Optional[str]) -> Optional[str]:
    """Extract the code from `WWW-Authenticate: Tessera error="<code>"` (§5.5, §10)."""
    if not value:
        return None
    m = re.match(r'\s*tessera\s+error="([A-Z0-9_]+)"', value, re.I)
    return m.group(1) if m else None
