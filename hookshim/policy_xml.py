"""A minimal XML tree for the policy evaluator (stdlib only, hook path).

Why not xml.etree: importing ElementTree costs about half a bare interpreter start on a small
host (it pulls in re, enum, contextlib, weakref); ``pyexpat`` is a C module that loads for almost
nothing. The tree keeps what a rewrite must give back unchanged — prefixes as written, attribute
order, whitespace, comments — so a mutation's output differs from its input only where a rule
changed something.

Paths arrive precompiled in the bundle (see ``app/policy/paths.py``):
``{"steps": [[axis, name, [predicate, ...]], ...], "attr": name | None}`` where axis is
``"child"`` or ``"desc"`` (descendant-or-self then child, i.e. ``//``), name is a tag or ``"*"``,
and a predicate is one of ``["has_attr", a]``, ``["attr_eq", a, v]``, ``["attr_ne", a, v]``,
``["has_child", tag]``, ``["child_eq", tag, text]``, ``["pos", n]`` (1-based).
"""


# Real domain XML is a few KB; a multi-MB document is not one libvirt wrote, and parsing it
# with Python callbacks would cost seconds libvirtd waits for. Larger input is an evaluation
# error (the rule's failure_policy decides).
MAX_XML_CHARS = 4 * 1024 * 1024


class XMLError(Exception):
    """The input XML cannot be parsed."""


class Node:
    """One element (``tag`` is None for a comment, whose text is ``text``)."""

    __slots__ = ("attrib", "children", "parent", "tag", "tail", "text")

    def __init__(self, tag, attrib, parent):
        self.tag = tag
        self.attrib = attrib
        self.children = []
        self.text = ""
        self.tail = ""
        self.parent = parent


def parse(text):
    """Parse ``text`` into a Node tree; raise XMLError on anything that is not one element."""
    import pyexpat

    if not text or not text.strip():
        raise XMLError("no XML on stdin")
    if len(text) > MAX_XML_CHARS:
        raise XMLError("input XML larger than %d characters: not evaluated" % MAX_XML_CHARS)
    root = Node(None, {}, None)  # a holder for the document element
    stack = [root]
    parser = pyexpat.ParserCreate()
    parser.buffer_text = True

    def start(tag, attrib):
        node = Node(tag, attrib, stack[-1])
        stack[-1].children.append(node)
        stack.append(node)

    def chars(data):
        cur = stack[-1]
        if cur.children:
            cur.children[-1].tail += data
        else:
            cur.text += data

    def comment(data):
        start(None, {})
        stack[-1].text = data
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.CharacterDataHandler = chars
    parser.CommentHandler = comment
    parser.StartDoctypeDeclHandler = _refuse_doctype
    try:
        parser.Parse(text, True)
    except (pyexpat.ExpatError, ValueError) as exc:
        raise XMLError("input XML does not parse: %s" % exc) from None
    elements = [c for c in root.children if c.tag is not None]
    if len(elements) != 1:
        raise XMLError("input XML has no document element")
    return elements[0]


def _refuse_doctype(*args):
    # libvirt never sends a DOCTYPE; refusing it shuts out entity expansion tricks entirely.
    raise ValueError("DOCTYPE not allowed")


def select(root, path):
    """Nodes selected by a compiled path (document order, no duplicates)."""
    nodes = [root]
    for axis, name, preds in path["steps"]:
        found = []
        for node in nodes:
            pool = node.children if axis == "child" else _descendants(node)
            matched = [c for c in pool if c.tag is not None and (name == "*" or c.tag == name)]
            found.extend(_filter(matched, preds))
        # children of distinct parents are distinct; only "//" can reach a node twice
        nodes = found if axis == "child" else _unique(found)
    return nodes


def values(root, path):
    """String values of a path: attribute values when it ends in @attr, else element texts."""
    attr = path.get("attr")
    nodes = select(root, path)
    if attr is None:
        return [n.text.strip() for n in nodes]
    return [n.attrib[attr] for n in nodes if attr in n.attrib]


def _descendants(node):
    out = []
    todo = list(reversed(node.children))
    while todo:
        cur = todo.pop()
        if cur.tag is not None:
            out.append(cur)
            todo.extend(reversed(cur.children))
    return out


def _unique(nodes):
    seen = set()
    out = []
    for n in nodes:
        if id(n) not in seen:
            seen.add(id(n))
            out.append(n)
    return out


def _filter(nodes, preds):
    for pred in preds:
        if pred[0] == "pos":
            nodes = nodes[pred[1] - 1:pred[1]]
        else:
            nodes = [n for n in nodes if _holds(n, pred)]
    return nodes


def _holds(node, pred):
    kind = pred[0]
    if kind == "has_attr":
        return pred[1] in node.attrib
    if kind == "attr_eq":
        return node.attrib.get(pred[1]) == pred[2]
    if kind == "attr_ne":
        return pred[1] in node.attrib and node.attrib[pred[1]] != pred[2]
    kids = [c for c in node.children if c.tag == pred[1]]
    if kind == "has_child":
        return bool(kids)
    return any(c.text.strip() == pred[2] for c in kids)  # child_eq


def namespace_of(node):
    """The namespace URI of a node's tag prefix, looked up through its ancestors."""
    prefix, _, local = node.tag.rpartition(":")
    key = "xmlns:" + prefix if prefix else "xmlns"
    cur = node
    while cur is not None:
        if key in cur.attrib:
            return cur.attrib[key], local
        cur = cur.parent
    return None, local


def serialize(node):
    """The element as XML text, attributes in libvirt's quoting style (single quotes)."""
    out = []
    _write(node, out)
    return "".join(out)


def _write(node, out):
    if node.tag is None:
        out.append("<!--%s-->" % node.text)
        return
    out.append("<" + node.tag)
    for k, v in node.attrib.items():
        out.append(" %s='%s'" % (k, _escape_attr(v)))
    if not node.children and not node.text:
        out.append("/>")
        return
    out.append(">" + _escape_text(node.text))
    for child in node.children:
        _write(child, out)
        out.append(_escape_text(child.tail))
    out.append("</%s>" % node.tag)


def _escape_text(s):
    if "&" in s or "<" in s or ">" in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s


def _escape_attr(s):
    s = _escape_text(s).replace("'", "&apos;")
    if "\n" in s or "\t" in s or "\r" in s:
        s = s.replace("\n", "&#10;").replace("\t", "&#9;").replace("\r", "&#13;")
    return s
