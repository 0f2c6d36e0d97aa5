"""The words a person wrote in a reply: the body of a MIME message, without quoted history or signature.

A reply quotes what it answers, and the quote is ours: a quoted "unsubscribe" footer or "are you interested?"
says nothing about the reply. So a reply is read from its preferred text part (plain, else HTML turned into
text), and cut at the first sign of quoted history in any of the languages the classifier reads: an
attribution line ("On ... wrote:", "Am ... schrieb ...:"), an "-----Original Message-----" rule, an Outlook
"From:/Sent:" header block, "> " lines, and a signature after "-- ". Every input is bounded: a message is read
up to MAX_RAW_BYTES and its text up to MAX_TEXT_CHARS, so a huge or hostile message costs no more than that.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, Message
from html.parser import HTMLParser

MAX_RAW_BYTES = 512 * 1024  # a reply (or a DSN with its returned headers) is far smaller; attachments are not read
MAX_TEXT_CHARS = 20_000  # of a body's text; a reply's new words come first

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\b.{0,300}\bwrote"  # English (Gmail, Apple Mail, Thunderbird)
    r"|am\b.{0,300}\bschrieb"  # German
    r"|le\b.{0,300}\ba\s+[ée]crit"  # French
    r"|el\b.{0,300}\bescribi[óo]"  # Spanish
    r"|op\b.{0,300}\bschreef"  # Dutch
    r"|em\b.{0,300}\bescreveu"  # Portuguese
    r"|den\b.{0,300}\bskrev"  # Swedish
    r")\b.{0,100}:\s*$",
    re.IGNORECASE,
)
_ORIGINAL_RULE = re.compile(
    r"^\s*-{2,}\s*(?:original message|forwarded message|urspr[üu]ngliche nachricht|message d'origine"
    r"|mensaje original|oorspronkelijk bericht|mensagem original|ursprungligt meddelande"
    r"|weitergeleitete nachricht|message transf[ée]r[ée])\s*-{2,}\s*$"
    r"|^\s*_{20,}\s*$",  # Outlook's rule above its header block
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|von|de|van|fr[åa]n|fra)\s*\*?\s*:", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|gesendet|datum|an|betreff|envoy[ée]|[àa]|objet|enviado|fecha|para|asunto"
    r"|verzonden|aan|onderwerp|data|assunto|skickat|till|[äa]mne)\s*\*?\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent from my \w+|get outlook for \w+|von meinem \w+ gesendet|envoy[ée] de mon \w+"
    r"|enviado desde mi \w+|verzonden vanaf mijn \w+|enviado do meu \w+|skickat fr[åa]n min \w+)",
    re.IGNORECASE,
)


def parse_message(raw: bytes) -> EmailMessage:
    """The message, parsed leniently (a malformed header is kept as text, never raised on)."""
    return email.message_from_bytes(raw[:MAX_RAW_BYTES], policy=email.policy.default)  # type: ignore[return-value]


def part_text(part: Message) -> str:
    """A part's decoded text; an unknown or lying charset gives replacement characters, not an exception.
    8-bit text that names no charset is read as UTF-8 (what mail clients send), not as ASCII."""
    if part.get_content_charset() is None and part.get("Content-Transfer-Encoding", "7bit").lower() in ("7bit", "8bit"):
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload.decode("utf-8", errors="replace")
    try:
        text = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
    return text if isinstance(text, str) else ""


def body_text(message: EmailMessage) -> str:
    """The reply's own words: plain text if the message has it, else its HTML as text, quotes and signature cut."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part_text(part)[: MAX_TEXT_CHARS * 4]
    if part.get_content_subtype() == "html":
        text = html_text(text)
    return new_text(text[:MAX_TEXT_CHARS])


def new_text(text: str) -> str:
    """The lines before the first sign of quoted history or a signature, without "> " lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        two_lines = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
        if _SIGNATURE.match(line) or _ORIGINAL_RULE.match(line):
            break
        if _ATTRIBUTION.match(line) or (line.strip() and _ATTRIBUTION.match(two_lines)):
            break
        if _HEADER_FROM.match(line) and any(_HEADER_OTHER.match(after) for after in lines[index + 1: index + 4]):
            break
        if line.lstrip().startswith(">") or _MOBILE_FOOTER.match(line):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


class _HtmlText(HTMLParser):
    """Text of an HTML reply, up to its quoted history: Gmail's gmail_quote, Outlook's divRplyFwdMsg or
    appendonsend, and any blockquote (which is skipped, as quoted text)."""

    _BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"}
    _QUOTE_MARKERS = ("gmail_quote", "divrplyfwdmsg", "appendonsend", "moz-cite-prefix", "yahoo_quoted")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0  # inside <blockquote>, <style>, <script>, <head>
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        marks = " ".join((value or "") for name, value in attrs if name in ("class", "id")).casefold()
        if any(marker in marks for marker in self._QUOTE_MARKERS):
            self.done = True
            return
        if tag in ("blockquote", "style", "script", "head"):
            self.skip_depth += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("blockquote", "style", "script", "head") and self.skip_depth:
            self.skip_depth -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.done and not self.skip_depth:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Visible text of an HTML body before its quoted history, one line per block."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)
