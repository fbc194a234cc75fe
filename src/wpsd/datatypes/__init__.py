"""Declarations and runtime values of process inputs and outputs."""

from .inputs import BoundingBoxInput as BoundingBoxInput
from .inputs import ComplexInput as ComplexInput
from .inputs import Input as Input
from .inputs import LiteralInput as LiteralInput
from .literals import AllowedValues as AllowedValues
from .literals import Range as Range
from .literals import RangeClosure as RangeClosure
from .outputs import BoundingBoxOutput as BoundingBoxOutput
from .outputs import ComplexOutput as ComplexOutput
from .outputs import LiteralOutput as LiteralOutput
from .outputs import Output as Output
from .values import BoundingBox as BoundingBox
from .values import ComplexValue as ComplexValue
