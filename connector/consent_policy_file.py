"""Reading the country consent policy: the bundled table, or the admin's file (SALESOS_CONSENT_POLICY)."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import ValidationError

from agents.consent_policy import ConsentPolicy
from connector.bounded_yaml import DocumentRefused, load_bounded

BUNDLED = Path(__file__).resolve().parent.parent / "agents" / "consent_policy.yaml"


class PolicyFileError(ValueError):
    """The policy file cannot be used; the message names the file, the field and the rule."""


def load_consent_policy(path: Path | None = None) -> ConsentPolicy:
    return _load(Path(path or BUNDLED).expanduser().resolve())


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> ConsentPolicy:
    try:
        document = load_bounded(path.read_text(encoding="utf-8"))
        return ConsentPolicy.model_validate(document)
    except OSError as exc:
        raise PolicyFileError(f"consent policy {path}: cannot be read ({exc.strerror})") from None
    except DocumentRefused as exc:
        raise PolicyFileError(f"consent policy {path}: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(document)"
        raise PolicyFileError(f"consent policy {path}: {where}: {error['msg']}") from None
