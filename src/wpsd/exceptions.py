"""Exceptions that carry an OWS exception code, an HTTP status and a locator.

They hold data only; the web layer renders them (as an ``ows:ExceptionReport``).
The tree is flat::

    WPSError                     base: code, status, locator, text
    ├── MissingParameterValue    400  a mandatory parameter is absent
    ├── InvalidParameterValue    400  a parameter has a value we cannot use
    ├── OperationNotSupported    501  unknown ``request``
    ├── OptionNotSupported       501  a valid option this server does not offer
    ├── VersionNegotiationFailed 400  no common version
    ├── InvalidUpdateSequence    400  updateSequence newer than ours
    ├── NoApplicableCode         500  anything else that is our fault
    │   ├── NotAuthenticated     401  no credentials the server accepts (WWW-Authenticate)
    │   └── Forbidden            403  refused: cross-site, or no process for this caller
    ├── FileSizeExceeded         400  a complex input is over its size limit
    ├── NotEnoughStorage         507  no room for the inputs or outputs
    ├── StorageNotSupported      400  storeExecuteResponse asked where it is not offered
    └── ServerBusy               503  too many executions at once

``InvalidParameterValue`` has finer kinds (NoSuchProcess, NoSuchInput, WrongInputData, ...):
WPS 1.0.0 reports them all as InvalidParameterValue (``code``), WPS 2.0 by their own names
(``code2``), and OGC API - Processes maps them to its exception types. Their ``locator`` is
what WPS 2.0 asks for, the violating value (an input id, a mode, a job id); where WPS 1.0.0
names the parameter instead, the class says so in ``wps1_locator``.

Codes and statuses follow OGC 05-007r7 (tables 38 and 62), OGC 14-065 (table 41) and OWS
Common (06-121r9 table 28), which is where the HTTP statuses come from.
"""

from __future__ import annotations


class WPSError(Exception):
    """Base class of every error that is reported to the client as an OWS exception."""

    code: str = "NoApplicableCode"
    status: int = 500
    #: more about the same error, after ``text`` (each a further ows:ExceptionText), such as
    #: the last lines a failed job logged
    details: tuple[str, ...] = ()

    @property
    def locator1(self) -> str | None:
        """The locator in WPS 1.0.0 (OWS 1.1), where it differs from WPS 2.0's."""
        return getattr(type(self), "wps1_locator", None) or self.locator

    @property
    def code2(self) -> str:
        """The exception code in WPS 2.0 (OGC 14-065), where it differs from WPS 1.0.0."""
        return str(getattr(type(self), "wps2_code", self.code))

    def __init__(
        self, text: str = "", locator: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(text)
        self.text = text
        self.locator = locator
        if status is not None:
            # Some codes (NoApplicableCode above all) cover both client and server faults.
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r}, locator={self.locator!r})"

    @staticmethod
    def from_code(code: str, text: str, locator: str | None = None) -> WPSError:
        """Rebuild an error from its (WPS 2.0 or 1.0.0) code, e.g. read back from the job store."""
        classes = _all_subclasses(WPSError)
        for cls in classes:
            if cls.__dict__.get("wps2_code") == code:
                return cls(text, locator)
        for cls in classes:
            if cls.code == code and "wps2_code" not in cls.__dict__:
                return cls(text, locator)
        error = WPSError(text, locator)
        error.code = code
        return error


def _all_subclasses(cls: type[WPSError]) -> list[type[WPSError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


class MissingParameterValue(WPSError):
    code = "MissingParameterValue"
    status = 400


class InvalidParameterValue(WPSError):
    code = "InvalidParameterValue"
    status = 400


class OperationNotSupported(WPSError):
    code = "OperationNotSupported"
    status = 501


class OptionNotSupported(WPSError):
    code = "OptionNotSupported"
    status = 501


class VersionNegotiationFailed(WPSError):
    code = "VersionNegotiationFailed"
    status = 400


class InvalidUpdateSequence(WPSError):
    code = "InvalidUpdateSequence"
    status = 400


class NoApplicableCode(WPSError):
    code = "NoApplicableCode"
    status = 500


class NotAuthenticated(NoApplicableCode):
    """The request carries no credentials, or wrong ones (``invalid``: the client should
    not send them again); the web layer adds the ``WWW-Authenticate`` challenge."""

    status = 401

    def __init__(self, text: str = "", invalid: bool = False) -> None:
        super().__init__(text)
        self.invalid = invalid


class Forbidden(NoApplicableCode):
    status = 403


class FileSizeExceeded(WPSError):
    code = "FileSizeExceeded"
    wps2_code = "SizeExceeded"
    status = 400


class NotEnoughStorage(WPSError):
    code = "NotEnoughStorage"
    status = 507


class StorageNotSupported(WPSError):
    code = "StorageNotSupported"
    status = 400


class ServerBusy(WPSError):
    code = "ServerBusy"
    status = 503


class NoSuchProcess(InvalidParameterValue):
    """``locator`` is the unknown identifier (WPS 2.0); WPS 1.0.0 names the parameter."""

    wps2_code = "NoSuchProcess"
    wps1_locator = "Identifier"


class NoSuchInput(InvalidParameterValue):
    wps2_code = "NoSuchInput"


class NoSuchOutput(InvalidParameterValue):
    wps2_code = "NoSuchOutput"


class TooManyOutputs(InvalidParameterValue):
    wps2_code = "TooManyOutputs"


class NoSuchFormat(InvalidParameterValue):
    wps2_code = "NoSuchFormat"


class NoSuchMode(InvalidParameterValue):
    wps2_code = "NoSuchMode"


class WrongInputData(InvalidParameterValue):
    wps2_code = "WrongInputData"


class TooManyInputs(InvalidParameterValue):
    wps2_code = "TooManyInputs"


class DataNotAccessible(InvalidParameterValue):
    wps2_code = "DataNotAccessible"


class NoSuchJob(InvalidParameterValue):
    wps2_code = "NoSuchJob"


class ResultNotReady(InvalidParameterValue):
    wps2_code = "ResultNotReady"
