"""How well the reply classifier does on the labelled replies: precision, recall and F1 per class, confusions.

The held-out split (tests/fixtures/replies/test.yaml) was written after the rules and never tuned on; the
dev split is what the rules were written against, so its figures are an upper bound. Besides the class, the
facts an action needs are checked where the label implies them: the return date of an out-of-office note,
the recontact date of a timing objection, the referred person's address and name, a bounce's recipient and
status. Also the time per message.

    .venv/bin/python bench/replies.py [--split test|dev|both]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import get_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.replies import ReplyClassification, ReplyKind, classify  # noqa: E402
from tests.reply_set import LabelledReply, load  # noqa: E402

KINDS: tuple[str, ...] = get_args(ReplyKind)


def fact_misses(item: LabelledReply, got: ReplyClassification) -> list[str]:
    """The expected facts the classification got wrong (only those the item states)."""
    expect, misses = item.expect, []
    for field in ("return_date", "recontact_after", "bounced_recipient", "status"):
        wanted = getattr(expect, field)
        if wanted is not None and getattr(got, field) != wanted:
            misses.append(f"{field} {getattr(got, field)} != {wanted}")
    referral = got.referral
    if expect.referral_email and (referral is None or referral.email != expect.referral_email):
        misses.append(f"referral email {referral.email if referral else None} != {expect.referral_email}")
    if expect.referral_name and (referral is None or referral.name != expect.referral_name):
        misses.append(f"referral name {referral.name if referral else None} != {expect.referral_name}")
    return misses


def measure(split: str) -> dict:
    items = load(split)
    started = time.perf_counter()
    results = [(item, classify(item.raw(), received_at=item.received_at)) for item in items]
    elapsed = time.perf_counter() - started
    confusion = Counter((item.label, got.kind) for item, got in results)
    facts = [(item, fact_misses(item, got)) for item, got in results if item.expect.model_dump(exclude_none=True)]
    return {"items": items, "results": results, "confusion": confusion, "facts": facts,
            "ms_per_message": 1000 * elapsed / len(items)}


def per_class(confusion: Counter) -> list[tuple[str, int, float, float, float]]:
    rows = []
    for kind in KINDS:
        true_positive = confusion[(kind, kind)]
        labelled = sum(count for (label, _), count in confusion.items() if label == kind)
        predicted = sum(count for (_, got), count in confusion.items() if got == kind)
        precision = true_positive / predicted if predicted else float("nan")
        recall = true_positive / labelled if labelled else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if predicted and labelled and true_positive else 0.0
        rows.append((kind, labelled, precision, recall, f1))
    return rows


def report(split: str) -> None:
    measured = measure(split)
    results, confusion = measured["results"], measured["confusion"]
    correct = sum(1 for item, got in results if item.label == got.kind)
    print(f"\n{split} split: {len(results)} messages, {correct} classified right "
          f"({correct / len(results):.1%}), {measured['ms_per_message']:.2f} ms a message")
    print(f"{'class':<15} {'n':>3} {'precision':>9} {'recall':>7} {'F1':>5}")
    for kind, labelled, precision, recall, f1 in per_class(confusion):
        print(f"{kind:<15} {labelled:>3} {precision:>9.2f} {recall:>7.2f} {f1:>5.2f}")
    wrong = sorted((label, got, count) for (label, got), count in confusion.items() if label != got)
    print("confusions (labelled -> classified): " +
          (", ".join(f"{label} -> {got} x{count}" for label, got, count in wrong) or "none"))
    for item, got in results:
        if item.label != got.kind:
            print(f"  {item.id}: {item.label} classified {got.kind} ({'; '.join(got.reasons)})")
    facts = measured["facts"]
    right = sum(1 for _, misses in facts if not misses)
    print(f"facts (return/recontact date, referral, bounce recipient/status): {right}/{len(facts)} right")
    for item, misses in facts:
        if misses:
            print(f"  {item.id}: {'; '.join(misses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "dev", "both"], default="both")
    split = parser.parse_args().split
    print("Reply classifier on the labelled replies (tests/fixtures/replies/, synthetic)")
    for name in (("test", "dev") if split == "both" else (split,)):
        report(name)


if __name__ == "__main__":
    main()
