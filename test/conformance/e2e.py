"""End-to-end checks of the independent Python client against a real KDC and a real service.

Run by run.sh, which starts the KDC and the service and registers the principals:

  python3 e2e.py --kdc ws://127.0.0.1:PORT/v1 --keytab payments.keytab \
                 --service http://127.0.0.1:PORT --target orders --outside billing

Prints one line per check ("PASS ..." / "FAIL ...") and exits 0 only when all pass.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tessera_client as t  # noqa: E402

results: list[bool] = []


def check(name: str, cond: bool, detail: str = "") -> bool:
    results.append(bool(cond))
    print(f"{'PASS' if cond else 'FAIL'} {name}{'' if cond or not detail else ': ' + detail}", flush=True)
    return bool(cond)


def expect_code(name: str, want: str, fn) -> None:
    try:
        fn()
    except t.TesseraError as e:
        check(name, e.code == want, f"got {e.code}, want {want}")
        return
    check(name, False, f"accepted, want {want}")


def http_call(base: str, method: str, target: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    """Send exactly METHOD target with Host = the URL's authority (what the header was bound to)."""
    _, authority, _ = t.split_url(base)
    host, _, port = authority.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        hdrs = {"Host": authority, **headers}
        if body:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, target, body=body if body else None, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdc", required=True)
    ap.add_argument("--keytab", required=True, help="the calling principal's keytab")
    ap.add_argument("--service", required=True, help="base URL of the protected service")
    ap.add_argument("--target", default="orders", help="principal of the service")
    ap.add_argument("--outside", default="billing", help="a registered principal no rule allows")
    ap.add_argument("--scope", default="orders:read", help="the scope policy grants for --target")
    args = ap.parse_args()

    # §8.2 keytab written by tessera-admin
    kt = t.read_keytab(args.keytab)
    check(f"keytab: parsed {kt.principal}@{kt.realm}, kvnos {[e[0] for e in kt.entries]}", len(kt.entries) >= 1)

    client = t.TesseraClient(kt, args.kdc)
    try:
        # §5.3 AS exchange with pre-authentication
        tgt = client.login()
        check(
            f"AS exchange: TGT for {tgt.service}, INITIAL flag, lifetime {tgt.end_time - tgt.start_time}s, clock offset {client.offset}s",
            tgt.service == "krbtgt" and tgt.flags & 1 == 1 and tgt.end_time - tgt.start_time == 3600,
        )

        # §5.4 TGS exchange: empty scope list = everything policy grants
        st = client.service_ticket(args.target)
        check(
            f"TGS exchange: ticket for {st.service} kvno {st.ticket[2]}, scopes {st.scopes}, policy v{st.policy_version}, lifetime {st.end_time - st.start_time}s",
            st.service == args.target and st.scopes == [args.scope],
        )
        st2 = client.service_ticket(args.target, scopes=[args.scope], lifetime=120)
        check(
            f"TGS exchange: explicit scope subset and lifetime 120 s -> {st2.scopes}, {st2.end_time - st2.start_time}s",
            st2.scopes == [args.scope] and st2.end_time - st2.start_time == 120,
        )

        # §5.5/§6.1/§6.2 AP-REQ on a real HTTP call, with mutual authentication
        body = json.dumps({"sku": "A-1", "qty": 2}, separators=(",", ":")).encode()
        target = "/orders?tenant=7"
        url = args.service + target
        req = client.authorization(st, "POST", url, body)
        status, hdrs, rbody = http_call(args.service, "POST", target, body, {"Authorization": req.header, "Tessera-Mutual": "1"})
        ident = json.loads(rbody) if status == 200 else {}
        check(
            f"AP exchange: POST {target} accepted (HTTP {status}) as caller {ident.get('caller')!r} with scopes {ident.get('scopes')}",
            status == 200 and ident.get("caller") == kt.principal and ident.get("scopes") == [args.scope]
            and ident.get("bodyBytes") in (None, len(body)),
            f"HTTP {status} {rbody[:200]!r} {hdrs.get('www-authenticate')}",
        )
        try:
            t.verify_ap_rep(st, hdrs.get("tessera-ap-rep"), req)
            check("mutual authentication: Tessera-AP-REP opens and echoes [ctime, counter]", True)
        except t.TesseraError as e:
            check("mutual authentication: Tessera-AP-REP opens and echoes [ctime, counter]", False, e.code)

        # a GET with no body, next counter, default (no mutual)
        req_get = client.authorization(st, "GET", args.service + "/orders/7")
        status, hdrs, rbody = http_call(args.service, "GET", "/orders/7", b"", {"Authorization": req_get.header})
        check(f"AP exchange: GET /orders/7 with counter {req_get.counter} accepted (HTTP {status})", status == 200,
              f"{rbody[:200]!r} {hdrs.get('www-authenticate')}")

        # §6.4 replay of the exact same header and request
        status, hdrs, _ = http_call(args.service, "POST", target, body, {"Authorization": req.header})
        code = t.parse_www_authenticate(hdrs.get("www-authenticate"))
        check(f"replay refused: HTTP {status}, WWW-Authenticate error={code}", status == 401 and code == "ERR_AP_REPLAY",
              hdrs.get("www-authenticate", "<none>"))

        # §6.2 a fresh header bound to another path, sent to /orders
        other = client.authorization(st, "POST", args.service + "/other?tenant=7", body)
        status, hdrs, _ = http_call(args.service, "POST", target, body, {"Authorization": other.header})
        code = t.parse_www_authenticate(hdrs.get("www-authenticate"))
        check(f"header bound to another path refused: HTTP {status}, error={code}",
              status == 401 and code == "ERR_AP_REQUEST_MISMATCH", hdrs.get("www-authenticate", "<none>"))

        # §6.2 the same with another body
        other_body = client.authorization(st, "POST", url, body + b" ")
        status, hdrs, _ = http_call(args.service, "POST", target, body, {"Authorization": other_body.header})
        code = t.parse_www_authenticate(hdrs.get("www-authenticate"))
        check(f"header bound to another body refused: HTTP {status}, error={code}",
              status == 401 and code == "ERR_AP_REQUEST_MISMATCH", hdrs.get("www-authenticate", "<none>"))

        # §5.5 no credentials, missing scope
        status, hdrs, _ = http_call(args.service, "GET", "/orders/7", b"", {})
        code = t.parse_www_authenticate(hdrs.get("www-authenticate"))
        check(f"no Authorization header: HTTP {status}, error={code}", status == 401 and code == "ERR_AP_NO_CREDENTIALS")
        w = client.authorization(st, "GET", args.service + "/write/7")
        status, hdrs, _ = http_call(args.service, "GET", "/write/7", b"", {"Authorization": w.header})
        code = t.parse_www_authenticate(hdrs.get("www-authenticate"))
        check(f"route needing an ungranted scope: HTTP {status}, error={code}", status == 403 and code == "ERR_AP_SCOPE")

        # §6.4 out-of-order counters inside the window are accepted once
        c_hi = client.authorization(st, "GET", args.service + "/orders/8", counter=st.counter + 5)
        c_lo = client.authorization(st, "GET", args.service + "/orders/9", counter=st.counter + 3)
        s_hi = http_call(args.service, "GET", "/orders/8", b"", {"Authorization": c_hi.header})[0]
        s_lo = http_call(args.service, "GET", "/orders/9", b"", {"Authorization": c_lo.header})[0]
        check(f"out-of-order counters {c_hi.counter} then {c_lo.counter} both accepted (HTTP {s_hi}, {s_lo})",
              s_hi == 200 and s_lo == 200)

        # §5.4/§7/§10 refusals from the KDC, decoded from ERROR frames
        expect_code(f"KDC refuses {kt.principal} -> {args.outside} (outside policy) with ERR_KDC_POLICY",
                    "ERR_KDC_POLICY", lambda: client.service_ticket(args.outside))
        expect_code(f"KDC refuses an ungranted scope ({args.target} orders:write) with ERR_KDC_POLICY",
                    "ERR_KDC_POLICY", lambda: client.service_ticket(args.target, scopes=["orders:write"]))
        expect_code("KDC refuses an unregistered target with ERR_KDC_PRINCIPAL_UNKNOWN",
                    "ERR_KDC_PRINCIPAL_UNKNOWN", lambda: client.service_ticket("nobody-here"))
        expect_code("KDC refuses a 30 s lifetime with ERR_KDC_BAD_LIFETIME",
                    "ERR_KDC_BAD_LIFETIME", lambda: client.service_ticket(args.target, lifetime=30))
    finally:
        client.close()

    # §5.3 a wrong key (same name and kvno) fails pre-auth, vaguely
    kvno, _ = kt.current
    bad = t.Keytab(kt.realm, kt.principal, [(kvno, secrets.token_bytes(32), 0)])
    bad_client = t.TesseraClient(bad, args.kdc)
    try:
        expect_code("KDC refuses a wrong key with ERR_KDC_PREAUTH_FAILED", "ERR_KDC_PREAUTH_FAILED", bad_client.login)
    finally:
        bad_client.close()
    ghost = t.TesseraClient(t.Keytab(kt.realm, "ghost", [(1, secrets.token_bytes(32), 0)]), args.kdc)
    try:
        expect_code("KDC refuses an unknown client with ERR_KDC_PREAUTH_FAILED (vague)", "ERR_KDC_PREAUTH_FAILED", ghost.login)
    finally:
        ghost.close()

    return 0 if all(results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:
        traceback.print_exc()
        print(f"FAIL e2e aborted: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
