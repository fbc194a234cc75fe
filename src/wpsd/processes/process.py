"""Process: the identity, metadata, inputs and outputs of a function published as a WPS process.

A Process holds no execution code; the service validates the inputs it declares, calls the
handler and encodes what it returns.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from ..datatypes.inputs import Input
from ..datatypes.outputs import Output

Handler = Callable[..., Mapping[str, Any]]


@dataclass(frozen=True)
class Process:
    """A plain Python function published as a process.

    The handler is called with one keyword argument per input (a list where
    ``max_occurs > 1``; the default or ``None`` where an optional input was left
    out) and, if it has a parameter named ``context``, the
    :class:`~wpsd.ExecutionContext`. It returns a dict of output identifier to value.
    """

    handler: Handler
    identifier: str
    title: str
    _: KW_ONLY
    abstract: str = ""
    keywords: Sequence[str] = ()
    #: (title, href) pairs rendered as ows:Metadata links
    metadata: Sequence[tuple[str, str]] = ()
    version: str = "1.0.0"
    inputs: Sequence[Input] = ()
    outputs: Sequence[Output] = ()
    #: whether clients may run it as an asynchronous job (stored response, status updates)
    asynchronous: bool = True
    #: seconds a job of this process may run; None means the server's job_time_limit
    time_limit: float | None = None
    #: whether running a job again from the start is harmless: a job whose Dask worker died
    #: is then retried on another worker instead of failed
    idempotent: bool = False
    #: the roles a caller needs (any one of them) to see and run the process; none: everyone
    #: (the ``process_roles`` setting replaces these)
    roles: Sequence[str] = ()
    _inputs: dict[str, Input] = field(init=False, repr=False, compare=False)
    _outputs: dict[str, Output] = field(init=False, repr=False, compare=False)
    wants_context: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.identifier or not self.title:
            raise ValueError("a process needs an identifier and a title")
        if not self.outputs:
            raise ValueError(f"process {self.identifier!r} declares no outputs")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if isinstance(self.roles, str):
            raise TypeError(f"process {self.identifier!r}: roles is a list of role names")
        object.__setattr__(self, "roles", tuple(self.roles))
        object.__setattr__(self, "_inputs", _by_identifier(self.inputs, "input"))
        object.__setattr__(self, "_outputs", _by_identifier(self.outputs, "output"))
        parameters = inspect.signature(self.handler).parameters
        object.__setattr__(self, "wants_context", "context" in parameters)

    def input(self, identifier: str) -> Input | None:
        return self._inputs.get(identifier)

    def output(self, identifier: str) -> Output | None:
        return self._outputs.get(identifier)


def _by_identifier(items: Sequence[Input] | Sequence[Output], kind: str) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for item in items:
        if item.identifier in table:
            raise ValueError(f"duplicate {kind} identifier {item.identifier!r}")
        table[item.identifier] = item
    return table


def process(
    identifier: str,
    title: str,
    *,
    inputs: Sequence[Input] = (),
    outputs: Sequence[Output] = (),
    abstract: str = "",
    keywords: Sequence[str] = (),
    metadata: Sequence[tuple[str, str]] = (),
    version: str = "1.0.0",
    asynchronous: bool = True,
    time_limit: float | None = None,
    idempotent: bool = False,
    roles: Sequence[str] = (),
) -> Callable[[Handler], Process]:
    """Decorator form of :class:`Process`: ``@process("say_hello", "Say Hello", inputs=...)``."""

    def wrap(handler: Handler) -> Process:
        return Process(
            handler, identifier, title, abstract=abstract or (inspect.getdoc(handler) or ""),
            keywords=keywords, metadata=metadata, version=version, inputs=inputs, outputs=outputs,
            asynchronous=asynchronous, time_limit=time_limit, idempotent=idempotent,
            roles=roles,
        )

    return wrap
