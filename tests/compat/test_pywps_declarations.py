"""PyWPS declarations read into wpsd's (wpsd.compat.pywps.declarations) and found by the loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from pywps import FORMATS, BoundingBoxInput, ComplexInput, Format, LiteralInput, LiteralOutput
from pywps import Process as PyWPSProcess
from pywps.inout.literaltypes import AllowedValue, ValuesReference

from wpsd import Process
from wpsd.compat.pywps import from_pywps
from wpsd.compat.pywps.declarations import UNBOUNDED
from wpsd.datatypes import (
    AllowedValues,
    BoundingBoxOutput,
    ComplexOutput,
    Range,
    RangeClosure,
)
from wpsd.datatypes import (
    BoundingBoxInput as WpsdBoundingBoxInput,
)
from wpsd.datatypes import (
    ComplexInput as WpsdComplexInput,
)
from wpsd.datatypes import (
    LiteralInput as WpsdLiteralInput,
)
from wpsd.formats import Format as WpsdFormat
from wpsd.processes.registry import ProcessRegistry, load_processes

MODULE = Path(__file__).with_name("pywps_processes.py")


@pytest.fixture(scope="module")
def processes() -> dict[str, Process]:
    return {p.identifier: p for p in load_processes(str(MODULE))}


def _nothing(request, response):  # type: ignore[no-untyped-def]
    return response


def _process(inputs=(), outputs=None, **kwargs):  # type: ignore[no-untyped-def]
    return PyWPSProcess(_nothing, "p", "P", inputs=list(inputs),
                        outputs=outputs or [LiteralOutput("out", "Out")], **kwargs)


def test_the_loader_finds_pywps_processes_in_a_modules_list(processes):
    assert list(processes) == ["say_hello", "ultimate_question", "literals", "complex_data",
                               "expand_bbox", "files", "sleep", "stateful", "fail", "sync_only",
                               "configured"]
    assert all(isinstance(p, Process) for p in processes.values())
    # The worker finds them again where the web node did: in the module's file.
    assert ProcessRegistry(processes.values()).sources() == [str(MODULE.resolve())]


def test_pywps_and_wpsd_processes_share_a_list(tmp_path):
    module = tmp_path / "mixed.py"
    module.write_text(
        "from pywps import LiteralOutput, Process as PyWPSProcess\n"
        "from wpsd import LiteralOutput as Out, Process\n"
        "def handler(request, response):\n    return response\n"
        "processes = [PyWPSProcess(handler, 'old', 'Old', outputs=[LiteralOutput('o', 'O')]),\n"
        "             Process(lambda: {'o': 1}, 'new', 'New', outputs=[Out('o', 'O')])]\n")
    assert [p.identifier for p in load_processes(str(module))] == ["old", "new"]


def test_without_a_list_the_processes_defined_at_module_level(tmp_path):
    module = tmp_path / "loose.py"
    module.write_text(
        "from pywps import LiteralOutput, Process\n"
        "def handler(request, response):\n    return response\n"
        "old = Process(handler, 'old', 'Old', outputs=[LiteralOutput('o', 'O')])\n")
    assert [p.identifier for p in load_processes(str(module))] == ["old"]
    module.write_text("from pywps import Process\n")  # the class is no process
    with pytest.raises(ValueError, match="defines no wpsd processes"):
        load_processes(str(module))


def test_process_metadata(processes):
    hello = processes["say_hello"]
    assert (hello.title, hello.version, hello.keywords) == (
        "Process Say Hello", "1.3.3", ("hello", "demo"))
    assert hello.abstract.startswith("Returns a literal string")
    # Metadata keep their title and link; the role has no place in wpsd's model.
    assert hello.metadata == (("PyWPS", "https://pywps.org/"),
                              ("Documentation", "https://pywps.readthedocs.io/"))
    assert hello.asynchronous
    # PyWPS's default is synchronous only (store_supported=False), and version 'None'.
    assert not processes["sync_only"].asynchronous
    assert processes["sync_only"].version == "1.0.0"
    assert processes["ultimate_question"].version == "2.0"


def test_literal_inputs(processes):
    literals = processes["literals"]
    kinds = {i.identifier: i.data_type for i in literals.inputs}
    assert kinds == {
        "string": "string", "integer": "integer", "float": "float", "open": "float",
        "boolean": "boolean", "positive": "positiveInteger",
        "nonnegative": "nonNegativeInteger", "uri": "anyURI", "date": "date", "time": "time",
        "datetime": "dateTime", "scale": "double", "angle": "double", "anything": "string",
        "length": "float", "many": "integer", "required": "string"}
    by_id = {i.identifier: i for i in literals.inputs}
    assert by_id["string"].allowed_values == AllowedValues(values=("alpha", "beta", "gamma"))
    assert by_id["string"].default == "beta"
    assert by_id["integer"].allowed_values == AllowedValues(ranges=(Range(0, 10),))
    assert by_id["integer"].default == 3
    assert by_id["float"].allowed_values == AllowedValues(ranges=(Range(0.0, 1.0, 0.25),))
    assert by_id["open"].allowed_values == AllowedValues(
        ranges=(Range(0.0, 1.0, closure=RangeClosure.OPEN),))
    assert by_id["anything"].allowed_values is None
    assert by_id["boolean"].default is False
    assert (by_id["length"].uoms, by_id["length"].default) == (("metre", "feet"), 1.5)
    assert (by_id["many"].min_occurs, by_id["many"].max_occurs) == (0, 3)
    assert (by_id["required"].min_occurs, by_id["required"].max_occurs) == (1, 1)


def test_declared_values_take_the_inputs_type():
    process = from_pywps(_process([
        LiteralInput("n", "N", data_type="integer", default="4", min_occurs=0,
                     allowed_values=[1, 4, AllowedValue(minval=10, maxval=20)]),
        LiteralInput("x", "X", data_type="float", allowed_values=["0.5", "1"]),
        LiteralInput("ref", "Ref", data_type="string",
                     allowed_values=ValuesReference(reference="https://example.org/values")),
        LiteralInput("any", "Any", max_occurs=None, min_occurs=0),
    ]))
    n, x, ref, anything = process.inputs
    assert isinstance(n, WpsdLiteralInput)
    assert n.default == 4 and n.allowed_values == AllowedValues(values=(1, 4),
                                                                 ranges=(Range(10, 20),))
    assert x.allowed_values == AllowedValues(values=(0.5, 1.0))
    # PyWPS checks no values against a ValuesReference either.
    assert ref.allowed_values is None
    assert anything.max_occurs == UNBOUNDED and anything.data_type == "string"


def test_complex_and_bounding_box_declarations(processes):
    data = processes["complex_data"]
    features, table, blob = data.inputs
    assert isinstance(features, WpsdComplexInput)
    assert features.formats == (WpsdFormat("application/geo+json", extension=".geojson"),
                                WpsdFormat("application/json", extension=".json"))
    assert (table.min_occurs, table.max_occurs) == (0, 2)
    assert blob.formats == (WpsdFormat("application/x-netcdf", "base64", extension=".nc"),)
    count, echoed, report = data.outputs
    assert isinstance(count, ComplexOutput) and not count.as_reference
    assert echoed.formats[0].mime_type == "application/geo+json"
    bbox = processes["expand_bbox"]
    box_in, margin = bbox.inputs
    assert isinstance(box_in, WpsdBoundingBoxInput)
    assert (box_in.crss, box_in.dimensions) == (("epsg:4326", "epsg:3857"), 2)
    assert isinstance(bbox.outputs[0], BoundingBoxOutput)
    assert bbox.outputs[0].crss == ("epsg:4326", "epsg:3857")


def test_formats_and_outputs_by_reference():
    process = from_pywps(_process(
        [ComplexInput("las", "LAS", supported_formats=[FORMATS.LAS]),
         ComplexInput("any", "Any", supported_formats=[Format("text/plain", schema="s.xsd")])],
        [LiteralOutput("n", "N")],
    ))
    las, text = process.inputs
    assert las.formats == (WpsdFormat("application/vdn.las", "base64", extension=".las"),)
    assert text.formats == (WpsdFormat("text/plain", schema="s.xsd"),)
    from pywps import ComplexOutput as PyWPSComplexOutput

    by_reference = from_pywps(_process(outputs=[
        PyWPSComplexOutput("big", "Big", supported_formats=[FORMATS.NETCDF], as_reference=True)]))
    assert by_reference.outputs[0].as_reference


def test_bounding_box_defaults_of_pywps():
    process = from_pywps(_process([BoundingBoxInput("b", "B")]))
    assert process.inputs[0].crss == ("epsg:4326",)


def test_an_input_named_context_is_refused():
    with pytest.raises(ValueError, match="input named 'context'"):
        from_pywps(_process([LiteralInput("context", "Context")]))


def test_the_handler_stays_the_modules():
    process = from_pywps(_process())
    assert process.handler.__module__ == __name__
    assert process.wants_context
