import wpsd


def test_public_names():
    exported = {name for name in dir(wpsd) if not name.startswith("_")}
    expected = {
        "AllowedValues", "BoundingBox", "BoundingBoxInput", "BoundingBoxOutput", "ComplexInput",
        "ComplexOutput", "ComplexValue", "ExecutionContext", "Format", "LiteralInput",
        "LiteralOutput", "Process", "ProcessRegistry", "Range", "RangeClosure", "ServiceMetadata",
        "Settings", "create_app", "load_settings", "process",
    }
    assert expected <= exported
    # subpackages are importable but the public API is the names above
    assert exported - expected <= {
        "backends", "callbacks", "config", "core", "datatypes", "exceptions", "fetch", "formats",
        "compat", "logs", "metrics",
        "outbound", "ports", "processes", "protocol", "web", "worker",
    }
