"""Policy evaluation at the hook (stdlib only, Python >= 3.9; beyond hookshim.outcome, which the
hook has loaded anyway, nothing is imported until needed).

    bundle = load_bundle(path)        # dict, or None when no bundle file exists;
                                      # raises BundleError when the file is unreadable/corrupt
    verdict = evaluate(bundle, call, xml_text)

``call`` is a dict: driver, object, op, subop, extra, host, domain_uuid (and optionally ``now``,
epoch seconds, for tests and "what would have happened" replays). ``xml_text`` is the input XML
as str (may be empty); it is parsed at most once, and only when a matching rule needs it.

The bundle is compiled on the server (``app/policy/compiler.py``; format in docs/policies.md):
globs are split into literal segments, paths into steps, units into bytes, so the hook does
no compiling beyond the regexes a matching rule actually uses.

Order within one call: mutation rules first (in bundle order) on the parsed tree, then the
deny rules on the result, so a rule checks the definition libvirt will actually use.
"""

from hookshim import outcome

FORMAT = 1
# Op names only (a rule may match any driver); hookshim/outcome.py has the per-driver table.
FILTER_OPS = frozenset(op for _, op in outcome.FILTER_OPS)
# A deny here harms a running guest (for some driver, in some libvirt release); the linter
# only lets it through with an explicit opt-in, and the evaluator re-checks per driver and
# release so a hand-edited bundle cannot do it by accident.
# Computed on first use (destructive_ops): walking the outcome table costs ~1.4 M
# instructions, paid at import by every hook call before (docs/hookshim.md "Hook storms").
_DESTRUCTIVE_OPS = []
MARKER_NAMESPACE = "urn:hookaudit:policy"
MAX_REASON = 400


class BundleError(Exception):
    """The bundle file exists but cannot be used (the hook then fails open: allow)."""


class Verdict:
    """Result of evaluating a bundle against one hook call."""

    __slots__ = ("bundle_version", "decisions", "deny", "errors", "output_xml", "reason")

    def __init__(self, deny=False, reason=None, decisions=(), output_xml=None,
                 bundle_version=None, errors=()):
        self.deny = deny                      # True: the hook must refuse (non-zero exit)
        self.reason = reason                  # one-line message for stderr when deny
        self.decisions = list(decisions)      # event contract: policy.decisions entries
        self.output_xml = output_xml          # str: rewritten XML (filter ops), None: unchanged
        self.bundle_version = bundle_version  # stamped on the event
        self.errors = list(errors)            # evaluation errors (also in decisions)

    def __repr__(self):
        return "Verdict(deny=%r, reason=%r, decisions=%r, changed=%r)" % (
            self.deny, self.reason, self.decisions, self.output_xml is not None)


def load_bundle(path):
    """Read the compiled bundle (JSON) at ``path``; None when it does not exist.

    The parsed bundle is cached beside it (``.<name>.cache``, marshal, keyed by the JSON
    file's inode/mtime/size and the Python version): reading that needs no ``json`` import,
    which would pull in ``re``, ``enum`` and friends on every hook call.
    """
    import posix  # not os (hookshim/fs.py)

    from hookshim.fs import basename, dirname, join

    try:
        st = posix.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BundleError("policy bundle %s unreadable: %s" % (path, exc)) from None
    cache = join(dirname(path), "." + basename(path) + ".cache")
    key = _cache_key(st)
    bundle = _read_cache(cache, key, st)
    if bundle is None:
        bundle = _read_json(path)
        if not basename(path).startswith("."):  # never for the forwarder's temp files
            _write_cache(cache, key, bundle)
    return bundle


def _cache_key(st):
    import sys

    return (FORMAT, tuple(sys.version_info[:2]), st.st_ino, st.st_mtime_ns, st.st_size)


def _read_json(path):
    import json

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BundleError("policy bundle %s unreadable: %s" % (path, exc)) from None
    try:
        bundle = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BundleError("policy bundle %s is not JSON: %s" % (path, exc)) from None
    check_bundle(bundle, path)
    return bundle


def _read_cache(cache, key, st):
    """The cached bundle if it belongs to this very JSON file and nobody else could write it."""
    import marshal
    import posix

    try:
        with open(cache, "rb") as f:
            cst = posix.fstat(f.fileno())
            if cst.st_uid != st.st_uid or cst.st_mode & 0o022:
                return None
            cached_key, bundle = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return bundle if cached_key == key else None


