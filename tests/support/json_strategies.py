"""Hypothesis strategies for what the AWS CLI could print: any JSON, and real answers mutated.

Shared by the property tests of every parser of CLI output, so that "total" means the same
thing for each: any JSON document in, a value or the module's UnexpectedOutput out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Leaves that JSON can hold, the odd ones on purpose: non-ASCII digits, huge and negative
# numbers, floats that are whole, empty strings, null.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "12", "\u0661\u0662", "\u00b2", "1e3", " 7 ", "-1", "NaN"]),
)

any_json = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=25,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `doc` that a mutation could replace, the root included."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    """The container that holds the place `path` names (path not empty)."""
    for step in path[:-1]:
        doc = doc[step]
    return doc


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    _parent(doc, path)[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    doc = copy.deepcopy(doc)
    del _parent(doc, path)[path[-1]]
    return doc


@st.composite
def mutations(draw: st.DrawFn, real: Any, rounds: int = 3) -> Any:
    """`real` (a recorded CLI answer) with up to `rounds` places replaced by any JSON or
    removed: wrong types, missing keys, nulls where objects were."""
    doc = copy.deepcopy(real)
    for _ in range(draw(st.integers(min_value=1, max_value=rounds))):
        path = draw(st.sampled_from(_paths(doc)))
        if path and draw(st.booleans()):
            doc = _delete(doc, path)
        else:
            doc = _replace(doc, path, draw(any_json))
    return doc


def deeply_nested(depth: int = 100_000) -> str:
    """A JSON text nested deeper than Python's recursion limit."""
    return "[" * depth + "]" * depth


def as_cli_output(doc: Any) -> str:
    return json.dumps(doc)
