"""XML without DTDs: an ElementTree built from expat's events, refusing what makes XML dangerous.

The check is on the parser's events, not on the raw bytes, so it holds whatever the encoding
(UTF-16, UTF-8 with or without BOM, Latin-1) and wherever the declaration stands in the document:

- a DOCTYPE with an internal subset (``<!DOCTYPE x [ ... ]>``) is refused, and with it every
  ``<!ENTITY``, ``<!ELEMENT``, ``<!ATTLIST`` and ``<!NOTATION`` (nmap writes ``<!DOCTYPE nmaprun>``);
- entity and notation declarations and external entity references are refused (belt and braces:
  they can only come from an internal subset, and parameter entities are never parsed);
- an external DTD named by ``SYSTEM``/``PUBLIC`` is never fetched;
- elements nest at most ``max_depth`` deep.

A document that breaks off (an interrupted nmap) can be read up to where it stops (``partial=True``):
`parse` says which elements were closed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, NoReturn
from xml.parsers import expat

from .read import ReadError

__all__ = ["Parsed", "parse", "fromstring"]

MAX_DEPTH = 256


class _Refused(Exception):
    """Raised from an expat handler to stop at a forbidden construct."""


@dataclass
class Parsed:
    root: ET.Element | None
    ended: set[int] = field(default_factory=set)  # ids of the elements read to their end tag
    error: str | None = None  # why parsing stopped early (the document is cut short or malformed)
    line: int | None = None
    col: int | None = None


def parse(data: bytes | str, name: str, kind: str = "XML file", *, max_depth: int = MAX_DEPTH) -> Parsed:
    """Parse ``data``; forbidden constructs raise `ReadError`, syntax errors are returned in ``error``."""
    p = expat.ParserCreate()  # encoding from the BOM / declaration; no namespace processing
    p.buffer_text = True
    p.ordered_attributes = False
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = ET.TreeBuilder()
    out = Parsed(root=None)
    depth = 0

    def refuse(what: str) -> NoReturn:
        raise _Refused(what)

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > max_depth:
            refuse(f"elements nested more than {max_depth} deep")
        el = builder.start(tag, attrs)
        if out.root is None:
            out.root = el

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        out.ended.add(id(builder.end(tag)))

    def doctype(doctype_name: str, system_id: Any, public_id: Any, has_internal_subset: int) -> None:
        if has_internal_subset:
            refuse("a DTD internal subset (<!DOCTYPE x [...]>, where entity declarations live) is not accepted")

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = builder.data
    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = lambda *a: refuse("entity declarations (<!ENTITY) are not accepted")
    p.UnparsedEntityDeclHandler = lambda *a: refuse("entity declarations (<!ENTITY) are not accepted")
    p.NotationDeclHandler = lambda *a: refuse("notation declarations (<!NOTATION) are not accepted")
    p.ExternalEntityRefHandler = lambda *a: refuse("external entities are not accepted")
    p.SkippedEntityHandler = lambda *a: refuse("entity references to undeclared entities are not accepted")
    try:
        p.Parse(data, True)
    except _Refused as e:
        raise ReadError(str(e), name, kind, p.ErrorLineNumber, p.ErrorColumnNumber + 1) from None
    except expat.ExpatError as e:
        out.error, out.line, out.col = expat.ErrorString(e.code), e.lineno, e.offset + 1
    except RecursionError:
        raise ReadError("nested too deeply", name, kind) from None
    return out


def fromstring(data: bytes | str, name: str = "<xml>", kind: str = "XML document") -> ET.Element:
    """The root of a complete document (a syntax error is a `ReadError` with its position)."""
    doc = parse(data, name, kind)
    if doc.error is not None or doc.root is None:
        raise ReadError(f"not well-formed XML: {doc.error or 'no element'}", name, kind, doc.line, doc.col)
    return doc.root