def _write_cache(cache, key, bundle):
    """Best effort: a read-only state dir or a race only costs the next call a JSON parse."""
    import marshal

    from hookshim.fs import replace_file

    try:
        replace_file(cache, lambda: marshal.dumps((key, bundle)))
    except (OSError, ValueError):
        pass


def check_bundle(bundle, where="bundle"):
    """Raise BundleError unless ``bundle`` has the shape this evaluator understands."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError("policy %s: not a format-%d hookaudit bundle" % (where, FORMAT))
    rules, by_op = bundle.get("rules"), bundle.get("by_op")
    if not isinstance(rules, list) or not isinstance(by_op, dict):
        raise BundleError("policy %s: rules/by_op missing" % where)
    if not isinstance(bundle.get("version"), str):
        raise BundleError("policy %s: version missing" % where)


class _Context:
    """What the rules of one call share: the call, the clock, the XML parsed once (or its error)."""

    __slots__ = ("_error", "_root", "_text", "call", "now")

    def __init__(self, call, xml_text):
        self.call = call
        now = call.get("now")
        if now is None:
            import time

            now = time.time()
        self.now = now
        self._text = xml_text
        self._root = None
        self._error = None

    def root(self):
        if self._root is None and self._error is None:
            from hookshim.policy_xml import XMLError, parse

            try:
                self._root = parse(self._text)
            except XMLError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._root


def evaluate(bundle, call, xml_text):
    """Evaluate ``bundle`` for one call. No bundle: allow."""
    if not bundle:
        return Verdict()
    ctx = _Context(call, xml_text or "")
    result = _Result(bundle.get("version"))
    rules = bundle["rules"]
    op = call.get("op")
    indexes = sorted(set(bundle["by_op"].get(op, ())) | set(bundle["by_op"].get("*", ())))
    candidates = [rules[i] for i in indexes]
    candidates = [r for r in candidates if _matches(r, call, ctx)]
    for rule in candidates:
        if rule.get("mutate") and op in FILTER_OPS:
            _run_mutation(rule, ctx, result)
    for rule in candidates:
        if rule.get("deny_if") is not None:
            _run_deny(rule, ctx, result)
    return result.verdict(ctx, xml_text)


class _Result:
    """Decisions accumulated over one call."""

    def __init__(self, version):
        self.version = version
        self.decisions = []
        self.errors = []
        self.denials = []
        self.changes = 0

    def add(self, rule, verdict, message=None, error=None):
        self.decisions.append({"rule_id": rule["id"], "mode": rule["mode"], "verdict": verdict,
                               "message": message, "error": error})
        if error is not None:
            self.errors.append("%s: %s" % (rule["id"], error))

    def verdict(self, ctx, xml_text):
        output = _output(ctx, xml_text) if self.changes else None
        if output is False:
            self.errors.append("rewritten XML does not parse; rewrite dropped")
            self.denials.append("the policy rewrite of the XML does not parse")
            output = None
        reason = None
        if self.denials:
            reason = self.denials[0]
            if len(self.denials) > 1:
                reason += " (and %d more)" % (len(self.denials) - 1)
            reason = " ".join(reason.split())[:MAX_REASON]
        return Verdict(bool(self.denials), reason, self.decisions, output, self.version,
                       self.errors)


def _output(ctx, xml_text):
    from hookshim.policy_xml import XMLError, parse, serialize

    text = serialize(ctx.root())
    if xml_text.endswith("\n"):
        text += "\n"
    try:
        parse(text)  # the result must parse: libvirt cancels the migration otherwise
    except XMLError:
        return False
    return None if text == xml_text else text


def _run_mutation(rule, ctx, result):
    from hookshim.policy_mutate import apply

    write = rule["mode"] == "enforce"
    try:
        changes = apply(rule["mutate"], ctx.root(), write)
    except Exception as exc:  # noqa: BLE001 - any failure is this rule's evaluation error
        _fail(rule, exc, result)
        return
    if changes:
        result.changes += changes if write else 0
        note = "%d value(s) %s" % (changes, "rewritten" if write else "would be rewritten")
        result.add(rule, "mutate", _message(rule, ctx) or note)
    else:
        result.add(rule, "allow")


def _run_deny(rule, ctx, result):
    from hookshim.policy_cond import holds

    try:
        hit = holds(rule["deny_if"], ctx)
    except Exception as exc:  # noqa: BLE001 - bad data, unparsable XML, missing tz: fail per policy
        _fail(rule, exc, result)
        return
    if not hit:
        result.add(rule, "allow")
        return
    message = _message(rule, ctx)
    error = None
    if rule["mode"] == "enforce":
        if _harms_running(ctx.call) and not rule.get("allow_destroy_running"):
            error = "guard rail: deny on %s not applied (would destroy a running guest)" % (
                ctx.call.get("op"))
        else:
            result.denials.append("%s: %s" % (rule["id"], message))
    result.add(rule, "deny", message, error)


def _harms_running(call):
    driver, op = call.get("driver"), call.get("op")
    if driver not in outcome.DRIVERS:  # a driver libvirt may add later: judge by op name
        return op in destructive_ops()
    return outcome.harms_running(driver, op, call.get("libvirt_version"))


def destructive_ops():
    """Ops where a deny harms a running guest for some driver, in some libvirt release."""
    if not _DESTRUCTIVE_OPS:
        _DESTRUCTIVE_OPS.append(frozenset(op for d in outcome.DRIVERS
                                          for op in outcome.guard_rail_ops(d)))
    return _DESTRUCTIVE_OPS[0]


def _fail(rule, exc, result):
    error = "%s: %s" % (type(exc).__name__, exc) if not str(exc) else str(exc)
    error = " ".join(error.split())[:MAX_REASON]
    result.add(rule, "error", None, error)
    if rule.get("failure_policy") == "fail" and rule["mode"] == "enforce":
        result.denials.append("%s could not be evaluated (failure_policy fail): %s"
                              % (rule["id"], error))


def _message(rule, ctx):
    message = rule.get("message")
    if not message:
        return None
    for key in ("object", "host", "op", "driver", "subop"):
        message = message.replace("{%s}" % key, str(ctx.call.get(key)))
    return message.replace("{rule}", rule["id"])


def _matches(rule, call, ctx):
    m = rule["match"]
    for key in ("driver", "subop"):
        if m.get(key) is not None and call.get(key) not in m[key]:
            return False
    if m.get("object") is not None and not any_glob(m["object"], call.get("object") or ""):
        return False
    if m.get("host") is not None and not any_glob(m["host"], call.get("host") or ""):
        return False
    if m.get("object_regex") is not None and not _object_regex(m["object_regex"], call):
        return False
    if m.get("domain_uuid") is not None and _domain_uuid(call, ctx) not in m["domain_uuid"]:
        return False
    return not _exempt(rule, call, ctx)


def _object_regex(rx, call):
    from hookshim.policy_cond import regex

    name = call.get("object") or ""
    return len(name) <= rx["max_input"] and regex(rx).search(name) is not None


def _domain_uuid(call, ctx):
    uuid = call.get("domain_uuid")
    if uuid:
        return uuid.lower()
    from hookshim.policy_xml import values

    try:
        found = values(ctx.root(), {"steps": [["child", "uuid", []]], "attr": None})
    except Exception:  # noqa: BLE001 - no usable XML: no uuid, the rule does not match
        return None
    return found[0].lower() if found else None


def _exempt(rule, call, ctx):
    ex = rule.get("exempt") or {}
    if ex.get("object") and any_glob(ex["object"], call.get("object") or ""):
        return True
    if ex.get("host") and any_glob(ex["host"], call.get("host") or ""):
        return True
    return bool(ex.get("marker")) and _marked(rule["id"], ctx)


def _marked(rule_id, ctx):
    """The domain's <metadata> carries <exempt xmlns='urn:hookaudit:policy' rules='id ...'/>."""
    from hookshim.policy_xml import namespace_of, select

    try:
        meta = select(ctx.root(), {"steps": [["child", "metadata", []], ["child", "*", []]],
                                   "attr": None})
    except Exception:  # noqa: BLE001 - unparsable XML: not exempt; the rule reports the error
        return False
    for node in meta:
        if namespace_of(node) == (MARKER_NAMESPACE, "exempt"):
            ids = node.attrib.get("rules", "").replace(",", " ").split()
            if "*" in ids or rule_id in ids:
                return True
    return False


def any_glob(globs, name):
    """``name`` matches one of the compiled globs (["seg", [literal, ...]] or ["re", rx])."""
    for kind, spec in globs:
        if kind == "seg" and _segments_match(spec, name):
            return True
        if kind == "re":
            from hookshim.policy_cond import regex

            if regex(spec).fullmatch(name):
                return True
    return False


def _segments_match(segs, name):
    """Shell glob with only '*': segs is the pattern split on '*'."""
    if len(segs) == 1:
        return name == segs[0]
    first, last = segs[0], segs[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for seg in segs[1:-1]:
        pos = name.find(seg, pos, end)
        if pos < 0:
            return False
        pos += len(seg)
    return True
