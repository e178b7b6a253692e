"""Tessera protocol v1: an independent service verifier, written from docs/protocol.md alone.

The other half of tessera_client.py: what a protected service does with an incoming
`Authorization: Tessera <base64url(AP-REQ)>` header. Section numbers refer to docs/protocol.md.
It reuses tessera_client.py's canonical msgpack codec (§2), sealing and opening (§3), name grammars
(§4) and keytab reader (§8.2); everything specific to the verifier is here:

  - reading the HTTP headers (§5.5.1): which Authorization, the scheme, the size cap, strict
    base64url, Tessera-Mutual;
  - parsing the AP-REQ in the order of §5.1.2;
  - the verification order of §5.5: realm/service (ERR_AP_NOT_US), kvno selection from the keytab
    (ERR_AP_BAD_KVNO), the ticket (AAD [realm, service, kvno]) and the authenticator (AAD
    [realm, client, service, 5], at most 104 sealed bytes) (ERR_AP_BAD_INTEGRITY), the ticket
    times (§6.3), the authenticator's ctime (ERR_AP_SKEW), the request hash with the canonical
    authority and the absolute-form rules (§6.2, ERR_AP_REQUEST_MISMATCH), and last the per-ticket
    anti-replay window with its guard time and floors (§6.4, ERR_AP_REPLAY);
  - the AP-REP of mutual authentication (§5.5);
  - a tiny http.server service protecting routes with it (`python3 tessera_verifier.py serve`).

Time is whole seconds (§1): `now` is the clock rounded down.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Sequence, Union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tessera_client as t  # noqa: E402

TesseraError = t.TesseraError

# §9: limits that are not constants of limits.ts
MAX_AUTHORIZATION_CHARS = 22044  # "Tessera " + base64url of a 16 527-byte AP-REQ
MAX_AUTHENTICATOR_SEALED = t.NONCE_BYTES + 64 + t.TAG_BYTES  # 104: opened with a 64-byte cap (§6.1)
REPLAY_WINDOW_COUNTERS = 1024  # §6.4, §9
DEFAULT_MAX_BODY_BYTES = 1 << 20  # §9 "Body": 1 MiB by default
DEFAULT_MAX_WINDOWS = 100_000
HTTP_DOMAIN = "tessera/v1/http"  # §6.2

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")  # RFC 3986 scheme, for absolute-form targets


def _refuse(code: str, message: str = "") -> TesseraError:
    return TesseraError(code, message)


# ---------------------------------------------------------------------------------------------
# §5.5.1 Reading the HTTP headers
# ---------------------------------------------------------------------------------------------


def _ows_strip(value: str) -> str:
    """Remove leading and trailing spaces and tabs, as Node's HTTP/1.1 parser does (§5.5.1)."""
    return value.strip(" \t")


def first_authorization(values: Optional[Sequence[str]]) -> Optional[str]:
    """With several Authorization headers the first one is used; none at all is None (§5.5.1)."""
    if not values:
        return None
    return values[0]


def read_authorization(value: Optional[str]) -> bytes:
    """The AP-REQ bytes of an Authorization value (§5.5.1), in the order §5.5 gives:
    scheme (ERR_AP_NO_CREDENTIALS), size (ERR_PROTO_TOO_LARGE), strict base64url
    (ERR_PROTO_MALFORMED)."""
    if value is None:
        raise _refuse("ERR_AP_NO_CREDENTIALS", "no Authorization header")
    v = _ows_strip(value)
    # at least 9 characters; the first 7 are "tessera" in any ASCII case; the 8th is one space
    if len(v) < 9 or v[:7].translate(_ASCII_LOWER) != "tessera" or v[7] != " ":
        raise _refuse("ERR_AP_NO_CREDENTIALS", "not the Tessera scheme followed by a space and a token")
    if len(v) > MAX_AUTHORIZATION_CHARS:
        raise _refuse("ERR_PROTO_TOO_LARGE", "Authorization value over MAX_AUTHORIZATION_CHARS")
    i = 8
    while i < len(v) and v[i] == " ":  # further spaces are skipped
        i += 1
    return b64url_decode_strict(v[i:])


