"""What the shim tells libvirtd for one call: exit code, stderr, and stdout (filter ops).

Its own module so that building the answer (hookshim/hook.py) and recording it
(hookshim/record.py, hookshim/call_event.py) need not import each other.
"""


class Answer:
    """Exit code, what goes on stderr, stdout bytes (filters), and how the call ended.

    ``reason``: one line for the event (why the call failed or was refused).
    ``stderr``: exactly what the shim prints on stderr; libvirt shows all of it to the API
    caller on a non-zero exit. None: the one-line reason when refusing, else nothing.
    ``outcome``: set only when what libvirt does differs from what the exit code says
    (filter output libvirt will reject: exit 0, but libvirt cancels).
    """

    __slots__ = ("code", "reason", "stdout", "timed_out", "stderr", "outcome")

    def __init__(self, code=0, reason=None, stdout=b"", timed_out=False, stderr=None,
                 outcome=None):
        self.code, self.reason, self.stdout, self.timed_out = code, reason, stdout, timed_out
        self.stderr, self.outcome = stderr, outcome

    def stderr_text(self):
        """What the shim prints on stderr (and the event's ``stderr`` field records)."""
        if self.stderr is not None:
            return self.stderr or None
        if self.code and self.reason:
            return one_line(self.reason) + "\n"
        return None


def one_line(text):
    """First non-empty line, bounded: libvirt shows it to the person running virsh."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:400]
    return ""
