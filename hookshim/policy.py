"""Policy evaluation at the hook (stdlib only). INTERFACE STUB: the policy-engine work replaces
the body of these functions; the signatures are the contract the hook relies on.

    bundle = load_bundle(path)        # dict, or None when no bundle file exists;
                                      # raises BundleError when the file is unreadable/corrupt
    verdict = evaluate(bundle, call, xml_text)

``call`` is a dict: driver, object, op, subop, extra, host, domain_uuid.
``xml_text`` is the input XML as str (may be empty); parse it only if a matching rule needs it.
"""


class BundleError(Exception):
    """The bundle file exists but cannot be used (the hook then fails open: allow)."""


class Verdict:
    """Result of evaluating a bundle against one hook call."""

    __slots__ = ("deny", "reason", "decisions", "output_xml", "bundle_version", "errors")

    def __init__(self, deny=False, reason=None, decisions=(), output_xml=None,
                 bundle_version=None, errors=()):
        self.deny = deny                      # True: the hook must refuse (non-zero exit)
        self.reason = reason                  # one-line message for stderr when deny
        self.decisions = list(decisions)      # event contract: policy.decisions entries
        self.output_xml = output_xml          # str: rewritten XML (filter ops), None: unchanged
        self.bundle_version = bundle_version  # stamped on the event
        self.errors = list(errors)            # evaluation errors (also in decisions)


def load_bundle(path):
    """Read the compiled bundle (JSON) at ``path``; None when it does not exist."""
    import os

    if not os.path.exists(path):
        return None
    import json

    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError("policy bundle %s unusable: %s" % (path, exc)) from None


def evaluate(bundle, call, xml_text):
    """Evaluate ``bundle`` for one call. No bundle: allow."""
    if not bundle:
        return Verdict()
    return Verdict(bundle_version=bundle.get("version"))