def b64url_decode_strict(s: str) -> bytes:
    """Strict base64url (§5.5, §5.5.1): not empty, length not 1 mod 4, only A-Z a-z 0-9 - _,
    zero trailing bits; anything else is ERR_PROTO_MALFORMED."""
    if s == "" or len(s) % 4 == 1 or not s.isascii() or _B64URL.fullmatch(s) is None:
        raise _refuse("ERR_PROTO_MALFORMED", "token is not strict base64url")
    data = t.base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if t.b64url_encode(data) != s:
        raise _refuse("ERR_PROTO_MALFORMED", "token has non-zero trailing bits")
    return data


def wants_mutual(values: Optional[Sequence[str]]) -> bool:
    """Default mode (§5.5.1): an AP-REP exactly when the Tessera-Mutual value is the single
    character "1". Several headers are read as Node reads them, joined with ", " ("1, 1": no)."""
    if not values:
        return False
    return ", ".join(_ows_strip(v) for v in values) == "1"


# ---------------------------------------------------------------------------------------------
# §5.1.2 / §5.5 AP-REQ and AP-REP messages
# ---------------------------------------------------------------------------------------------


def parse_ap_req(data: bytes) -> tuple[list, bytes]:
    """AP-REQ = [1, 5, ticket: Ticket, authenticator: bytes(41..8192)], checked in the order of
    §5.1.2: decode; version; arity 4 and an integer first item; type 5 (ERR_PROTO_UNEXPECTED
    otherwise); the fields' schema (ERR_PROTO_MALFORMED). Returns (ticket, authenticator)."""
    v = t.decode(data, t.MAX_FRAME_BYTES)  # step 1
    if isinstance(v, list) and v and type(v[0]) is int and v[0] != t.PROTOCOL_VERSION:  # step 2
        raise _refuse("ERR_PROTO_VERSION", "unsupported protocol version")
    if not isinstance(v, list) or len(v) != 4 or type(v[0]) is not int:  # step 3
        raise _refuse("ERR_PROTO_MALFORMED", "an AP-REQ is a 4-item array")
    if not (type(v[1]) is int and v[1] == t.AP_REQ):  # step 4
        raise _refuse("ERR_PROTO_UNEXPECTED", "second item is not the AP-REQ type 5")
    try:  # step 5
        t._ticket(v[2])
        t._sealed(v[3])
    except t._Bad as e:
        raise _refuse("ERR_PROTO_MALFORMED", f"AP-REQ fields: {e}") from None
    return v[2], v[3]


def encode_ap_req(ticket: list, authenticator: bytes) -> bytes:
    return t.encode([t.PROTOCOL_VERSION, t.AP_REQ, ticket, authenticator])


def parse_ap_rep(data: bytes) -> bytes:
    """AP-REP = [1, 6, encPart: bytes(41..8192)] in the order of §5.1.2. Returns encPart."""
    v = t.decode(data, t.MAX_FRAME_BYTES)
    if isinstance(v, list) and v and type(v[0]) is int and v[0] != t.PROTOCOL_VERSION:
        raise _refuse("ERR_PROTO_VERSION", "unsupported protocol version")
    if not isinstance(v, list) or len(v) != 3 or type(v[0]) is not int:
        raise _refuse("ERR_PROTO_MALFORMED", "an AP-REP is a 3-item array")
    if not (type(v[1]) is int and v[1] == t.AP_REP):
        raise _refuse("ERR_PROTO_UNEXPECTED", "second item is not the AP-REP type 6")
    try:
        t._sealed(v[2])
    except t._Bad:
        raise _refuse("ERR_PROTO_MALFORMED", "AP-REP encPart") from None
    return v[2]


def make_ap_rep(session_key: bytes, realm: str, client: str, service: str, ctime: int, counter: int,
                nonce: Optional[bytes] = None) -> bytes:
    """§5.5: AP-REP = [1, 6, encPart], encPart = sealed object 37 under the session key, context
    [realm, client, service], plaintext [ctime, counter] echoing the authenticator. `nonce` only to
    reproduce a test vector."""
    enc = t.seal(session_key, t.OBJ_AP_REP, [realm, client, service], [ctime, counter], nonce=nonce)
    return t.encode([t.PROTOCOL_VERSION, t.AP_REP, enc])


