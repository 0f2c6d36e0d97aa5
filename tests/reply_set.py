"""The labelled replies (tests/fixtures/replies/*.yaml) as RFC 5322 messages, for the tests and bench/replies.py.

Each item gives the headers that differ from a typical reply to a SalesOS email, its body, its label and,
where the label implies one, the return date, referral, bounced recipient or recontact date expected.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agents.replies import ReplyKind

SET_DIR = Path(__file__).resolve().parent / "fixtures" / "replies"
SPLITS = ("dev", "test")
DEFAULT_RECEIVED_AT = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone.utc)  # a Monday
DEFAULT_HEADERS = {
    "From": "Alex Prospect <alex@prospect.example>",
    "To": "Sam Seller <sam@salesos.example>",
    "Subject": "Re: Pipeline for your SDR team",
    "Date": "Mon, 05 Jan 2026 09:30:00 +0000",
    "Message-ID": "<reply-{id}@prospect.example>",
    "In-Reply-To": "<step-1.{id}@salesos.example>",
    "References": "<step-1.{id}@salesos.example>",
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=utf-8",
}


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_date: dt.date | None = None
    recontact_after: dt.date | None = None
    referral_email: str | None = None
    referral_name: str | None = None
    bounced_recipient: str | None = None
    status: str | None = None


class LabelledReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    label: ReplyKind
    received_at: dt.datetime = DEFAULT_RECEIVED_AT
    headers: dict[str, str] = Field(default_factory=dict)
    drop_headers: list[str] = Field(default_factory=list)  # defaults this message does not carry
    body: str
    expect: Expected = Field(default_factory=Expected)

    def raw(self) -> bytes:
        headers = {name: value.format(id=self.id) for name, value in DEFAULT_HEADERS.items()
                   if name not in self.drop_headers}
        headers.update(self.headers)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return (head + "\r\n" + self.body.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


@functools.cache
def load(split: str) -> tuple[LabelledReply, ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: a fifth of the time
    items = yaml.load((SET_DIR / f"{split}.yaml").read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    return tuple(LabelledReply.model_validate(item) for item in items)
