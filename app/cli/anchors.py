"""``hookaudit keys generate|rotate`` and ``hookaudit anchors publish`` (a group of
app/cli's GROUPS); see app/services/anchors.py and docs/security.md."""
import json
import sys

from app.cli.common import database_of


def add_parser(sub) -> None:
    keys = sub.add_parser("keys", help="Ed25519 signing keys for checkpoints and exports")
    ks = keys.add_subparsers(dest="keys_cmd", required=True)
    for name, helptext in (("generate", "new key: KEY (private, 0600) and KEY.pub"),
                           ("rotate", "retire KEY, generate a new one; KEY.pub keeps old keys")):
        p = ks.add_parser(name, help=helptext)
        p.add_argument("--key", required=True, metavar="KEY",
                       help="private key file (keep it off the database host)")
        p.set_defaults(func=cmd_keys_generate if name == "generate" else cmd_keys_rotate)
    anchors = sub.add_parser("anchors", help="signed checkpoints of every host's chain head")
    p = anchors.add_subparsers(dest="anchors_cmd", required=True).add_parser(
        "publish", help="sign every host's chain head (check it: `hookaudit verify "
        "--checkpoint FILE --public-key KEY.pub`)")
    p.add_argument("--key", required=True, metavar="KEY", help="private key file")
    p.add_argument("-o", "--output", required=True, help="file to write ('-' = stdout)")
    p.set_defaults(func=cmd_anchors_publish)


def _fail(message: str) -> int:
    print(f"hookaudit: {message}", file=sys.stderr)
    return 1


def cmd_keys_generate(args) -> int:
    from app.services.anchors import AnchorKeyError, generate_key

    try:
        kid = generate_key(args.key)
    except (AnchorKeyError, OSError) as exc:
        return _fail(str(exc))
    print(f"key {kid}: private key {args.key} (keep it secret, off the database host), "
          f"public key {args.key}.pub (give it to auditors)")
    return 0


def cmd_keys_rotate(args) -> int:
    from app.services.anchors import AnchorKeyError, rotate_key

    try:
        old, new = rotate_key(args.key)
    except (AnchorKeyError, OSError) as exc:
        return _fail(str(exc))
    print(f"key {old} retired ({args.key}.{old}.retired), new key {new}; {args.key}.pub "
          "holds both public keys: give it to auditors again")
    return 0


def cmd_anchors_publish(args) -> int:
    from app.services.anchors import AnchorKeyError
    from app.services.signed_checkpoints import publish

    try:
        doc = publish(database_of(args), args.key)
    except AnchorKeyError as exc:
        return _fail(str(exc))
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"checkpoint of {len(doc['hosts'])} host(s) signed by key "
          f"{doc['signature']['key_id']}", file=sys.stderr)
    return 0
