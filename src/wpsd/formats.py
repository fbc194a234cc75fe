"""Complex data formats: a mime type with an optional encoding and schema."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One format a complex input or output accepts or produces.

    ``encoding`` is either a character set (``UTF-8``) or a transfer encoding
    (``base64``); ``schema`` is the URL of an XML schema or similar.
    """

    mime_type: str
    encoding: str | None = None
    schema: str | None = None
    #: file name extension used when the value is written to disk
    extension: str = ""

    def matches(
        self, mime_type: str | None, encoding: str | None = None, schema: str | None = None
    ) -> bool:
        """Whether a client's request for (mime_type, encoding, schema) is served by this format.

        Parts the client leaves out match anything; mime types compare case-insensitively.
        """
        if mime_type and mime_type.lower() != self.mime_type.lower():
            return False
        if encoding and (self.encoding or "").lower() != encoding.lower():
            # A format that names no encoding still carries plain UTF-8 text.
            if not (self.encoding is None and encoding.lower() in ("utf-8", "utf8")):
                return False
        if schema and schema != self.schema:
            return False
        return True

    @property
    def content_type(self) -> str:
        """The HTTP Content-Type of data in this format (base64 is a transfer encoding only)."""
        if self.encoding and not self.is_base64:
            return f"{self.mime_type}; charset={self.encoding}"
        return self.mime_type

    @property
    def media_type(self) -> str:
        """The mime type without its parameters, lower case: ``application/metalink+xml``
        of ``application/metalink+xml; version=4.0``."""
        return self.mime_type.split(";", 1)[0].strip().lower()

    @property
    def is_xml(self) -> bool:
        mt = self.media_type
        return mt in ("text/xml", "application/xml") or mt.endswith("+xml")

    @property
    def is_json(self) -> bool:
        mt = self.media_type
        return mt == "application/json" or mt.endswith("+json")

    @property
    def is_text(self) -> bool:
        return self.is_xml or self.is_json or self.mime_type.lower().startswith("text/")

    @property
    def is_base64(self) -> bool:
        return (self.encoding or "").lower() == "base64"


GEOJSON = Format("application/geo+json", extension=".geojson")
JSON = Format("application/json", extension=".json")
XML = Format("text/xml", extension=".xml")
GML = Format("application/gml+xml", extension=".gml")
TEXT = Format("text/plain", extension=".txt")
CSV = Format("text/csv", extension=".csv")
NETCDF = Format("application/x-netcdf", encoding="base64", extension=".nc")
GEOTIFF = Format("image/tiff; subtype=geotiff", encoding="base64", extension=".tif")
PNG = Format("image/png", encoding="base64", extension=".png")
BINARY = Format("application/octet-stream", encoding="base64", extension=".bin")
