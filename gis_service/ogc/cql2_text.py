"""CQL2 text read by pygeofilter's grammar with its boolean rules and identifiers as the standard has them.

pygeofilter (0.4.0, the latest release) reads ``AND`` and ``OR`` at one level, left to right: it
made ``a OR b AND c`` into ``(a OR b) AND c``, where CQL2 (OGC 21-065, ``booleanValueExpression``)
binds ``AND`` first, ``a OR (b AND c)``: such a filter answered other features, silently. Its
``NOT`` took a predicate only, refusing ``NOT (a OR b)`` (pygeofilter#134, fixed upstream after
0.4.0), and a boolean literal was no condition of its own (``TRUE``, ``x = 'a' AND FALSE``: Basic
CQL2's ``booleanPrimary``). Its property names needed two characters at least and ASCII letters,
where CQL2's ``identifier`` is one character or more, of most of Unicode (a property ``d``, a name
in Chinese); and its ``DATE``, ``TIMESTAMP`` and ``INTERVAL`` were upper case only, where CQL2's
keywords are of any case. Its predicates, literals, geometry grammar and transformer are kept: only
those rules are replaced, here, so that everything else follows pygeofilter's releases. Written by hand
because no release of pygeofilter reads these right, and the filters go on to its evaluator as its own
tree (a boolean literal as its ``INCLUDE`` or ``EXCLUDE``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from lark import Lark, v_args
from pygeofilter import ast
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
            | expression                                                   -> boolean_condition

"""
# pygeofilter's rules from its start symbol up to its first predicate rule: what BOOLEAN_RULES replaces.
THEIRS = re.compile(r"^\?start: condition\n.*?(?=^\?predicate:)", re.MULTILINE | re.DOTALL)
# CQL2's identifierStart and identifierPart (OGC 21-065, Annex B) as regular expression classes.
START = (
    r":A-Z_a-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D"
    r"\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF"
)
PART = START + r".0-9\u00B7\u0300-\u036F\u203F-\u2040"
# Their property name, and CQL2's.
THEIR_ATTRIBUTE = "attribute: /[a-zA-Z][a-zA-Z_:0-9.]+/"
ATTRIBUTE = f"attribute: /[{START}][{PART}]*/"
# Their instant and interval literals' keywords, of any case as CQL2's.
KEYWORDS = re.compile(r'^(\?(?:timestamp|interval|date): )"(TIMESTAMP|INTERVAL|DATE)"', re.MULTILINE)
# Their boolean literal, and one that is not the start of a longer name (a property ``false_alarm``).
THEIR_BOOLEAN = 'BOOLEAN.2: ( "TRUE"i | "FALSE"i)'
BOOLEAN = f"BOOLEAN.2: /(?i:TRUE|FALSE)(?![{PART}])/"


class _Transformer(theirs.CQLTransformer):  # type: ignore[misc]
    """pygeofilter's transformer, and a boolean literal read as a condition."""

    @v_args(inline=True)
    def boolean_condition(self, value: Any) -> Any:
        """``TRUE`` keeps every feature, ``FALSE`` none: pygeofilter's ``INCLUDE`` and ``EXCLUDE``; any other value
        alone is no condition."""
        if isinstance(value, bool):
            return self.include() if value else self.exclude()
        name = value.name if isinstance(value, ast.Attribute) else repr(value)
        raise ValueError(f"{name} 单独不构成条件：请写成比较（如 x = 'a'），或写 TRUE / FALSE")


def _parser() -> Any:
    """Build the parser (~0.1 s, as the OGC routes are imported): a pygeofilter whose grammar no longer has the
    rules replaced here stops the service at its start, not a filter at its reading."""
    folder = Path(theirs.__file__).parent
    grammar = (folder / "grammar.lark").read_text(encoding="utf-8")
    grammar, rules = THEIRS.subn(BOOLEAN_RULES, grammar)
    grammar, keywords = KEYWORDS.subn(r'\1"\2"i', grammar)
    if (rules, keywords, grammar.count(THEIR_ATTRIBUTE), grammar.count(THEIR_BOOLEAN)) != (1, 3, 1, 1):
        raise RuntimeError(f"pygeofilter's CQL2 text grammar ({folder}) no longer has the rules this module replaces")
    grammar = grammar.replace(THEIR_ATTRIBUTE, ATTRIBUTE).replace(THEIR_BOOLEAN, BOOLEAN)
    # One conflict, resolved as lark does by default (shift): in ``(x)`` the parenthesis is the value's, and the
    # value alone then a condition (``TRUE``) or refused. pygeofilter sets lark's log to debug as it is imported;
    # that resolution is not news to log at each start.
    lark_log = logging.getLogger("lark")
    level = lark_log.level
    lark_log.setLevel(logging.WARNING)
    try:
        return Lark(
            grammar,
            parser="lalr",
            maybe_placeholders=False,
            transformer=_Transformer(),
            import_paths=[str(folder.parent)],  # its geometry grammar (``%import .wkt.ewkt_geometry``)
        )
    finally:
        lark_log.setLevel(level)


PARSER = _parser()


def parse(text: str) -> Any:
    """Return the pygeofilter tree (``pygeofilter.ast``) of a CQL2 text filter; lark's errors for bad text."""
    return PARSER.parse(text)
