"""Request bodies over the app's MAX_CONTENT_LENGTH are refused (413) however they are sent.

werkzeug refuses a Content-Length over the limit before reading anything, but
a chunked body (no Content-Length; the server ends the stream at the body's
end) it reads only up to the limit and hands over as if that were all of it:
a market whose invalid tail fell past the cut was accepted. `BoundedRequest`
reads such a body through a stream that raises 413 at its first byte past
the limit instead, so no view, form parser or get_data ever sees a cut body.
"""

from __future__ import annotations

from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream


class BoundedRequest(Request):
    """Flask's request, with `stream` refusing a chunked body over the limit (set as the app's request_class)."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is not None and self.content_length is None and self.environ.get("wsgi.input_terminated"):
            return _Refusing(self.environ["wsgi.input"], limit)
        return get_input_stream(self.environ, max_content_length=limit)  # what werkzeug does for everything else


class _Refusing(LimitedStream):
    """Reads up to `limit` bytes, and raises 413 on one more (a LimitedStream with is_max stops there silently)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit + 1, is_max=True)
        self._refuse_after = limit

    def readinto(self, buffer: bytearray) -> int | None:  # type: ignore[override]
        size = super().readinto(buffer)
        if self.tell() > self._refuse_after:
            raise RequestEntityTooLarge()
        return size
