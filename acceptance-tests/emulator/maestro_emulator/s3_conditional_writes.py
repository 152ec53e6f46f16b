"""S3 decides a conditional PutObject atomically: of many `If-None-Match: *` writes racing for
one key exactly one is stored, and the others get 412 PreconditionFailed (S3 user guide,
"conditional writes"). OpenTofu's `s3` backend takes its state lock that way
(`use_lockfile = true`), so two applies must never both believe they hold the lock.

moto 5.2.5 checks the condition and then writes, as two steps on the server's request threads
(moto/s3/responses.py, S3Response.put_object), so under load two racers can both pass the check
and both be told "stored". Here every PutObject and DeleteObject runs under one lock, which
makes the check and the write one step as S3's are; other S3 calls are untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.s3.responses import S3Response

_object_writes = threading.Lock()


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: S3Response, *args: Any, **kwargs: Any) -> Any:
        with _object_writes:
            return original(self, *args, **kwargs)

    write.__name__ = original.__name__
    return write


def install() -> None:
    S3Response.put_object = _serialised(S3Response.put_object)  # type: ignore[method-assign]
    S3Response.delete_object = _serialised(S3Response.delete_object)  # type: ignore[method-assign]
