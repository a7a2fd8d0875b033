"""CQL2 text read by pygeofilter's grammar with its boolean rules as the standard has them.

pygeofilter (0.4.0, the latest release) reads ``AND`` and ``OR`` at one level, left to right: it
made ``a OR b AND c`` into ``(a OR b) AND c``, where CQL2 (OGC 21-065, ``booleanValueExpression``)
binds ``AND`` first, ``a OR (b AND c)``: such a filter answered other features, silently. Its
``NOT`` took a predicate only, refusing ``NOT (a OR b)`` (pygeofilter#134, fixed upstream after
0.4.0). Its predicates, literals, geometry grammar and transformer are kept as they are: only its
three boolean rules are replaced, here, so that everything else follows pygeofilter's releases.
Written by hand because no release of pygeofilter reads these right, and the filters go on to its
evaluator as its own tree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lark import Lark
from pygeofilter.parsers.cql2_text import parser as theirs

# CQL2: an OR of AND-terms, each term NOT-able factors; a factor is a predicate or a parenthesised condition.
BOOLEAN_RULES = """?start: condition

?condition: and_condition
          | condition "OR"i and_condition                                  -> or_

?and_condition: condition_1
              | and_condition "AND"i condition_1                           -> and_

?condition_1: predicate
            | "NOT"i condition_1                                           -> not_
            | "(" condition ")"

"""
# pygeofilter's rules from its start symbol up to its first predicate rule: what BOOLEAN_RULES replaces.
THEIRS = re.compile(r"^\?start: condition\n.*?(?=^\?predicate:)", re.MULTILINE | re.DOTALL)


def _parser() -> Any:
    """Build the parser (~0.1 s, as the OGC routes are imported): a pygeofilter whose grammar no longer has the
    rules replaced here stops the service at its start, not a filter at its reading."""
    folder = Path(theirs.__file__).parent
    grammar, replaced = THEIRS.subn(BOOLEAN_RULES, (folder / "grammar.lark").read_text(encoding="utf-8"))
    if replaced != 1:
        raise RuntimeError(f"pygeofilter's CQL2 text grammar ({folder}) no longer has the rules this module replaces")
    return Lark(
        grammar,
        parser="lalr",
        maybe_placeholders=False,
        transformer=theirs.CQLTransformer(),
        import_paths=[str(folder.parent)],  # its geometry grammar (``%import .wkt.ewkt_geometry``)
    )


PARSER = _parser()


def parse(text: str) -> Any:
    """Return the pygeofilter tree (``pygeofilter.ast``) of a CQL2 text filter; lark's errors for bad text."""
    return PARSER.parse(text)
