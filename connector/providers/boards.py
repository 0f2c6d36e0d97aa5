"""Finding a company's public job board (Greenhouse or Lever), where its hiring signals are read.

A board is configured on the company (`job_board: greenhouse:acme`), or found
on its website: the home page, `/careers` and `/jobs`, and a careers link the
home page has, are fetched through the safe fetcher and searched for links to
a board (`boards.greenhouse.io/acme`, an embedded `.../embed/job_board?for=acme`,
`jobs.lever.co/acme`, ...). The board's token comes from a web page, so it is
checked against a strict character set before anything puts it into an API
path: no `/`, no `..`, no `%`, nothing that could point the API call elsewhere.

A website that cannot be fetched is not an error: the search answers no board
and says why, and the company is scored without hiring signals from a board.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

from agents.models import CompanyRecord
from agents.validation import quote
from connector.providers.safe_fetch import FetchRefused, SafeFetcher

Provider = Literal["greenhouse", "lever"]
TOKEN_RULE = "a board token is 1 to 100 letters, digits, '_', '-' or '.', starting with a letter or digit"
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
CAREERS_PATHS = ("/careers", "/jobs")
MAX_PAGES = 4  # the home page, /careers, /jobs and one careers link from the home page
_HOST_GONE = frozenset({"dns", "address", "network", "time"})  # the site itself cannot be fetched: stop asking it

# A board URL in a page: after `//`, one of the boards' hosts, then the end of the host.
_BOARD_URL = re.compile(
    r"//(boards\.greenhouse\.io|job-boards\.greenhouse\.io|boards-api\.greenhouse\.io"
    r"|jobs\.lever\.co|jobs\.eu\.lever\.co|api\.lever\.co|api\.eu\.lever\.co)(?::\d+)?"
    r"(?=[/?#\s\"'<>\\]|$)([^\s\"'<>\\]*)", re.IGNORECASE)
_GREENHOUSE_EMBEDS = frozenset({"embed", "v1"})  # first path segments that are not a board token
_CAREERS_WORDS = re.compile(r"\b(careers?|jobs|join us|join our team|work with us|we're hiring|open positions)\b",
                            re.IGNORECASE)
_CAREERS_PATH = re.compile(r"/(careers?|jobs|join-us|work-with-us|open-positions)(/|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Board:
    """A public job board: its provider and token, checked so it is safe in an API path."""

    provider: Provider
    token: str
    eu: bool = False  # a Lever site hosted in the EU (jobs.eu.lever.co): its API is api.eu.lever.co

    def __post_init__(self) -> None:
        if self.provider not in ("greenhouse", "lever"):
            raise ValueError(f"job board provider {quote(self.provider)} must be greenhouse or lever")
        if not isinstance(self.token, str) or not _TOKEN.fullmatch(self.token):
            raise ValueError(f"job board token {quote(self.token)}: {TOKEN_RULE}")

    @property
    def ref(self) -> str:
        """As `CompanyRecord.job_board` writes it."""
        return f"{self.provider}:{self.token}"

    @classmethod
    def parse(cls, ref: str) -> Board:
        """`greenhouse:<token>` or `lever:<site>`; ValueError naming the rule otherwise."""
        provider, _, token = str(ref).partition(":")
        if provider not in ("greenhouse", "lever"):
            raise ValueError(f"job board {quote(ref)} must be greenhouse:<token> or lever:<site>")
        return cls(provider, token)  # type: ignore[arg-type]  # checked just above


@dataclass(frozen=True)
class BoardSearch:
    """The board found (None: none), and where it was found or why none was."""

    board: Board | None
    reason: str


def find_board(company: CompanyRecord, fetcher: SafeFetcher, *, website: str | None = None) -> BoardSearch:
    """The company's configured board, else one linked from its website (`website`, when a provider gave its URL,
    else https://<domain>/). Never raises for a website that cannot be fetched: the reason says what happened."""
    if company.job_board:  # the record's own pattern is the token rule: it parses
        return BoardSearch(Board.parse(company.job_board), "configured")
    home = website or f"https://{company.domain}/"
    queue = [home, *(urljoin(home, path) for path in CAREERS_PATHS)]
    tried: list[str] = []
    problems: list[str] = []
    while queue and len(tried) < MAX_PAGES:
        url = queue.pop(0)
        if url in tried:
            continue
        tried.append(url)
        try:
            page = fetcher.fetch(url)
        except FetchRefused as refused:
            problems.append(str(refused))
            if refused.rule in _HOST_GONE and url == home:
                break  # every other page is on the same site
            continue
        found = boards_linked(page.text, page.url)
        if found:
            return BoardSearch(found[0], f"linked from {page.url}")
        if url == home:
            queue[0:0] = [link for link in careers_links(page.text, page.url) if link not in queue][:1]
    looked = ", ".join(tried)
    if problems:
        return BoardSearch(None, f"no job board found on {looked}; {'; '.join(problems)}")
    return BoardSearch(None, f"no Greenhouse or Lever board linked from {looked}")


def boards_linked(page: str, page_url: str = "") -> list[Board]:
    """The boards a page links to (or is: a careers page that redirected to its board), most linked first.

    Links whose token breaks the token rule are ignored, not repaired."""
    text = html.unescape(page).replace("\\/", "/")  # entities in attributes, JSON-escaped URLs in scripts
    counts: Counter[Board] = Counter()
    for match in _BOARD_URL.finditer(f"{page_url} {text}"):
        board = _board(match.group(1).lower(), match.group(2))
        if board is not None:
            counts[board] += 1
    return [board for board, _ in counts.most_common()]  # ties keep the order first seen


def careers_links(page: str, page_url: str) -> list[str]:
    """Links on the page's own site that look like its careers page (`/about/careers`, "Join us")."""
    parser = _Anchors()
    parser.feed(page)
    parser.close()
    host = urlsplit(page_url).hostname
    links = []
    for href, words in parser.anchors:
        url = urljoin(page_url, href.strip()).split("#")[0]
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname == host and url != page_url \
                and (_CAREERS_PATH.search(parts.path) or _CAREERS_WORDS.search(words)):
            links.append(url)
    return list(dict.fromkeys(links))


def _board(host: str, rest: str) -> Board | None:
    parts = urlsplit(f"//{host}{rest}")
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if host.endswith("greenhouse.io"):
        if host == "boards-api.greenhouse.io":
            token = segments[2] if segments[:2] == ["v1", "boards"] and len(segments) > 2 else None
        elif segments[:1] == ["embed"]:  # an embedded board or application form: ?for=<token>
            token = (parse_qs(parts.query).get("for") or [None])[0]
        else:
            token = segments[0] if segments and segments[0].lower() not in _GREENHOUSE_EMBEDS else None
        provider: Provider = "greenhouse"
    else:
        if host.startswith("api."):
            token = segments[2] if segments[:2] == ["v0", "postings"] and len(segments) > 2 else None
        else:
            token = segments[0] if segments else None
        provider = "lever"
    if token is None or not _TOKEN.fullmatch(token):
        return None
    return Board(provider, token, eu=".eu." in host)


class _Anchors(HTMLParser):
    """Each <a href>'s target and its words."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[str, str]] = []
        self._open: list[str] | None = None
        self._href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._open = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            if self._href:
                self.anchors.append((self._href, " ".join(self._open)))
            self._open = None
