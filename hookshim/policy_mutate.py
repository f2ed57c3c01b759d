"""Mutations of the domain XML for filter ops (migrate, restore), compiled form. Stdlib only.

    ["set_attribute", path, attr, value]
    ["remove_attribute", path, attr]
    ["replace_prefix", path, attr | None, old_prefix, new_prefix]   attr None: element text
    ["set_text", path, value]
    ["remove_element", path]

``apply(ops, root, write)`` returns how many values would change (``write`` False) or did
change (``write`` True). A path that selects nothing changes nothing: that is not an error.
"""

from hookshim.policy_xml import select


def apply(ops, root, write):
    """Run the mutation ops in order on the tree rooted at ``root``; count the changes."""
    changes = 0
    for op in ops:
        changes += _OPS[op[0]](op, root, write)
    return changes


def _set_attribute(op, root, write):
    attr, value = op[2], op[3]
    changed = [n for n in select(root, op[1]) if n.attrib.get(attr) != value]
    if write:
        for n in changed:
            n.attrib[attr] = value
    return len(changed)


def _remove_attribute(op, root, write):
    attr = op[2]
    changed = [n for n in select(root, op[1]) if attr in n.attrib]
    if write:
        for n in changed:
            del n.attrib[attr]
    return len(changed)


def _replace_prefix(op, root, write):
    attr, old, new = op[2], op[3], op[4]
    count = 0
    for n in select(root, op[1]):
        current = n.text if attr is None else n.attrib.get(attr)
        if current is None or not current.startswith(old) or old == new:
            continue
        count += 1
        if write and attr is None:
            n.text = new + current[len(old):]
        elif write:
            n.attrib[attr] = new + current[len(old):]
    return count


def _set_text(op, root, write):
    value = op[2]
    changed = [n for n in select(root, op[1]) if n.text != value or n.children]
    if write:
        for n in changed:
            n.text = value
            n.children = []  # text replaces mixed content: the element keeps no children
    return len(changed)


def _remove_element(op, root, write):
    doomed = [n for n in select(root, op[1]) if n.parent is not None and n is not root]
    if write:
        for n in doomed:
            _detach(n)
    return len(doomed)


def _detach(node):
    parent = node.parent
    i = parent.children.index(node)
    # the element's tail takes the place of the indentation before it, so the lines around
    # the removed element keep their layout
    before = parent.children[i - 1].tail if i else parent.text
    merged = node.tail if not before.strip() else before + node.tail
    if i:
        parent.children[i - 1].tail = merged
    else:
        parent.text = merged
    del parent.children[i]


_OPS = {"set_attribute": _set_attribute, "remove_attribute": _remove_attribute,
        "replace_prefix": _replace_prefix, "set_text": _set_text,
        "remove_element": _remove_element}
