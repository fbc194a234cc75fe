// Results of an execution (an OGC API results document): every output pretty-printed with a
// download link; GeoJSON, GML and bounding boxes also on a map (map.js), images shown inline.
"use strict";
const WpsdResults = (() => {
  const EXTENSIONS = {"application/geo+json": ".geojson", "application/json": ".json",
                      "text/plain": ".txt", "text/csv": ".csv", "image/png": ".png",
                      "image/jpeg": ".jpg", "image/tiff": ".tif", "application/gml+xml": ".gml",
                      "text/xml": ".xml", "application/xml": ".xml"};

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // What a value is: its media type, its bytes for a download, what to print.
  function describe(value) {
    if (value !== null && typeof value === "object" && "href" in value) {
      return {kind: "reference", type: value.type || "", href: value.href};
    }
    if (value !== null && typeof value === "object" && Array.isArray(value.bbox)) {
      const text = JSON.stringify(value, null, 2);
      return {kind: "bbox", type: "application/json", text: text, body: text};
    }
    if (value !== null && typeof value === "object" && "value" in value) {
      const type = value.mediaType || "";
      if (value.encoding === "base64") {
        return {kind: "binary", type: type, base64: value.value,
                body: base64Bytes(value.value), text: `(${type}, base64)`};
      }
      const inner = value.value;
      const text = typeof inner === "string" ? inner : JSON.stringify(inner, null, 2);
      return {kind: "inline", type: type, data: inner, text: text, body: text};
    }
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    return {kind: "literal", type: "text/plain", text: text, body: text};
  }

  function downloadLink(ident, info) {
    const link = element("a", "download", "Download");
    const extension = EXTENSIONS[(info.type || "").split(";")[0]] || "";
    if (info.kind === "reference") {
      link.href = info.href;
    } else {
      link.href = URL.createObjectURL(new Blob([info.body], {type: info.type || "text/plain"}));
    }
    link.download = ident + extension;
    link.dataset.output = ident;
    return link;
  }

  function mapOf(section, draw) {
    if (typeof L === "undefined") return;
    const holder = element("div", "map result-map");
    section.appendChild(holder);
    const map = WpsdMap.create(holder);
    try { draw(map); } catch (e) { holder.remove(); }
  }

  function showGeoJSON(section, data) {
    if (!WpsdMap.isGeoJSON(data)) return;
    mapOf(section, (map) => {
      const layer = WpsdMap.geoJSONLayer(data, WpsdMap.RESULT).addTo(map);
      WpsdMap.show(map, layer);
    });
  }

  // XML that holds GML geometries is drawn, whatever its media type says (text/xml with a GML
  // schema is GML too); other XML is only shown as text.
  function showGML(section, text) {
    let parsed;
    try { parsed = WpsdMap.parseGML(text); } catch (e) { return; }
    if (parsed.problems.length) {
      section.appendChild(element("p", "muted map-status",
                                  `Not all drawn: ${parsed.problems.join("; ")}.`));
    }
    if (parsed.collection.features.length) showGeoJSON(section, parsed.collection);
  }

  function showBBox(section, value) {
    const bounds = WpsdMap.boxToBounds(value.bbox, value.crs);
    if (!bounds) return;
    mapOf(section, (map) => {
      L.rectangle(bounds, WpsdMap.RESULT).addTo(map);
      WpsdMap.show(map, bounds);
    });
  }

  function isGeo(type) { return /geo\+json|^application\/json/.test(type || ""); }
  function isXML(type) { return /^(text|application)\/([\w.-]+\+)?xml\b|gml/i.test(type || ""); }

  async function showReference(section, info) {
    if (info.type.startsWith("image/")) {
      const image = element("img", "output-image");
      image.src = info.href;
      image.alt = "";
      section.appendChild(image);
    } else if (new URL(info.href, location.href).origin !== location.origin) {
      return;  // another site's data is not fetched: the link is there
    } else if (isGeo(info.type)) {
      try {
        const response = await fetch(info.href, {headers: {"Accept": info.type}});
        if (response.ok) showGeoJSON(section, await response.json());
      } catch (e) { /* the link is still there */ }
    } else if (isXML(info.type)) {
      try {
        const response = await fetch(info.href, {headers: {"Accept": info.type}});
        if (response.ok) showGML(section, await response.text());
      } catch (e) { /* the link is still there */ }
    }
  }

  function render(container, results) {
    container.replaceChildren();
    const entries = Object.entries(results || {});
    if (!entries.length) container.appendChild(element("p", "muted", "No outputs."));
    for (const [ident, value] of entries) {
      const section = element("section", "output");
      section.dataset.output = ident;
      container.appendChild(section);  // in the page first: a map measures its container
      const heading = element("h3", "", "");
      heading.appendChild(element("code", "", ident));
      const info = describe(value);
      if (info.type) heading.appendChild(element("span", "muted", " " + info.type));
      heading.appendChild(document.createTextNode(" "));
      heading.appendChild(downloadLink(ident, info));
      section.appendChild(heading);
      if (info.kind === "reference") {
        const link = element("a", "", info.href);
        link.href = info.href;
        section.appendChild(element("p")).appendChild(link);
        showReference(section, info);
      } else if (info.kind === "binary" && info.type.startsWith("image/")) {
        const image = element("img", "output-image");
        image.src = `data:${info.type};base64,${info.base64}`;
        image.alt = ident;
        section.appendChild(image);
      } else {
        section.appendChild(element("pre", "value", info.text));
      }
      if (info.kind === "bbox") showBBox(section, value);
      if (info.kind === "inline" && typeof info.data === "object") showGeoJSON(section, info.data);
      if (info.kind === "inline" && typeof info.data === "string" && isXML(info.type)) {
        showGML(section, info.data);
      }
    }
  }

  return {render};
})();

// The results page (/jobs/{id}/results?f=html) renders its own document.
(() => {
  const page = document.getElementById("results-page");
  if (!page) return;
  fetch(page.dataset.url, {headers: {"Accept": "application/json"}})
    .then((response) => (response.ok ? response.json() : null))
    .then((results) => { if (results) WpsdResults.render(page, results); });
})();
