// Results of an execution (an OGC API results document): every output pretty-printed with a
// download link; GeoJSON, GML and bounding boxes also on a map (map.js), images shown inline.
// read() turns every other answer of /jobs/{id}/results (a raw value, links, multipart) into
// such a document first, so that all of them are shown the same way.
"use strict";
const WpsdResults = (() => {
  const EXTENSIONS = {"application/geo+json": ".geojson", "application/json": ".json",
                      "text/plain": ".txt", "text/csv": ".csv", "image/png": ".png",
                      "image/jpeg": ".jpg", "image/tiff": ".tif", "application/gml+xml": ".gml",
                      "text/xml": ".xml", "application/xml": ".xml"};
  // The other way round, for links that name no media type (those of a raw response name
  // only href, rel and title): stored outputs are named with their format's extension.
  const TYPES = Object.fromEntries(Object.entries(EXTENSIONS).reverse()
    .map(([type, extension]) => [extension, type]));

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A "binary string" has one character per byte: what atob and btoa work on.
  function stringBytes(binary) {
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function binaryString(bytes) {
    let binary = "";
    // in slices: a function takes only so many arguments
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return binary;
  }

  function base64Bytes(text) { return stringBytes(atob(text)); }

  // What a value is: its media type, its bytes for a download, what to print.
  function describe(value) {
    if (value !== null && typeof value === "object" && "href" in value) {
      return {kind: "reference", type: value.type || "", href: value.href, rel: value.rel};
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
  // a bounding box as bbox.yaml has it (a GeoJSON object with a bbox member has a type)
  function isBBox(data) {
    return data !== null && typeof data === "object" && Array.isArray(data.bbox) &&
      !("type" in data);
  }
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
        if (!response.ok) return;
        const data = await response.json();
        if (isBBox(data)) showBBox(section, data);
        else showGeoJSON(section, data);
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
        const line = section.appendChild(element("p"));
        line.appendChild(link);
        if (info.rel) line.appendChild(element("span", "muted", ` rel="${info.rel}"`));
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

  // ---------------------------------------------------------------- answers of /results

  function isText(type) { return /^text\/|[/+](json|xml)$/.test(type); }

  // One output as a raw answer or a multipart part holds it (its media type and bytes), in the
  // form a results document gives it.
  function documentValue(type, bytes) {
    const base = type.split(";")[0].trim().toLowerCase();
    if (!isText(base)) {
      return {value: btoa(binaryString(bytes)), mediaType: type, encoding: "base64"};
    }
    const charset = /charset="?([^";\s]+)/i.exec(type);
    let text;
    try { text = new TextDecoder(charset ? charset[1] : "utf-8").decode(bytes); } catch (e) {
      text = new TextDecoder().decode(bytes);  // a charset the browser does not know
    }
    if (base === "text/plain") return text;  // how a literal output is sent raw
    if (/[/+]json$/.test(base)) {
      try {
        const data = JSON.parse(text);
        return base === "application/json" && isBBox(data) ? data : {value: data, mediaType: type};
      } catch (e) { /* not JSON after all: shown as text */ }
    }
    return {value: text, mediaType: type};
  }

  function typeOfPath(href) {
    const name = new URL(href).pathname.split("/").pop();
    const dot = name.lastIndexOf(".");
    return dot < 0 ? "" : TYPES[name.slice(dot).toLowerCase()] || "";
  }

  function linkValue(href, type, rel) {
    return {href: href, type: type || typeOfPath(href), rel: rel};
  }

  function addOutput(outputs, name, value) {
    let key = name;
    for (let n = 2; key in outputs; n++) key = `${name} (${n})`;
    outputs[key] = value;
  }

  // RFC 8288: <href>; name=value; name="quoted value", and several links joined by commas.
  const LINK = /<([^>]*)>((?:\s*;\s*[^\s;,=]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,]*))?)*)/g;
  const PARAMETER = /;\s*([^\s;,=]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,]*)))?/g;

  // Outputs by reference answered raw: no content, a Link header for each (18-062r2 table 11).
  function linkedOutputs(response) {
    const outputs = {};
    for (const [, target, text] of (response.headers.get("Link") || "").matchAll(LINK)) {
      const found = {};
      for (const [, name, quoted, bare] of text.matchAll(PARAMETER)) {
        const key = name.toLowerCase();
        if (!(key in found)) {
          found[key] = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (bare || "").trim();
        }
      }
      const href = new URL(target, response.url).href;
      addOutput(outputs, found.title || href.split("?")[0].split("/").pop(),
                linkValue(href, found.type, found.rel));
    }
    return outputs;
  }

  // Several outputs answered raw, some by reference: multipart/related, a Content-ID for each
  // part, and a Content-Location instead of content for a reference.
  function multipartOutputs(bytes, type, base) {
    const outputs = {};
    const boundary = /boundary="?([^";]+)"?/i.exec(type);
    if (!boundary) return outputs;
    const parts = binaryString(bytes).split("--" + boundary[1]).slice(1);
    for (const part of parts) {
      if (part.startsWith("--")) break;  // the closing delimiter
      const end = part.indexOf("\r\n\r\n");
      const head = new TextDecoder().decode(stringBytes(end < 0 ? part : part.slice(0, end)));
      const headers = {};
      for (const line of head.split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
      }
      const name = (headers["content-id"] || "").replace(/^<|>$/g, "") || "result";
      if (headers["content-location"]) {
        addOutput(outputs, name, linkValue(new URL(headers["content-location"], base).href,
                                           headers["content-type"]));
      } else {
        const body = end < 0 ? "" : part.slice(end + 4).replace(/\r\n$/, "");
        addOutput(outputs, name, documentValue(headers["content-type"] || "", stringBytes(body)));
      }
    }
    return outputs;
  }

  // A results document maps each output to a literal or to an object with an href, a value or
  // a bbox, never to an array or null: what tells it from a raw JSON output (a bounding box,
  // GeoJSON with its arrays), which has the same media type, where the server did not name
  // the raw value in Content-Disposition.
  function isDocument(data) {
    return data !== null && typeof data === "object" && !Array.isArray(data) &&
      Object.values(data).every((v) => v !== null && !Array.isArray(v) &&
        (typeof v !== "object" || "href" in v || "value" in v || Array.isArray(v.bbox)));
  }

  // A raw answer names its output only in the file name of a download.
  function rawName(response) {
    const named = /filename="?([^";]+)"?/i.exec(response.headers.get("Content-Disposition") || "");
    return named ? named[1].replace(/\.[^.]*$/, "") : "result";
  }

  // The outputs of a successful answer of /jobs/{id}/results, as a results document, in
  // whichever form the job asked for them ("response": "document" or "raw").
  async function read(response) {
    if (response.status === 204) return linkedOutputs(response);
    const type = response.headers.get("Content-Type") || "";
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (/^multipart\//i.test(type)) return multipartOutputs(bytes, type, response.url);
    // wpsd names a raw value in Content-Disposition; without it, tell by the shape
    if (!response.headers.get("Content-Disposition") && /^application\/json\s*(;|$)/i.test(type)) {
      try {
        const data = JSON.parse(new TextDecoder().decode(bytes));
        if (isDocument(data)) return data;
      } catch (e) { /* not a document: the raw output it is */ }
    }
    const outputs = {};
    addOutput(outputs, rawName(response), documentValue(type, bytes));
    return outputs;
  }

  return {render, read};
})();

// The results page (/jobs/{id}/results?f=html) renders its own document.
(() => {
  const page = document.getElementById("results-page");
  if (!page) return;
  fetch(page.dataset.url, {headers: {"Accept": "application/json"}})
    .then((response) => (response.ok ? WpsdResults.read(response) : null))
    .then((results) => { if (results) WpsdResults.render(page, results); });
})();
