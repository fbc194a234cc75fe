import datetime as dt
from decimal import Decimal

import pytest

from wpsd import AllowedValues, Range, RangeClosure
from wpsd.datatypes.literals import LiteralDomain, literal_type
from wpsd.exceptions import InvalidParameterValue


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("string", " a b ", " a b "),
        ("integer", " -12 ", -12),
        ("positiveInteger", "3", 3),
        ("double", "1.5e3", 1500.0),
        ("float", "-0.25", -0.25),
        ("decimal", "1.10", Decimal("1.10")),
        ("boolean", "TRUE", True),
        ("boolean", "0", False),
        ("date", "2026-11-26", dt.date(2026, 11, 26)),
        ("dateTime", "2026-11-26T10:00:00Z", dt.datetime(2026, 11, 26, 10, tzinfo=dt.UTC)),
        ("time", "10:30:00", dt.time(10, 30)),
        ("anyURI", "http://example.org/a?b=c", "http://example.org/a?b=c"),
        ("xs:int", "7", 7),
        ("http://www.w3.org/TR/xmlschema-2/#double", "2", 2.0),
    ],
)
def test_parse(name, text, value):
    assert literal_type(name).parse(text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("integer", "1.5"),
        ("integer", "1_000"),
        ("integer", "٣"),
        ("positiveInteger", "0"),
        ("byte", "128"),
        ("boolean", "yes"),
        ("double", "one"),
        ("decimal", "NaN"),
        ("date", "2026-13-01"),
        ("anyURI", "http://a b"),
    ],
)
def test_parse_rejects(name, text):
    with pytest.raises(ValueError):
        literal_type(name).parse(text)


def test_unknown_type():
    with pytest.raises(ValueError, match="unknown literal data type"):
        literal_type("complex")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "true"), (1.0, "1.0"), (float("inf"), "INF"), (float("nan"), "NaN")],
)
def test_format(value, expected):
    name = "boolean" if isinstance(value, bool) else "double"
    assert literal_type(name).format(value) == expected


def test_ranges_and_spacing():
    closed_open = Range(0, 10, spacing=2, closure=RangeClosure.CLOSED_OPEN)
    assert [v for v in range(-1, 12) if closed_open.contains(v)] == [0, 2, 4, 6, 8]
    open_range = Range(0, 1, closure=RangeClosure.OPEN)
    assert not open_range.contains(0) and open_range.contains(0.5) and not open_range.contains(1)
    assert Range(minimum=5).contains(1e9)


def test_domain_convert_reports_locator():
    domain = LiteralDomain(literal_type("integer"), AllowedValues(values=(1, 2)))
    assert domain.convert("2", "x") == 2
    with pytest.raises(InvalidParameterValue) as bad_type:
        domain.convert("two", "x")
    assert bad_type.value.locator == "x"
    with pytest.raises(InvalidParameterValue, match="allowed"):
        domain.convert("3", "x")
