"""Which gRPC status, and which reply text, an error becomes: decided here and nowhere else.

Like Go's database plugins (sdk/database/dbplugin/v5/grpc_server.go), a config or request that
is refused is InvalidArgument and a failure while working is Internal. A request refused before
any work is answered with its bare message, as Go's plugins do; other errors get the
operation's prefix ("unable to create new user: ..."). An unexpected exception may quote
anything, secrets included, so only its type leaves the process; the log gets where it happened.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Final, NoReturn

import grpc

from yamldb.errors import ConfigError, NotFoundError, RequestError, YamldbError

__all__ = ["STATUS_CODES", "abort", "status_code"]

log = logging.getLogger("yamldb.transport")

# The first class an error is an instance of decides; most specific first.
STATUS_CODES: Final[tuple[tuple[type[BaseException], grpc.StatusCode], ...]] = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (RequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (YamldbError, grpc.StatusCode.INTERNAL),
    (BaseException, grpc.StatusCode.INTERNAL),
)


def status_code(exc: BaseException) -> grpc.StatusCode:
    return next(code for cls, code in STATUS_CODES if isinstance(exc, cls))


def abort(context: grpc.ServicerContext, exc: BaseException, prefix: str) -> NoReturn:
    """End the call with the status and message `exc` maps to (grpc raises out of here)."""
    if isinstance(exc, RequestError):
        message = str(exc)
    elif isinstance(exc, YamldbError):
        message = f"{prefix}: {exc}"
        log.error(message)
    else:
        message = f"{prefix}: internal error ({type(exc).__name__}); see the plugin log"
        # Where it happened, not what it said: frame locations carry no values, so no secrets.
        frames = traceback.extract_tb(exc.__traceback__)[-4:]
        where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
        log.error(f"{prefix}: unexpected {type(exc).__name__}", extra={"fields": {"at": where}})
    context.abort(status_code(exc), message)
    raise AssertionError("grpc's abort returned")  # it always raises; this keeps NoReturn honest