# ---------------------------------------------------------------------------------------------
# §6.2 Request binding
# ---------------------------------------------------------------------------------------------


def canonical_authority(a: str) -> str:
    """§6.2, "by these steps and no others": lower-case the ASCII letters; drop a final ":80",
    otherwise a final ":443"; nothing else (no port check, no trailing-dot or IDNA handling)."""
    a = a.translate(_ASCII_LOWER)
    if a.endswith(":80"):
        return a[:-3]
    if a.endswith(":443"):
        return a[:-4]
    return a


def _names_a_server(authority: str) -> bool:
    """An absolute-form authority must name a server (§6.2): a host, no userinfo, and a port, when
    present, that is a number up to 65535 (an empty port is not a number: refused)."""
    if authority == "" or "@" in authority:
        return False
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return False
        host, rest = authority[: end + 1], authority[end + 1 :]
        if host == "[]":
            return False
        if rest == "":
            return True
        if not rest.startswith(":"):
            return False
        port = rest[1:]
    else:
        host, sep, port = authority.partition(":")
        if host == "":
            return False
        if not sep:
            return True
    return port.isascii() and port.isdigit() and int(port) <= 65535


def _as_utf8(s: str) -> str:
    """http.server decodes the request line and headers as ISO-8859-1; bind their bytes read as
    UTF-8 (a non-ASCII authority or target is a client's mistake, §6.2 step 1)."""
    try:
        return s.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s  # already text (direct API use), or not UTF-8: bound as is, so it will not match


@dataclass(frozen=True)
class Binding:
    method: str
    authority: str
    target: str


def bind_request(method: str, target: str, hosts: Optional[Sequence[str]]) -> Binding:
    """What the request hash binds (§6.2): METHOD in upper case, the canonical authority (Host, or
    the absolute-form target's authority, which must then agree with Host), and the target
    (origin-form as sent, or the absolute URL's path and query, '/' when the path is empty),
    without a fragment. Refusals are ERR_AP_REQUEST_MISMATCH."""
    m = method.translate(_ASCII_UPPER)
    host_values = [_as_utf8(_ows_strip(h)) for h in (hosts or [])]
    if len({canonical_authority(h) for h in host_values}) > 1:
        raise _refuse("ERR_AP_REQUEST_MISMATCH", "several Host headers naming different servers")
    host = host_values[0] if host_values else None
    tgt = _as_utf8(target).split("#", 1)[0]
    sm = _SCHEME.match(tgt)
    if sm and not tgt.startswith("/"):  # absolute-form (RFC 9112 §3.2.2)
        scheme = sm.group(1).translate(_ASCII_LOWER)
        rest = tgt[sm.end():]
        if scheme not in ("http", "https") or not rest.startswith("//"):
            raise _refuse("ERR_AP_REQUEST_MISMATCH", "absolute-form target that is not http(s)")
        rest = rest[2:]
        cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
        url_authority, path = rest[:cut], rest[cut:]
        if not _names_a_server(url_authority):
            raise _refuse("ERR_AP_REQUEST_MISMATCH", "absolute-form authority names no server")
        if path == "" or path.startswith("?"):
            path = "/" + path
        authority = canonical_authority(url_authority)
        if host is not None and canonical_authority(host) != authority:
            raise _refuse("ERR_AP_REQUEST_MISMATCH", "Host names another server than the target")
        return Binding(m, authority, path)
    return Binding(m, canonical_authority(host) if host is not None else "", tgt)


def http_request_hash(b: Binding, body: bytes) -> bytes:
    """§6.2: BLAKE2b-256(msgpack(["tessera/v1/http", method, authority, target, SHA-256(body)]))."""
    pre = t.encode([HTTP_DOMAIN, b.method, b.authority, b.target, hashlib.sha256(body).digest()])
    return hashlib.blake2b(pre, digest_size=32).digest()


# ---------------------------------------------------------------------------------------------
# §6.4 Anti-replay windows
# ---------------------------------------------------------------------------------------------


