"""The one hardened XML parser, the namespaces, and element factories.

Every XML document that reaches wpsd from outside (request bodies, fetched
references, XML outputs embedded in responses) goes through :func:`parse_xml`:
no DTDs, no entity expansion, no network access, no huge-tree mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree
from lxml.builder import ElementMaker

from ..exceptions import NoApplicableCode

NS_WPS10 = "http://www.opengis.net/wps/1.0.0"
NS_OWS11 = "http://www.opengis.net/ows/1.1"
NS_XLINK = "http://www.w3.org/1999/xlink"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_XML = "http://www.w3.org/XML/1998/namespace"

WPS10_NSMAP = {"wps": NS_WPS10, "ows": NS_OWS11, "xlink": NS_XLINK, "xsi": NS_XSI}

WPS10 = ElementMaker(namespace=NS_WPS10, nsmap=WPS10_NSMAP)
OWS11 = ElementMaker(namespace=NS_OWS11, nsmap=WPS10_NSMAP)

NS_WPS20 = "http://www.opengis.net/wps/2.0"
NS_OWS20 = "http://www.opengis.net/ows/2.0"
WPS20_NSMAP = {"wps": NS_WPS20, "ows": NS_OWS20, "xlink": NS_XLINK, "xsi": NS_XSI}
WPS20 = ElementMaker(namespace=NS_WPS20, nsmap=WPS20_NSMAP)
OWS20 = ElementMaker(namespace=NS_OWS20, nsmap=WPS20_NSMAP)


#: elements one document may hold: counted while parsing, so a request of a few megabytes
#: with a hundred thousand elements is refused before its tree costs hundreds of megabytes
MAX_ELEMENTS = 100_000


def _parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes | Iterable[bytes], max_elements: int = MAX_ELEMENTS
              ) -> etree._Element:
    """Parse untrusted XML, given whole or as chunks, or raise NoApplicableCode (HTTP 400).

    Chunks are parsed as they come, so the raw body and its tree are never both held; a
    document with more than ``max_elements`` elements is refused as soon as it gets there.
    """
    # A parser is cheap to make and not safe to share between threads.
    parser = _parser()
    count = 0
    try:
        for chunk in [data] if isinstance(data, bytes) else data:
            parser.feed(chunk)
            for _event in parser.read_events():
                count += 1
            if count > max_elements:
                raise NoApplicableCode(
                    f"The document has more than {max_elements} elements", status=400)
        tree = parser.close()
    except etree.XMLSyntaxError as exc:
        raise NoApplicableCode(f"The request is not well-formed XML: {exc}", status=400) from None
    if tree is None:
        raise NoApplicableCode("The request body is empty", status=400)
    if tree.getroottree().docinfo.doctype:  # type: ignore[attr-defined]  # not in lxml-stubs
        raise NoApplicableCode("Document type declarations are not accepted", status=400)
    return tree


# Characters XML 1.0 cannot carry at all, not even escaped.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text made safe for an XML document: characters XML cannot carry become U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def qname(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def xlink(local: str) -> str:
    return qname(NS_XLINK, local)


def to_bytes(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def fragment_bytes(elements: list[etree._Element]) -> bytes:
    """Serialise embedded elements on their own, without the enclosing document's unused
    namespace declarations."""
    parts = []
    for element in elements:
        copy = etree.fromstring(etree.tostring(element, with_tail=False))
        etree.cleanup_namespaces(copy)
        parts.append(etree.tostring(copy, encoding="UTF-8"))
    return b"".join(parts)
