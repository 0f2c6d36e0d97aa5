"""Salesforce Outbound Messages on the wire: the SOAP request SalesOS reads and the two answers it sends.

An Outbound Message carries no signature, so the body is untrusted until its
`OrganizationId` matches an installed org; it is parsed with defusedxml and
with DTDs refused outright (SOAP 1.1 forbids a document type declaration, so
no genuine message has one), which stops entity expansion (billion laughs) and
external entities before anything is expanded or fetched. Only a body sent to
an org's own URL is parsed at all, and its shape is bounded before anything
big is built: no tag (with its attributes) longer than 4 KiB, no element
deeper than 12 levels (a field is 6 down), no more than 100,000 elements (100
notifications of up to 1,000 fields). A genuine message is far inside each.

`SessionId` is a live Salesforce session token when the admin ticks "Send
Session ID": it is never read into a `Notification`, so it cannot reach the
queue or a log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100  # the WSDL's maxOccurs: Salesforce never sends more in one message
MAX_DEPTH = 12
MAX_ELEMENTS = 100_000
MAX_MARKUP = 4096  # bytes of one tag, comment or CDATA section
_LONG_MARKUP = re.compile(rb"<[^<>]{%d}" % MAX_MARKUP)  # linear: each try stops at the next < or >

# The documented acknowledgement, byte for byte (tests compare it with the published sample).
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    ' <soapenv:Body>\n'
    '  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    '   <Ack>true</Ack>\n'
    '  </notificationsResponse>\n'
    ' </soapenv:Body>\n'
    '</soapenv:Envelope>\n'
).encode()

_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    ' <soapenv:Body>\n'
    '  <soapenv:Fault>\n'
    '   <faultcode>soapenv:{code}</faultcode>\n'
    '   <faultstring>{reason}</faultstring>\n'
    '   <detail />\n'
    '  </soapenv:Fault>\n'
    ' </soapenv:Body>\n'
    '</soapenv:Envelope>\n'
)

_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SOBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class MalformedMessage(ValueError):
    """The body is not an Outbound Message SalesOS can read; the text says why (it goes back as the fault)."""


@dataclass(frozen=True)
class Notification:
    id: str  # the notification id: the same on every redelivery of this notification
    sobject: str  # Contact, Account, Opportunity, SalesOS_Market__c, ...
    object_id: str
    fields: dict[str, str | None] = field(default_factory=dict)  # API name -> text as sent (None when nil)


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str | None
    notifications: list[Notification]


def fault(reason: str, server: bool = False) -> bytes:
    """A SOAP 1.1 fault; Salesforce shows `reason` as the delivery failure in its outbound message queue."""
    return _FAULT.format(code="Server" if server else "Client", reason=escape(reason)).encode()


def long_id(sf_id: str) -> str:
    """The 18-character form of a Salesforce id (15-character ids are case-sensitive; 18-character ones are not)."""
    if len(sf_id) != 15:
        return sf_id
    return sf_id + "".join(_SUFFIX[sum(1 << i for i, c in enumerate(sf_id[start:start + 5]) if "A" <= c <= "Z")]
                           for start in (0, 5, 10))


def same_id(a: str, b: str) -> bool:
    """Two Salesforce ids name the same record whatever their length."""
    return a[:15] == b[:15] and len(a) >= 15 and len(b) >= 15


def parse(body: bytes) -> OutboundMessage:
    """Read an Outbound Message; raises MalformedMessage naming the first problem."""
    if _LONG_MARKUP.search(body):
        raise MalformedMessage(f"refused: a tag, comment or CDATA section longer than {MAX_MARKUP} bytes; "
                               "Salesforce writes none")
    parser = SafeXML.DefusedXMLParser(target=_BoundedTree(), forbid_dtd=True, forbid_entities=True,
                                      forbid_external=True)
    try:
        parser.feed(body)
        root = parser.close()
    except DefusedXmlException:
        raise MalformedMessage("refused: the XML carries a document type declaration or entities; SOAP 1.1 "
                               "messages must not, and SalesOS never expands or fetches them") from None
    except ParseError as exc:
        raise MalformedMessage(f"not well-formed XML: {exc}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise MalformedMessage("not a SOAP 1.1 envelope")
    notifications = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise MalformedMessage(f"the SOAP body holds no notifications element of {OUTBOUND}")
    organization_id = _text(notifications, "OrganizationId")
    if not organization_id:
        raise MalformedMessage("OrganizationId is missing")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise MalformedMessage("the message holds no Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise MalformedMessage(f"{len(items)} Notification elements; Salesforce sends at most {MAX_NOTIFICATIONS}")
    return OutboundMessage(organization_id, _text(notifications, "ActionId"),
                           [_notification(item, n) for n, item in enumerate(items, 1)])


class _BoundedTree(TreeBuilder):
    """Builds the tree, refusing (as the parser reads them) elements past MAX_DEPTH or MAX_ELEMENTS."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = self._elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_DEPTH:
            raise MalformedMessage(f"refused: elements nested deeper than {MAX_DEPTH} levels; an Outbound Message's "
                                   "fields are 6 levels down")
        if self._elements > MAX_ELEMENTS:
            raise MalformedMessage(f"refused: more than {MAX_ELEMENTS} elements; {MAX_NOTIFICATIONS} notifications "
                                   "of an Outbound Message hold fewer")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return super().end(tag)


def _notification(item: Element, n: int) -> Notification:
    notification_id = _text(item, "Id")
    if not notification_id or not _SALESFORCE_ID.match(notification_id):
        raise MalformedMessage(f"Notification {n}: Id must be a 15 or 18 character Salesforce id")
    sobject = item.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise MalformedMessage(f"Notification {n}: no sObject")
    kind = (sobject.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
    if not _SOBJECT.match(kind):
        raise MalformedMessage(f"Notification {n}: the sObject's xsi:type must name an object, like sf:Contact")
    fields = {child.tag.rpartition("}")[2]: _value(child) for child in sobject}
    object_id = fields.get("Id")
    if not object_id or not _SALESFORCE_ID.match(object_id):
        raise MalformedMessage(f"Notification {n}: the sObject's Id must be a 15 or 18 character Salesforce id")
    return Notification(long_id(notification_id), kind, long_id(object_id), fields)


def _text(parent: Element, name: str) -> str | None:
    found = parent.find(f"{{{OUTBOUND}}}{name}")
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _value(element: Element) -> str | None:
    if element.get(f"{{{XSI}}}nil") == "true":
        return None
    return element.text