@dataclass
class ReplayWindow:
    top: int
    bitmap: int  # bit i set: counter top - i accepted
    floor: int  # ctime below this is refused (guard time when the window was created)
    end_time: int  # the ticket's endTime: the window may be dropped after endTime + skew
    max_ctime: int  # the largest ctime accepted (moves the guard when the window is lost)

    def refuses(self, counter: int) -> bool:
        if counter > self.top:
            return False
        d = self.top - counter
        return d >= REPLAY_WINDOW_COUNTERS or bool(self.bitmap >> d & 1)

    def accept(self, counter: int, ctime: int) -> None:
        if counter > self.top:
            shift = counter - self.top
            self.bitmap = ((self.bitmap << shift) | 1) & ((1 << REPLAY_WINDOW_COUNTERS) - 1) if shift < REPLAY_WINDOW_COUNTERS else 1
            self.top = counter
        else:
            self.bitmap |= 1 << (self.top - counter)
        self.max_ctime = max(self.max_ctime, ctime)


class ReplayTable:
    """Per-ticket windows keyed by ticketId (§6.4), bounded; losing a live window moves the guard."""

    def __init__(self, guard: int, skew: int, max_windows: int = DEFAULT_MAX_WINDOWS):
        self.guard = guard  # the verifier's start time (whole seconds)
        self.skew = skew
        self.max_windows = max_windows
        self.windows: "OrderedDict[bytes, ReplayWindow]" = OrderedDict()  # least recently used first
        self.lock = threading.Lock()
        self.evicted_live = 0

    def check_and_accept(self, ticket_id: bytes, counter: int, ctime: int, end_time: int, now: int) -> None:
        """Refuse (ERR_AP_REPLAY) or record the counter. Called last, after every other check."""
        with self.lock:
            w = self.windows.get(ticket_id)
            if w is None:
                # the floor a window created now would get is the guard time before any eviction
                if ctime < self.guard:
                    raise _refuse("ERR_AP_REPLAY", "authenticator made before the verifier lost windows")
                floor = self.guard
                self._make_room(now)
                w = ReplayWindow(top=counter, bitmap=1, floor=floor, end_time=end_time, max_ctime=ctime)
                self.windows[ticket_id] = w
                return
            if ctime < w.floor:
                raise _refuse("ERR_AP_REPLAY", "authenticator made before its window's floor")
            if w.refuses(counter):
                raise _refuse("ERR_AP_REPLAY", "counter already accepted or below the window")
            w.accept(counter, ctime)
            self.windows.move_to_end(ticket_id)

    def verdict(self, ticket_id: bytes, counter: int, ctime: int) -> Optional[str]:
        """What check_and_accept would answer, without recording anything (None: accepted)."""
        with self.lock:
            w = self.windows.get(ticket_id)
            if w is None:
                return "ERR_AP_REPLAY" if ctime < self.guard else None
            return "ERR_AP_REPLAY" if ctime < w.floor or w.refuses(counter) else None

    def _make_room(self, now: int) -> None:
        if len(self.windows) < self.max_windows:
            return
        # dropping the window of an expired ticket (endTime + skew passed) loses nothing
        for tid in [k for k, w in self.windows.items() if now - self.skew > w.end_time]:
            del self.windows[tid]
        while len(self.windows) >= self.max_windows:
            _, lost = self.windows.popitem(last=False)
            self.evicted_live += 1
            self.guard = max(self.guard, now, lost.max_ctime + 1)


# ---------------------------------------------------------------------------------------------
# The verifier
# ---------------------------------------------------------------------------------------------


@dataclass
class Identity:
    """What a verified request proves (docs/api.md's req.tessera, plus AP details)."""

    caller: str
    realm: str
    service: str
    scopes: list
    ticket_id: bytes
    auth_time: int
    start_time: int
    end_time: int
    policy_version: int
    flags: int
    kdc_check: bytes
    kvno: int
    ctime: int
    counter: int
    session_key: bytes = field(repr=False)

    def public(self) -> dict:
        return {
            "caller": self.caller,
            "realm": self.realm,
            "scopes": list(self.scopes),
            "ticketId": self.ticket_id.hex(),
            "expiresAt": self.end_time,
            "policyVersion": self.policy_version,
        }

    def ap_rep(self, nonce: Optional[bytes] = None) -> str:
        """The Tessera-AP-REP value: the base64url token alone, no scheme (§5.5)."""
        return t.b64url_encode(make_ap_rep(self.session_key, self.realm, self.caller, self.service,
                                           self.ctime, self.counter, nonce))


