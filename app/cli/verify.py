"""``hookaudit verify``: the store's chains (default), a signed checkpoint against the store
(``--checkpoint FILE --public-key KEYS``), or an export file offline (``--export FILE``,
``--public-key KEYS`` to require its Ed25519 signature). Exit 0 ok, 1 usage, 2 problems."""
import json
import sys

SHOWN_PER_HOST = 10   # bad events printed per host (verify_host names up to MAX_NAMED)


def add_arguments(p) -> None:
    p.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    p.add_argument("--export", metavar="FILE", help="check an export file (`hookaudit export`) "
                   "offline instead of the database")
    p.add_argument("--checkpoint", metavar="FILE", help="also check the store against a signed "
                   "checkpoint (`hookaudit anchors publish`); needs --public-key")
    p.add_argument("--public-key", metavar="FILE", help="OpenSSH public key file (KEY.pub of "
                   "`hookaudit keys generate`): signatures must verify with one of its keys")


def verify_cmd(args, settings, open_db) -> int:
    from app.services.anchors import AnchorKeyError, load_public_keys

    try:
        keys = load_public_keys(args.public_key) if args.public_key else None
    except AnchorKeyError as exc:
        return _fail(str(exc))
    if args.export:   # offline: an auditor's export file, no database needed
        return _export(args.export, settings.secret_key, keys)
    if args.checkpoint and not keys:
        return _fail("--checkpoint needs --public-key")
    db = open_db()
    code = _checkpoint(db, args.checkpoint, keys, settings.secret_key) if args.checkpoint else 0
    return max(code, _chains(db, settings.secret_key, args.host or None))


def _fail(message: str) -> int:
    print(f"hookaudit: {message}", file=sys.stderr)
    return 1


def _chains(db, secret, hosts) -> int:
    from app.services.verify import verify_all

    results = verify_all(db, secret, hosts)
    for r in results:
        if r["ok"]:
            print(f"{r['host']}: ok ({r['events']} events)")
            continue
        bad = r["first_bad"]
        print(f"{r['host']}: {r['problems']} bad event(s) of {r['events']}; first bad: "
              f"seq {bad['seq']} event {bad['event_id']}: {'; '.join(bad['problems'])}")
        for b in r["bad"][1:SHOWN_PER_HOST]:
            print(f"  also seq {b['seq']} event {b['event_id']}: {'; '.join(b['problems'])}")
    return 0 if all(r["ok"] for r in results) else 2


def _checkpoint(db, path: str, keys, secret) -> int:
    from app.services.signed_checkpoints import check

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read the checkpoint {path}: {exc}")
    result = check(db, doc, keys, secret)
    for p in result["problems"]:
        print(f"PROBLEM: {p}")
    verdict = "ok" if result["ok"] else f"{len(result['problems'])} problem(s)"
    print(f"{path}: checkpoint of {len(result['hosts'])} host(s) signed by key "
          f"{result['key_id']}: {verdict}")
    return 0 if result["ok"] else 2


def _export(path: str, secret, keys) -> int:
    from app.services.audit_export import verify_export

    report = verify_export(path, secret, keys)
    for name, h in sorted(report["hosts"].items()):
        print(f"{name}: seq {h['first_seq']}..{h['last_seq']}")
    for w in report["warnings"]:
        print(f"note: {w}")
    for p in report["problems"]:
        print(f"PROBLEM: {p}")
    verdict = "ok" if report["ok"] else f"{len(report['problems'])} problem(s)"
    print(f"{path}: {report['events']} events, {verdict}; {_proof(report)}")
    return 0 if report["ok"] else 2


def _proof(report: dict) -> str:
    parts = []
    if report["sig_checked"]:
        parts.append(f"Ed25519 signature by key {report['key_id']} checked")
    elif report["key_id"]:
        parts.append(f"Ed25519-signed by key {report['key_id']}, not checked (no --public-key)")
    if report["mac_checked"]:
        parts.append("MAC verified")
    elif report["signed"]:
        parts.append("MAC not checked (no secret key)")
    return ", ".join(parts) or "not signed"
