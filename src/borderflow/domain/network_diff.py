"""What a new version of a reference document changes: the network file (and, through
``domain/fees_diff.py``, the fee schedule) compared entry by entry before it is published.

A document is JSON-shaped (dicts, lists, strings, numbers, booleans, null). Lists whose items
are objects each named by a ``code`` (gates, yards, calendars...) or a ``direction`` (a gate's
capacity lines) are compared entry by entry, by that name; other lists of the same length item
by item (a calendar's weekly hours); any other list is one value. The changes are exact:
:func:`apply` of :func:`diff` ``(old, new)`` to ``old`` gives ``new``.
Pure: no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

KEY_FIELDS = ("code", "direction")
"""The fields that name the entries of a list, in the order they are tried."""

Kind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Entry:
    """A step of a path into a named entry of a list (``gates`` → the gate ``huu-nghi``)."""

    key: str
    name: str


Step = str | int | Entry


@dataclass(frozen=True)
class Change:
    """One difference: a field or entry added, removed or changed at ``path``. An entry added
    to a list keeps the place it has in the new list (``index``)."""

    path: tuple[Step, ...]
    kind: Kind
    old: Any = None
    new: Any = None
    index: int | None = None


def _key_field(items: Sequence[Any]) -> str | None:
    """The field naming every item of a list uniquely, if there is one."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in KEY_FIELDS:
        names = [i.get(key) for i in items]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return key
    return None


def _keyed_alike(old: list[Any], new: list[Any]) -> str | None:
    """The naming field of two lists compared entry by entry: both named by it, and the
    entries in both keep their order (a reordered list is one changed value)."""
    key = _key_field(old) if old else _key_field(new)
    if key is None or (old and new and _key_field(new) != key):
        return None
    names_new = {i[key] for i in new}
    names_old = {i[key] for i in old}
    common_old = [i[key] for i in old if i[key] in names_new]
    common_new = [i[key] for i in new if i[key] in names_old]
    return key if common_old == common_new else None


def diff(old: Any, new: Any, path: tuple[Step, ...] = ()) -> list[Change]:
    """Every difference between two documents, removals of a list's entries before the
    additions, additions in the order of the new list."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in old:
            if k not in new:
                out.append(Change((*path, k), "removed", old=old[k]))
        for k in new:
            if k not in old:
                out.append(Change((*path, k), "added", new=new[k]))
            else:
                out.extend(diff(old[k], new[k], (*path, k)))
        return out
    if isinstance(old, list) and isinstance(new, list):
        key = _keyed_alike(old, new)
        if key is not None:
            return _diff_entries(old, new, key, path)
        if len(old) == len(new) and old and _key_field(old) is None and \
                _key_field(new) is None:
            return [c for i, (a, b) in enumerate(zip(old, new, strict=True))
                    for c in diff(a, b, (*path, i))]
    if type(old) is not type(new) or old != new:
        return [Change(path, "changed", old=old, new=new)]
    return []


def _diff_entries(old: list[Any], new: list[Any], key: str, path: tuple[Step, ...]
                  ) -> list[Change]:
    before = {i[key]: i for i in old}
    after = {i[key]: i for i in new}
    out = [Change((*path, Entry(key, i[key])), "removed", old=i) for i in old
           if i[key] not in after]
    for index, item in enumerate(new):
        name = item[key]
        if name not in before:
            out.append(Change((*path, Entry(key, name)), "added", new=item, index=index))
        else:
            out.extend(diff(before[name], item, (*path, Entry(key, name))))
    return out


def _find(items: list[Any], step: Entry) -> int:
    return next(i for i, item in enumerate(items) if item.get(step.key) == step.name)


def _child(node: Any, step: Step) -> Any:
    return node[_find(node, step)] if isinstance(step, Entry) else node[step]


def apply(document: Any, changes: Sequence[Change]) -> Any:
    """The document with the changes made (a new document; the one given is untouched)."""
    out = copy.deepcopy(document)
    for change in changes:
        if not change.path:
            out = copy.deepcopy(change.new)
            continue
        parent = out
        for step in change.path[:-1]:
            parent = _child(parent, step)
        last = change.path[-1]
        value = copy.deepcopy(change.new)
        if isinstance(last, Entry):
            if change.kind == "added":
                parent.insert(change.index if change.index is not None else len(parent), value)
            elif change.kind == "removed":
                del parent[_find(parent, last)]
            else:
                parent[_find(parent, last)] = value
        elif change.kind == "removed":
            del parent[last]
        else:
            parent[last] = value
    return out


@dataclass(frozen=True)
class EntryChange:
    """The changes of one entry of a section (a gate, a yard of a gate, a calendar...), for
    people to read: ``entries`` are the named entries leading to it (``[gates: huu-nghi,
    yards: huu-nghi-import]``); ``fields`` its changed fields, paths relative to it."""

    section: str
    entries: tuple[Entry, ...]
    kind: Kind
    fields: tuple[Change, ...] = ()
    old: Any = None
    new: Any = None


def _entry_prefix(path: tuple[Step, ...]) -> int:
    """How many steps of a path lead to the deepest named entry it goes through."""
    last = 0
    for i, step in enumerate(path):
        if isinstance(step, Entry):
            last = i + 1
    return last


def by_entry(changes: Sequence[Change]) -> list[EntryChange]:
    """The changes grouped by the entry they touch, in the order first met: an entry added
    or removed as a whole, or changed field by field."""
    groups: dict[tuple[Step, ...], EntryChange] = {}
    for c in changes:
        cut = _entry_prefix(c.path)
        head, rest = c.path[:cut], c.path[cut:]
        section = str(c.path[0]) if c.path and not isinstance(c.path[0], Entry) else ""
        entries = tuple(s for s in head if isinstance(s, Entry))
        if cut and not rest:
            groups[head] = EntryChange(section, entries, c.kind, old=c.old, new=c.new)
            continue
        if not cut:
            head = ()  # a field of the document itself
            rest = c.path
        found = groups.get(head)
        fields = (found.fields if found else ()) + (Change(rest, c.kind, c.old, c.new),)
        groups[head] = EntryChange(section if cut else "", entries, "changed", fields)
    return list(groups.values())
