"""ward's error codes (docs/protocol.md section 9) and the exceptions of
the Python package.

Every exception the package raises is a ward.Error, which carries a code, a
message and optional data: exactly what an ERROR frame holds. A handler
that raises one fails its call with those; a call to the host that ends in
an ERROR raises a RemoteError with the host's code, message and data.

Each of ward's codes has its class (from_code picks it), all under Error:

    Error
     +-- InvalidArgument (EINVAL)     +-- Crashed (ECRASHED)
     |    +-- NoHost                   +-- ProtocolError (EPROTO)
     +-- OutOfMemory (ENOMEM)          |    +-- PayloadError
     +-- SystemFailure (ESYS)          +-- TooBig (ETOOBIG)
     +-- SpawnError (ESPAWN)           +-- RemoteError (EREMOTE, or the peer's code)
     +-- HandshakeError (EHANDSHAKE)   |    +-- NoMethod (ENOMETHOD)
     +-- Timeout (ETIMEDOUT)           +-- Closed (ECLOSED)
     +-- Cancelled (ECANCELED)         +-- GaveUp (EGAVEUP)
                                       +-- Stale (ESTALE)
                                       +-- PermissionDenied (EPERM)
"""

__all__ = [
    "EINVAL", "ENOMEM", "ESYS", "ESPAWN", "EHANDSHAKE", "ETIMEDOUT", "ECANCELED",
    "ECRASHED", "EPROTO", "ETOOBIG", "ENOMETHOD", "EREMOTE", "ECLOSED", "EGAVEUP",
    "ESTALE", "EPERM", "error_name", "Error", "RemoteError", "NoMethod", "Cancelled",
    "Timeout", "Closed", "ProtocolError", "TooBig", "HandshakeError", "NoHost",
    "PayloadError", "InvalidArgument", "OutOfMemory", "SystemFailure", "SpawnError",
    "Crashed", "GaveUp", "Stale", "PermissionDenied", "from_code",
]

# ward's own codes, -1..-99 (section 9); handlers use any other value.
EINVAL = -1       # invalid argument (also: a failed handler)
ENOMEM = -2       # out of memory
ESYS = -3         # system call failed
ESPAWN = -4       # worker could not be started
EHANDSHAKE = -5   # worker did not complete the handshake
ETIMEDOUT = -6    # deadline passed
ECANCELED = -7    # call cancelled
ECRASHED = -8     # worker died while the call was in flight
EPROTO = -9       # peer broke the protocol
ETOOBIG = -10     # message over the size limit
ENOMETHOD = -11   # no such method
EREMOTE = -12     # the handler failed
ECLOSED = -13     # worker stopped or connection closed
EGAVEUP = -14     # restart limit reached, worker failed
ESTALE = -15      # session belongs to an earlier generation
EPERM = -16       # permission denied

_NAMES = {v: k for k, v in globals().items() if k.startswith("E") and isinstance(v, int)}


def error_name(code):
    """The name of one of ward's codes ("ENOMETHOD"), or None for others."""
    return _NAMES.get(code)


class Error(Exception):
    """A ward error: `code` (an int), `message` (str) and `data` (any
    value, or None).

    Raised from a handler, it fails the call with these: the caller gets an
    ERROR frame with the code, the message and the data encoded like the
    reply would have been. Use your own codes (positive, or below -99) for
    your program's errors; -1..-99 are ward's (section 9)."""

    code = EINVAL

    def __init__(self, code=None, message="", data=None):
        if code is not None:
            self.code = code
        self.message = message
        self.data = data
        super().__init__(code, message, data)

    def __str__(self):
        name = error_name(self.code)
        return "%s (%s)" % (self.message, name or self.code) if self.message else str(
            name or self.code)

    def __repr__(self):
        return "%s(code=%r, message=%r, data=%r)" % (type(self).__name__, self.code,
                                                     self.message, self.data)


class _Fixed(Error):
    """An error whose code is its class's."""

    def __init__(self, message="", data=None):
        super().__init__(None, message, data)


class RemoteError(Error):
    """The peer answered a call with an ERROR frame. `data` is the error
    data decoded by its encoding (bytes when raw or not decodable),
    `encoding` that encoding."""

    def __init__(self, code, message="", data=None, encoding=0):
        super().__init__(code, message, data)
        self.encoding = encoding


class NoMethod(RemoteError):
    """The peer does not serve the method called (ERROR -11)."""


class Cancelled(_Fixed):
    """The caller cancelled the call (7.5). Raised by a handler's
    ctx.row() and ctx.progress() once it has; a handler that lets it
    through ends the call with ERROR -7."""
    code = ECANCELED


class Timeout(_Fixed):
    """A call to the host passed its deadline (the host was sent a CANCEL)."""
    code = ETIMEDOUT


class Closed(_Fixed):
    """The connection to the host is closed or was lost, or the host said
    goodbye."""
    code = ECLOSED


class ProtocolError(_Fixed):
    """The host broke the protocol (section 10), or cut us off."""
    code = EPROTO


class TooBig(_Fixed):
    """A payload over the peer's limit (max_frame): nothing was sent."""
    code = ETOOBIG


class HandshakeError(_Fixed):
    """The host refused the handshake, or did not answer it in time."""
    code = EHANDSHAKE


class InvalidArgument(_Fixed):
    """A call was given what it cannot take (WARD_EINVAL)."""
    code = EINVAL


class NoHost(InvalidArgument):
    """The environment names no channel (WARD_FD, or WARD_SOCKET and
    WARD_TOKEN): the program was not started by a ward host."""


class OutOfMemory(_Fixed):
    """Out of memory (WARD_ENOMEM)."""
    code = ENOMEM


class SystemFailure(_Fixed):
    """A system call failed (WARD_ESYS); the message says which."""
    code = ESYS


class SpawnError(_Fixed):
    """The worker's process could not be started (WARD_ESPAWN)."""
    code = ESPAWN


class Crashed(_Fixed):
    """The worker died while the call was in flight, or has exited for good
    (WARD_ECRASHED)."""
    code = ECRASHED


class GaveUp(_Fixed):
    """The worker reached its restart limit and failed (WARD_EGAVEUP)."""
    code = EGAVEUP


class Stale(_Fixed):
    """The call was pinned to a generation that is not the ready one
    (WARD_ESTALE)."""
    code = ESTALE


class PermissionDenied(_Fixed):
    """Permission denied (WARD_EPERM)."""
    code = EPERM


class PayloadError(ProtocolError):
    """A request's payload could not be decoded by its encoding (not valid
    JSON, say): the caller gets ERROR -9 without the handler running."""
    code = EPROTO


_BY_CODE = {
    EINVAL: InvalidArgument, ENOMEM: OutOfMemory, ESYS: SystemFailure, ESPAWN: SpawnError,
    EHANDSHAKE: HandshakeError, ETIMEDOUT: Timeout, ECANCELED: Cancelled, ECRASHED: Crashed,
    EPROTO: ProtocolError, ETOOBIG: TooBig, ECLOSED: Closed, EGAVEUP: GaveUp, ESTALE: Stale,
    EPERM: PermissionDenied,
}


def from_code(code, message="", data=None):
    """The exception for one of ward's codes (a ward.Timeout for -6, ...),
    with `message`; a RemoteError for EREMOTE and for codes that are not
    ward's, a NoMethod for ENOMETHOD."""
    if code == ENOMETHOD:
        return NoMethod(code, message, data)
    kind = _BY_CODE.get(code)
    if kind is None:
        return RemoteError(code, message, data)
    return kind(message, data)
