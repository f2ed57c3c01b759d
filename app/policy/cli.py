"""``hookaudit policy lint|test|compile|publish``: the policy commands, a group of
app/cli/__init__.py GROUPS (publish: app/policy/published.py).

Exit codes: 0 clean (warnings allowed), 1 errors / failing cases, 2 usage.
"""
import argparse
import sys
from pathlib import Path

from app.policy import published
from app.policy.compiler import compile_dir, dump_bundle
from app.policy.testing import run_dir, unexercised


def lint_command(directory, out=None) -> int:
    out = out or sys.stdout
    bundle, findings = compile_dir(directory)
    for f in findings:
        print(f, file=out)
    if bundle is None:
        print(f"{directory}: policy lint failed", file=out)
        return 1
    print(f"{directory}: {len(bundle['rules'])} rule(s) ok, bundle version {bundle['version']}",
          file=out)
    return 0


def test_command(directory, out=None) -> int:
    out = out or sys.stdout
    findings, results = run_dir(directory)
    for f in findings:
        print(f, file=out)
    if any(f.level == "error" for f in findings):
        print(f"{directory}: the policies do not compile; no test ran", file=out)
        return 1
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'} {r.file}: {r.name}", file=out)
        for p in r.problems:
            print(f"     {p}", file=out)
    failed = sum(not r.ok for r in results)
    idle = unexercised([r["id"] for r in compile_dir(directory)[0]["rules"]], results)
    if idle:
        print(f"note: no case makes these rules deny or rewrite: {', '.join(idle)}", file=out)
    print(f"{len(results) - failed} passed, {failed} failed", file=out)
    return 1 if failed or not results else 0


def compile_command(directory, output, out=None, serial=None) -> int:
    out = out or sys.stdout
    bundle, findings = compile_dir(directory)
    for f in findings:
        print(f, file=out)
    if bundle is None:
        return 1
    if serial is not None:
        bundle = published.with_serial(bundle, serial)
    Path(output).write_bytes(dump_bundle(bundle))
    print(f"wrote bundle {bundle['version']} to {output}", file=out)
    return 0


def publish_command(bundle, signature, directory, allowed_signers=None, out=None) -> int:
    out = out or sys.stdout
    try:
        done = published.publish(bundle, signature, directory, allowed_signers)
    except published.PublishError as exc:
        print(f"hookaudit policy publish: {exc}", file=sys.stderr)
        return 1
    print(f"published bundle {done['version']} (serial {done['serial']}) in {directory}; "
          "hosts install it at their next poll if its signer is pinned there", file=out)
    return 0


def add_parser(subparsers) -> None:
    """Register ``policy lint|test|compile`` on an argparse subparsers object."""
    policy = subparsers.add_parser("policy", help="lint, test and compile policy directories")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    for name, helptext in (("lint", "validate the policies and check the guard rails"),
                           ("test", "run DIR/tests/*.yaml against the compiled policies")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("dir", type=Path, nargs="?", help=DIR_HELP)
    p = sub.add_parser("compile", help="write the compiled bundle JSON")
    p.add_argument("dir", type=Path, nargs="?", help=DIR_HELP)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--serial", type=int, help="rollback serial inside the bundle (signed with "
                   "it; hosts refuse a lower one), e.g. $(date +%%s)")
    p = sub.add_parser("publish", help="serve an operator-signed bundle (ssh-keygen -Y sign "
                       "-n hookaudit-policy)")
    p.add_argument("bundle", type=Path, help="the bundle written by `policy compile --serial`")
    p.add_argument("--signature", type=Path, required=True, help="its .sig from ssh-keygen")
    p.add_argument("--allowed-signers", type=Path,
                   help="also verify the signature against this allowed_signers file")
    p.add_argument("dir", type=Path, nargs="?", help=DIR_HELP)
    policy.set_defaults(func=run)


DIR_HELP = "policy directory (default: HOOKAUDIT_POLICY_DIR)"


def run(args) -> int:
    if args.dir is None:
        from app.config import Settings

        if not Settings().policy_dir:
            print("hookaudit policy: give DIR or set HOOKAUDIT_POLICY_DIR", file=sys.stderr)
            return 2
        args.dir = Path(Settings().policy_dir)
    if args.policy_command == "lint":
        return lint_command(args.dir)
    if args.policy_command == "test":
        return test_command(args.dir)
    if args.policy_command == "publish":
        return publish_command(args.bundle, args.signature, args.dir, args.allowed_signers)
    return compile_command(args.dir, args.output, serial=args.serial)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hookaudit")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