class Verifier:
    """Verifies AP-REQs offline with a service keytab (§5.5, §6).

    keytab: a path (re-read when the file changes) or a tessera_client.Keytab.
    clock: seconds since the epoch (float ok); `now` is its whole seconds.
    skew: at most MAX_CLOCK_SKEW_S; operators may only lower it (§6.3).
    """

    def __init__(self, keytab: Union[str, "t.Keytab"], skew: int = t.MAX_CLOCK_SKEW_S,
                 clock: Callable[[], float] = time.time, max_windows: int = DEFAULT_MAX_WINDOWS):
        if not 0 <= skew <= t.MAX_CLOCK_SKEW_S:
            raise ValueError("skew must be 0..MAX_CLOCK_SKEW_S (§6.3)")
        self.clock = clock
        self.skew = skew
        self._path = keytab if isinstance(keytab, str) else None
        self._stamp = None
        self._keytab = t.read_keytab(keytab) if isinstance(keytab, str) else keytab
        if self._path:
            self._stamp = self._file_stamp()
        self.replay = ReplayTable(guard=self.now(), skew=skew, max_windows=max_windows)

    def now(self) -> int:
        return int(math.floor(self.clock()))

    # -- keytab ---------------------------------------------------------------------------------

    def _file_stamp(self):
        try:
            st = os.stat(self._path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    @property
    def keytab(self) -> "t.Keytab":
        if self._path:
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                try:
                    self._keytab = t.read_keytab(self._path)
                    self._stamp = stamp
                except TesseraError as e:  # keep serving with the keytab we have
                    print(f"tessera-verifier: keytab reload failed: {e.code}", file=sys.stderr)
        return self._keytab

    # -- verification ---------------------------------------------------------------------------

    def verify(self, authorization: Optional[str], method: str, target: str,
               hosts: Optional[Sequence[str]] = None, body: bytes = b"") -> Identity:
        """Verify one HTTP request. `authorization` is the (first) Authorization value or None,
        `target` the request target exactly as sent, `hosts` the Host values as received.
        Returns the Identity, or raises TesseraError with the code of the first failed check."""
        pending = self.begin(authorization)
        return self.finish(pending, lambda: bind_request(method, target, hosts), body)

    def begin(self, authorization: Optional[str]) -> "Pending":
        """Every check of §5.5 that does not need the body, in order: the header (§5.5.1), the
        AP-REQ (§5.1.2), realm and service, kvno, the ticket, the authenticator, the ticket
        times and the authenticator's ctime. A service can run these before reading the body."""
        ap_req = read_authorization(authorization)
        ticket, authenticator = parse_ap_req(ap_req)
        realm, service, kvno, _ = ticket
        etp = self.open_ticket(ticket)
        flags, session_key, client, auth_time, start, end, scopes, policy_version, ticket_id, kdc_check = etp
        # flags and kdcCheck are not checked by a service (§5.2, §5.2.1)
        if len(authenticator) > MAX_AUTHENTICATOR_SEALED:  # §6.1, §9 (open_sealed's cap, explicitly)
            raise _refuse("ERR_AP_BAD_INTEGRITY", "sealed authenticator over 104 bytes")
        ctime, counter, request_hash = t.open_sealed(
            session_key, t.OBJ_AUTHENTICATOR, [realm, client, service, t.AP_REQ], authenticator)
        now = self.now()
        # §6.3: the only two time checks of a ticket, in this order
        if now + self.skew < start:
            raise _refuse("ERR_AP_TKT_NOT_YET_VALID", f"ticket starts at {start}, now {now}")
        if now - self.skew > end:
            raise _refuse("ERR_AP_TKT_EXPIRED", f"ticket ended at {end}, now {now}")
        if not now - self.skew <= ctime <= now + self.skew:
            raise _refuse("ERR_AP_SKEW", f"authenticator time {ctime}, now {now}")
        ident = Identity(client, realm, service, list(scopes), ticket_id, auth_time, start, end,
                         policy_version, flags, kdc_check, kvno, ctime, counter, session_key)
        return Pending(ident, request_hash)

    def open_ticket(self, ticket: list) -> list:
        """The EncTicketPart of a Ticket [realm, service, kvno, sealed] (§5.2): ERR_AP_NOT_US for
        another realm or service and ERR_AP_BAD_KVNO for a kvno not in the keytab, both before any
        cryptography; then the one key of that kvno opens it, AAD [realm, service, kvno] (§3.4)."""
        kt = self.keytab
        realm, service, kvno, sealed_ticket = ticket
        if realm != kt.realm or service != kt.principal:
            raise _refuse("ERR_AP_NOT_US", "ticket for another service or realm")
        key = kt.key(kvno)  # one key, from the clear header; never a trial decryption
        if key is None:
            raise _refuse("ERR_AP_BAD_KVNO", "no key of this version in the keytab")
        return t.open_sealed(key, t.OBJ_TICKET, [realm, service, kvno], sealed_ticket)

    def replay_verdict(self, pending: "Pending") -> Optional[str]:
        """The replay window's answer for this authenticator, without consuming its counter."""
        i = pending.identity
        return self.replay.verdict(i.ticket_id, i.counter, i.ctime)

    def finish(self, pending: "Pending", binding: Callable[[], Binding], body: bytes) -> Identity:
        """The checks that need the request itself: the request hash (§6.2), then the replay
        window (§6.4), last, so that a refused request never consumes a counter."""
        i = pending.identity
        if not hmac.compare_digest(http_request_hash(binding(), body), pending.request_hash):
            raise _refuse("ERR_AP_REQUEST_MISMATCH", "request hash differs")
        self.replay.check_and_accept(i.ticket_id, i.counter, i.ctime, i.end_time, self.now())
        return i

    def verify_ap_req(self, ticket: list, authenticator: bytes, binding: Callable[[], Binding],
                      body: bytes) -> Identity:
        """verify() from an already parsed AP-REQ (tests)."""
        value = "Tessera " + t.b64url_encode(encode_ap_req(ticket, authenticator))
        return self.finish(self.begin(value), binding, body)


@dataclass
class Pending:
    """An AP-REQ that passed every check not needing the request body."""

    identity: Identity
    request_hash: bytes = field(repr=False)


# ---------------------------------------------------------------------------------------------
# A tiny protected HTTP service (http.server, 127.0.0.1, OS-chosen port)
# ---------------------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _BadRequest(Exception):
    pass


def make_handler(verifier: Verifier, read_scope: str, write_scope: str, mutual: str,
                 max_body: int, hooks: bool, verbose: bool):
    """Routes: /write... needs `write_scope`, anything else `read_scope` (as service.mjs).
    With `hooks`, /hook/... routes misbehave on purpose after a successful verification, to test
    clients: /hook/no-ap-rep, /hook/bad-ap-rep (wrong counter echoed), /hook/wrong-key-ap-rep,
    /hook/prefixed-ap-rep ("tEsSeRa " before the token), /hook/padded-ap-rep ("=" padding),
    /hook/ap-rep-version-2, /hook/ap-rep-type-5, /hook/ap-rep-swapped-context (client and service
    swapped in the AAD), /hook/two-ap-rep-headers (the right value twice), /hook/kvno-once/ID (the
    first request for ID is answered 401 ERR_AP_BAD_KVNO)."""

    kvno_once_seen: set = set()
    kvno_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tessera-py-verifier"
        sys_version = ""

        def log_message(self, fmt, *args):  # quiet unless asked
            if verbose:
                super().log_message(fmt, *args)

        def __getattr__(self, name):  # every method, any case (do_GET, do_patch, ...)
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        # -- plumbing ----------------------------------------------------------------------------

        def _send(self, status: int, body: bytes, headers: Sequence[tuple] = (), close: bool = False):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _refusal(self, status: int, code: str, close: bool = False, unread: bool = False):
            """A refusal: the code as the body and, on 401 and 403, WWW-Authenticate (§5.5).
            `unread`: the body was not read; answer, drop it, close."""
            hdrs = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
            if status in (401, 403):
                hdrs.append(("WWW-Authenticate", f'Tessera error="{code}"'))
            self._send(status, code.encode(), hdrs, close or unread)
            if unread:
                self.wfile.flush()
                self._discard_body()

        def _body_pending(self) -> bool:
            cl = self.headers.get("Content-Length")
            return bool(self.headers.get("Transfer-Encoding")) or (cl is not None and cl.strip() != "0")

        def _discard_body(self) -> None:
            """Read and drop an unread body (bounded), so that closing the connection after an
            early answer does not reset it under the client's feet."""
            cl = (self.headers.get("Content-Length") or "").strip()
            if not cl.isdigit() or int(cl) > 8 * max_body:
                return
            try:
                self.connection.settimeout(2)
                left = int(cl)
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        def _read_body(self) -> bytes:
            te = self.headers.get_all("Transfer-Encoding") or []
            if te:
                if [v.strip().lower() for v in te] != ["chunked"] or self.headers.get("Content-Length"):
                    raise _BadRequest("unsupported Transfer-Encoding")
                out = bytearray()
                while True:
                    line = self.rfile.readline(1024)
                    try:
                        n = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise _BadRequest("bad chunk size") from None
                    if n == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return bytes(out)
                    if len(out) + n > max_body:
                        raise _BodyTooLarge()
                    out += self.rfile.read(n)
                    self.rfile.readline(8)
            cls = self.headers.get_all("Content-Length") or []
            if not cls:
                return b""
            vals = {v.strip() for v in cls}
            if len(vals) != 1 or not next(iter(vals)).isdigit():
                raise _BadRequest("bad Content-Length")
            n = int(next(iter(vals)))
            if n > max_body:
                raise _BodyTooLarge()
            return self.rfile.read(n)

        # -- the protected route --------------------------------------------------------------

        def _handle(self):
            try:
                self._protected()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:
                traceback.print_exc()
                try:
                    self._refusal(500, "ERR_KDC_INTERNAL", close=True)
                except OSError:
                    pass

        def _protected(self):
            parts = self.requestline.split()
            target = parts[1] if len(parts) >= 2 else self.path  # the raw target: http.server rewrites '//...'
            # the HTTP layer (RFC 9112 §3.2, §5.2), before any of Tessera: exactly one Host on
            # HTTP/1.1, no line folding
            hosts = self.headers.get_all("Host") or []
            if (self.request_version != "HTTP/1.0" and len(hosts) != 1) or len(hosts) > 1 or any(
                    "\n" in val for val in self.headers.values()):
                return self._send(400, b"bad request", [("Content-Type", "text/plain")], close=True)
            authz = self.headers.get_all("Authorization")
            if not authz:  # before any byte of the body is read (§5.5.1)
                return self._refusal(401, "ERR_AP_NO_CREDENTIALS", unread=self._body_pending())
            # cheap checks first (§5.5): everything that does not need the body, before reading it
            try:
                pending = verifier.begin(first_authorization(authz))
            except TesseraError as e:
                return self._refusal(401, e.code, unread=self._body_pending())
            try:
                body = self._read_body()
            except _BodyTooLarge:
                # the body cannot be bound; a replay is still reported as such (as the SDK does)
                code = verifier.replay_verdict(pending)
                if code:
                    return self._refusal(401, code, unread=True)
                return self._refusal(413, "ERR_PROTO_TOO_LARGE", unread=True)
            except _BadRequest:
                return self._send(400, b"bad request", close=True)
            try:
                ident = verifier.finish(pending, lambda: bind_request(self.command, target, hosts), body)
            except TesseraError as e:
                return self._refusal(401, e.code)
            path = target.split("?", 1)[0]
            if "://" in path:  # absolute-form: route on the path
                path = "/" + path.split("://", 1)[1].partition("/")[2]
            need = write_scope if path.startswith("/write") else read_scope
            if need not in ident.scopes:
                return self._refusal(403, "ERR_AP_SCOPE")

            hook = path[len("/hook/"):] if hooks and path.startswith("/hook/") else ""
            if hook.startswith("kvno-once/"):
                with kvno_lock:
                    first = hook not in kvno_once_seen
                    kvno_once_seen.add(hook)
                if first:
                    return self._refusal(401, "ERR_AP_BAD_KVNO")
            mutual_values = self.headers.get_all("Tessera-Mutual")
            send_rep = mutual == "always" or (mutual == "request" and wants_mutual(mutual_values))
            headers = [("Content-Type", "application/json")]
            if send_rep and hook != "no-ap-rep":
                if hook == "bad-ap-rep":
                    rep = t.b64url_encode(make_ap_rep(ident.session_key, ident.realm, ident.caller,
                                                      ident.service, ident.ctime, ident.counter + 1))
                elif hook == "wrong-key-ap-rep":
                    rep = t.b64url_encode(make_ap_rep(secrets.token_bytes(32), ident.realm, ident.caller,
                                                      ident.service, ident.ctime, ident.counter))
                elif hook == "prefixed-ap-rep":
                    rep = "tEsSeRa " + ident.ap_rep()
                elif hook == "padded-ap-rep":
                    rep = ident.ap_rep()
                    rep += "=" * (-len(rep) % 4) or "===="
                elif hook in ("ap-rep-version-2", "ap-rep-type-5"):
                    enc = t.decode(t.b64url_decode_strict(ident.ap_rep()))[2]
                    rep = t.b64url_encode(t.encode([2, 6, enc] if hook == "ap-rep-version-2" else [1, 5, enc]))
                elif hook == "ap-rep-swapped-context":
                    rep = t.b64url_encode(make_ap_rep(ident.session_key, ident.realm, ident.service,
                                                      ident.caller, ident.ctime, ident.counter))
                elif hook == "two-ap-rep-headers":
                    rep = ident.ap_rep()
                    headers.append(("Tessera-AP-REP", rep))
                else:
                    rep = ident.ap_rep()
                headers.append(("Tessera-AP-REP", rep))
            out = ident.public()
            out.update({
                "method": self.command,
                "url": target,
                "bodyBytes": len(body),
                # what the client sent and what its ticket holds (for the conformance checks)
                "ap": {
                    "counter": ident.counter,
                    "ctime": ident.ctime,
                    "kvno": ident.kvno,
                    "flags": ident.flags,
                    "kdcCheckBytes": len(ident.kdc_check),
                    "lifetime": ident.end_time - ident.start_time,
                    "authorizationHeaders": len(authz),
                    "authorizationPrefix": authz[0][:8],
                    "mutualHeaders": mutual_values or [],
                    "apRepSent": any(k == "Tessera-AP-REP" for k, _ in headers),
                    "hosts": hosts,
                },
            })
            self._send(200, json.dumps(out, separators=(",", ":")).encode(), headers)

    return Handler


def serve(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="tessera_verifier.py serve",
                                 description="A tiny HTTP service protected by the Python verifier.")
    ap.add_argument("--keytab", required=True, help="the service's keytab")
    ap.add_argument("--scope", default="orders:read", help="scope every route needs (default orders:read)")
    ap.add_argument("--write-scope", default="orders:write", help="scope /write... needs")
    ap.add_argument("--mutual", choices=("request", "always", "never"), default="request")
    ap.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY_BYTES)
    ap.add_argument("--skew", type=int, default=t.MAX_CLOCK_SKEW_S)
    ap.add_argument("--test-hooks", action="store_true", help="enable the misbehaving /hook/... routes")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    verifier = Verifier(args.keytab, skew=args.skew)
    handler = make_handler(verifier, args.scope, args.write_scope, args.mutual, args.max_body,
                           args.test_hooks, args.verbose)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2:]))
    print("usage: python3 tessera_verifier.py serve --keytab SERVICE.keytab [--test-hooks] ...", file=sys.stderr)
    sys.exit(2)
