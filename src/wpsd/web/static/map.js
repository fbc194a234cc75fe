// Maps of the HTML pages, on Leaflet (served by this server from the XStatic-Leaflet package).
// A map shows the operator's tiles when `map_tiles` is set (body data-tiles), else a blank
// map with a graticule: shapes are drawn either way. The drawing tools are our own: a
// rectangle (press, drag, release), a point (click) and a polygon (click the corners,
// double-click or click the first corner to close it). GML is read and written here too,
// through GeoJSON: what the map draws is always GeoJSON inside.
"use strict";
const WpsdMap = (() => {
  const CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
  const STYLE = {color: "#1f6f8b", weight: 2, fillOpacity: 0.15};
  const RESULT = {color: "#c0392b", weight: 2, fillOpacity: 0.2, className: "wpsd-result"};

  function create(element) {
    const map = L.map(element, {worldCopyJump: false, doubleClickZoom: false});
    const tiles = document.body.dataset.tiles;
    if (tiles) {
      // The operator's attribution is text; Leaflet takes HTML, so it is escaped first.
      const credit = document.createElement("span");
      credit.textContent = document.body.dataset.tilesAttribution || "";
      L.tileLayer(tiles, {maxZoom: 19, attribution: credit.innerHTML}).addTo(map);
    } else {
      graticule().addTo(map);
    }
    map.fitBounds([[-60, -170], [75, 170]]);
    return map;
  }

  // Lines every 30 degrees and the frame of the world: orientation on a map without tiles.
  function graticule() {
    const lines = [];
    for (let lon = -180; lon <= 180; lon += 30) lines.push([[-90, lon], [90, lon]]);
    for (let lat = -90; lat <= 90; lat += 30) lines.push([[lat, -180], [lat, 180]]);
    return L.polyline(lines, {color: "#9aa5ad", weight: 1, interactive: false,
                              className: "wpsd-graticule"});
  }

  // ---------------------------------------------------------------- CRS of bounding boxes

  function crsCode(uri) {
    const match = /(EPSG|OGC)[/:](?:[^/:]*[/:])?([^/:]+)$/i.exec(uri || CRS84);
    return match ? `${match[1].toUpperCase()}:${match[2].toUpperCase()}` : uri;
  }

  // Whether the map can draw boxes of this CRS.
  function drawable(uri) {
    return ["OGC:CRS84", "EPSG:4326", "EPSG:3857", "EPSG:900913"].includes(crsCode(uri));
  }

  // Leaflet bounds -> the four numbers of a box in a CRS (EPSG:4326 is latitude first).
  function boundsToBox(bounds, uri) {
    const sw = bounds.getSouthWest(), ne = bounds.getNorthEast();
    const code = crsCode(uri);
    if (code === "EPSG:4326") return [sw.lat, sw.lng, ne.lat, ne.lng];
    if (code === "EPSG:3857" || code === "EPSG:900913") {
      const a = L.CRS.EPSG3857.project(sw), b = L.CRS.EPSG3857.project(ne);
      return [a.x, a.y, b.x, b.y];
    }
    return [sw.lng, sw.lat, ne.lng, ne.lat];
  }

  // The four numbers of a box in a CRS -> Leaflet bounds (null when it cannot be drawn).
  function boxToBounds(box, uri) {
    if (!Array.isArray(box) || box.length !== 4 || box.some((v) => !Number.isFinite(v))) {
      return null;
    }
    const code = crsCode(uri);
    if (code === "EPSG:4326") return L.latLngBounds([box[0], box[1]], [box[2], box[3]]);
    if (code === "EPSG:3857" || code === "EPSG:900913") {
      const a = L.CRS.EPSG3857.unproject(L.point(box[0], box[1]));
      const b = L.CRS.EPSG3857.unproject(L.point(box[2], box[3]));
      return L.latLngBounds(a, b);
    }
    if (code === "OGC:CRS84") return L.latLngBounds([box[1], box[0]], [box[3], box[2]]);
    return null;
  }

  // ---------------------------------------------------------------- drawing

  const TOOLS = {
    rectangle: ["▭", "Draw a rectangle: press, drag and release"],
    point: ["•", "Draw a point: click"],
    polygon: ["⬠", "Draw a polygon: click its corners, double-click to finish"],
  };

  // Drawing tools on a map. `onChange(group)` is called with the drawn layers after every
  // change; with `single`, a new shape replaces the last one.
  function drawTools(map, modes, onChange, single) {
    const group = L.featureGroup().addTo(map);
    let mode = null, start = null, preview = null, corners = [];
    const buttons = {};

    function setMode(next) {
      cancel();
      mode = next;
      for (const [name, button] of Object.entries(buttons)) {
        button.classList.toggle("active", name === mode);
      }
      map.getContainer().classList.toggle("drawing", mode !== null);
      if (mode === "rectangle") map.dragging.disable(); else map.dragging.enable();
    }
    function cancel() {
      if (preview) map.removeLayer(preview);
      preview = null; start = null; corners = [];
    }
    function add(layer) {
      if (single) group.clearLayers();
      group.addLayer(layer);
      onChange(group);
    }

    const control = L.control({position: "topleft"});
    control.onAdd = () => {
      const bar = L.DomUtil.create("div", "leaflet-bar wpsd-draw");
      const button = (name, symbol, title, action) => {
        const a = L.DomUtil.create("a", "wpsd-tool-" + name, bar);
        a.href = "#"; a.textContent = symbol; a.title = title;
        a.setAttribute("role", "button"); a.setAttribute("aria-label", title);
        L.DomEvent.on(a, "click", (event) => { L.DomEvent.stop(event); action(); });
        return a;
      };
      for (const name of modes) {
        const [symbol, title] = TOOLS[name];
        buttons[name] = button(name, symbol, title, () => setMode(mode === name ? null : name));
      }
      button("clear", "✕", "Remove the drawn shapes", () => {
        cancel(); group.clearLayers(); onChange(group);
      });
      L.DomEvent.disableClickPropagation(bar);
      return bar;
    };
    control.addTo(map);

    map.on("mousedown", (event) => {
      if (mode !== "rectangle") return;
      start = event.latlng;
      preview = L.rectangle(L.latLngBounds(start, start), STYLE).addTo(map);
    });
    map.on("mousemove", (event) => {
      if (mode === "rectangle" && start) {
        preview.setBounds(L.latLngBounds(start, event.latlng));
      } else if (mode === "polygon" && corners.length) {
        preview.setLatLngs([...corners, event.latlng]);
      }
    });
    map.on("mouseup", (event) => {
      if (mode !== "rectangle" || !start) return;
      const bounds = L.latLngBounds(start, event.latlng);
      cancel();
      if (!bounds.getSouthWest().equals(bounds.getNorthEast())) {
        add(L.rectangle(bounds, STYLE));
      }
    });
    map.on("click", (event) => {
      if (mode === "point") {
        add(L.circleMarker(event.latlng, {...STYLE, radius: 6}));
      } else if (mode === "polygon") {
        const first = corners.length ? map.latLngToContainerPoint(corners[0]) : null;
        if (first && corners.length >= 3 && first.distanceTo(event.containerPoint) < 8) {
          finishPolygon();
          return;
        }
        const last = corners[corners.length - 1];
        if (!last || !last.equals(event.latlng)) corners.push(event.latlng);
        if (!preview) preview = L.polyline(corners, STYLE).addTo(map);
        preview.setLatLngs(corners);
      }
    });
    map.on("dblclick", () => { if (mode === "polygon") finishPolygon(); });
    function finishPolygon() {
      const ring = corners.slice();
      cancel();
      if (ring.length >= 3) add(L.polygon(ring, STYLE));
    }
    map.getContainer().addEventListener("keydown", (event) => {
      if (event.key === "Escape") setMode(null);
      if (event.key === "Enter" && mode === "polygon") finishPolygon();
    });
    return group;
  }

  // ---------------------------------------------------------------- GeoJSON

  function isGeoJSON(value) {
    return value !== null && typeof value === "object" && typeof value.type === "string" &&
      ["FeatureCollection", "Feature", "Point", "MultiPoint", "LineString", "MultiLineString",
       "Polygon", "MultiPolygon", "GeometryCollection"].includes(value.type);
  }

  function geoJSONLayer(document, style) {
    return L.geoJSON(document, {
      style: () => style,
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, {...style, radius: 6}),
    });
  }

  // Fit a map to a layer (or bounds); a point gets a sensible zoom.
  function show(map, target) {
    const bounds = target.getBounds ? target.getBounds() : target;
    if (!bounds.isValid()) return;
    if (bounds.getSouthWest().equals(bounds.getNorthEast())) {
      map.setView(bounds.getCenter(), 6, {animate: false});
    } else {
      map.fitBounds(bounds, {padding: [20, 20], maxZoom: 14, animate: false});
    }
  }


  // ---------------------------------------------------------------- GML
  //
  // GML is read with DOMParser and written through the DOM and XMLSerializer, never pieced
  // together as text. Read: GML 3.2 and the older namespace GML 2 and 3.1 share; Point,
  // LineString, LinearRing, Polygon (exterior/interior, or GML 2's outer/innerBoundaryIs),
  // MultiPoint, MultiLineString/MultiCurve, MultiPolygon/MultiSurface and MultiGeometry of
  // those; positions in pos, posList, or GML 2's coordinates and coord; heights are dropped.
  // Curves and surfaces made of segments or patches, and envelopes, are not read.
  //
  // Axis order: GML writes a position in the order of its CRS's axes, so srsName (the
  // geometry's own, or of the nearest element around it) decides how it is read:
  //  - EPSG:4326 in its URN or URI spelling (urn:ogc:def:crs:EPSG::4326,
  //    http://www.opengis.net/def/crs/EPSG/0/4326) is latitude, longitude, as EPSG defines it;
  //  - the short "EPSG:4326" and http://www.opengis.net/gml/srs/epsg.xml#4326 are read
  //    longitude, latitude: that is how GeoServer, GDAL and WFS 1.0 servers write them,
  //    whatever EPSG says;
  //  - CRS84, in any spelling, is longitude, latitude;
  //  - EPSG:4258 (ETRS89) and EPSG:4269 (NAD83) are read as EPSG:4326 is: on a map of the
  //    world they differ from it by less than a pixel;
  //  - web Mercator (EPSG:3857 and its aliases) is metres east, north;
  //  - no srsName at all is read longitude, latitude, the order of GeoJSON: a guess, and the
  //    page says so;
  //  - any other CRS is not drawn (the map does not reproject) and the page says so.
  // Written: GML 3.2 in EPSG:4326 spelled as a URI, latitude first, which no reader mistakes.

  const GML = "http://www.opengis.net/gml/3.2";
  const GML_NAMESPACES = [GML, "http://www.opengis.net/gml"];
  const EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326";
  const GML_GEOMETRIES = new Set(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                                  "MultiLineString", "MultiCurve", "MultiPolygon",
                                  "MultiSurface", "MultiGeometry"]);
  const MULTI = {MultiPoint: "Point", MultiLineString: "LineString", MultiCurve: "LineString",
                 MultiPolygon: "Polygon", MultiSurface: "Polygon"};
  const LIKE_WGS84 = ["4326", "4258", "4269"];
  const MERCATOR = ["3857", "900913", "102100", "102113"];
  const LEGACY_EPSG = /^(?:EPSG:|https?:\/\/www\.opengis\.net\/gml\/srs\/epsg\.xml#)(\d+)$/i;
  // urn:ogc:def:crs:EPSG::4326, urn:ogc:def:crs:EPSG:6.6:4326, .../def/crs/EPSG/0/4326
  const AUTHORITY_EPSG = new RegExp("^(?:urn:(?:x-)?ogc:def:crs:EPSG:(?:[^:]*:)?" +
    "|https?://www\\.opengis\\.net/def/crs/EPSG/[^/]+/)(\\d+)$", "i");

  function gmlName(node) {
    return node.nodeType === 1 && GML_NAMESPACES.includes(node.namespaceURI) ? node.localName
      : null;
  }

  // A position of a CRS -> [longitude, latitude]; null when the map cannot show the CRS.
  function lonLatOf(srsName) {
    const name = (srsName || "").trim();
    if (!name || /(?:^|[:/#])CRS:?84$/i.test(name)) return (x, y) => [x, y];
    const legacy = LEGACY_EPSG.exec(name);
    const match = legacy || AUTHORITY_EPSG.exec(name);
    if (!match) return null;
    if (MERCATOR.includes(match[1])) {
      return (x, y) => {
        const latlng = L.CRS.EPSG3857.unproject(L.point(x, y));
        return [latlng.lng, latlng.lat];
      };
    }
    if (!LIKE_WGS84.includes(match[1])) return null;
    return legacy ? (x, y) => [x, y] : (x, y) => [y, x];
  }

  // An attribute of an element, or of the nearest element around it that has it: a Multi*
  // or a feature collection may name the CRS of all its parts.
  function inherited(element, name) {
    for (let node = element; node && node.nodeType === 1; node = node.parentNode) {
      if (node.getAttribute(name)) return node.getAttribute(name);
    }
    return null;
  }

  function numbers(text) {
    const values = (text || "").trim().split(/\s+/).filter((part) => part !== "").map(Number);
    if (values.some((value) => !Number.isFinite(value))) {
      throw new Error("a coordinate is not a number");
    }
    return values;
  }

  function pairs(values, step) {
    if (!(step >= 2) || values.length % step) {
      throw new Error("the numbers make no whole positions");
    }
    const found = [];
    for (let i = 0; i < values.length; i += step) found.push([values[i], values[i + 1]]);
    return found;
  }

  // The positions an element lists, as written (x, y in the CRS's axis order).
  function positions(element, dimension) {
    const found = [];
    for (const child of element.children) {
      const name = gmlName(child);
      if (name === "posList") {
        found.push(...pairs(numbers(child.textContent),
                            Number(child.getAttribute("srsDimension") || dimension)));
      } else if (name === "pos") {
        found.push(...pairs(numbers(child.textContent).slice(0, 2), 2));
      } else if (name === "coordinates") {
        // GML 2: tuples apart by `ts`, the numbers of a tuple by `cs`
        const cs = child.getAttribute("cs") || ",", ts = child.getAttribute("ts") || " ";
        const decimal = child.getAttribute("decimal") || ".";
        const text = child.textContent.trim();
        const tuples = ts.trim() ? text.split(ts) : text.split(/\s+/);
        for (const tuple of tuples.map((part) => part.trim()).filter((part) => part !== "")) {
          const parts = tuple.split(cs).map((part) => part.trim().split(decimal).join("."));
          found.push(...pairs(numbers(parts.join(" ")).slice(0, 2), 2));
        }
      } else if (name === "coord") {
        const axes = [...child.children].filter((axis) => ["X", "Y"].includes(gmlName(axis)));
        found.push(...pairs(numbers(axes.map((axis) => axis.textContent).join(" ")), 2));
      }
    }
    return found;
  }

  // A GeoJSON geometry (longitude, latitude) of a GML geometry element.
  function gmlGeometry(element, dimension, lonLat) {
    const name = gmlName(element);
    dimension = Number(element.getAttribute("srsDimension") || dimension);
    const line = (node) => positions(node, dimension).map(([x, y]) => lonLat(x, y));
    if (name === "Point") {
      const points = line(element);
      if (points.length !== 1) throw new Error("a gml:Point needs one position");
      return {type: "Point", coordinates: points[0]};
    }
    if (name === "LineString" || name === "LinearRing") {
      const points = line(element);
      if (points.length < 2) throw new Error(`a gml:${name} needs two positions at least`);
      return {type: "LineString", coordinates: points};
    }
    const parts = [...element.children];
    if (name === "Polygon") {
      const ring = (boundary) => {
        const rings = [...boundary.children].filter((node) => gmlName(node) === "LinearRing");
        if (rings.length !== 1) throw new Error("a polygon boundary needs one gml:LinearRing");
        const points = line(rings[0]);
        if (points.length < 4) throw new Error("a gml:LinearRing needs four positions at least");
        return points;
      };
      const outer = parts.filter((node) => ["exterior", "outerBoundaryIs"].includes(gmlName(node)));
      const inner = parts.filter((node) => ["interior", "innerBoundaryIs"].includes(gmlName(node)));
      if (outer.length !== 1) throw new Error("a gml:Polygon needs one exterior");
      return {type: "Polygon", coordinates: [ring(outer[0]), ...inner.map(ring)]};
    }
    // an aggregate: its members sit in member elements (pointMember, surfaceMembers, ...)
    const members = [];
    for (const wrapper of parts.filter(gmlName)) {
      for (const member of wrapper.children) {
        if (GML_GEOMETRIES.has(gmlName(member))) {
          members.push(gmlGeometry(member, dimension, lonLat));
        }
      }
    }
    const single = MULTI[name];
    if (single && members.every((member) => member.type === single)) {
      return {type: "Multi" + single, coordinates: members.map((member) => member.coordinates)};
    }
    return {type: "GeometryCollection", geometries: members};
  }

  // The geometries of a document that are not parts of another one (nor bounding boxes).
  function outermost(element, found) {
    if (GML_GEOMETRIES.has(gmlName(element))) {
      found.push(element);
    } else {
      for (const child of element.children) {
        if (gmlName(child) !== "boundedBy") outermost(child, found);
      }
    }
    return found;
  }

  // GML text -> {collection: a GeoJSON FeatureCollection, problems: what was not drawn and
  // why}. Throws an Error (its message for people) when the text is not XML or holds no GML.
  function parseGML(text) {
    // Chromium reports the styled error block it builds for XML it cannot parse as a CSP
    // violation (an inline style): text cut short, the usual case while typing, is told
    // apart without it, as XML ends with ">". The error is harmless otherwise.
    const malformed = new Error("the text is not well-formed XML");
    if (!/^\s*</.test(text) || !/>\s*$/.test(text)) throw malformed;
    const doc = new DOMParser().parseFromString(text, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw malformed;
    const found = outermost(doc.documentElement, []);
    if (!found.length) throw new Error("the XML holds no GML geometry");
    const features = [], problems = new Set();
    for (const element of found) {
      const srsName = inherited(element, "srsName");
      const lonLat = lonLatOf(srsName);
      if (!lonLat) {
        problems.add(`the map cannot show coordinates in the CRS ${srsName}`);
        continue;
      }
      if (!srsName) problems.add("no srsName: coordinates read as longitude, latitude");
      try {
        const dimension = Number(inherited(element, "srsDimension") || 2);
        features.push({type: "Feature", properties: {},
                       geometry: gmlGeometry(element, dimension, lonLat)});
      } catch (error) {
        problems.add(`gml:${gmlName(element)}: ${error.message}`);
      }
    }
    return {collection: {type: "FeatureCollection", features: features},
            problems: [...problems]};
  }

  // GeoJSON (a FeatureCollection, a Feature or a geometry) -> GML 3.2 text: one geometry, or
  // a MultiGeometry of several.
  function toGML(value) {
    const geometries = (value.type === "FeatureCollection" ? value.features.map((f) => f.geometry)
      : value.type === "Feature" ? [value.geometry] : [value]).filter(Boolean);
    const doc = document.implementation.createDocument(GML, null, null);
    let count = 0;
    const make = (name) => doc.createElementNS(GML, "gml:" + name);
    const identified = (name) => {  // GML 3.2 wants an id on every geometry
      const node = make(name);
      node.setAttributeNS(GML, "gml:id", "g" + (++count));
      return node;
    };
    const text = (points) => points.map(([lon, lat]) => `${lat} ${lon}`).join(" ");
    const boundary = (points, kind) => {
      const node = make(kind);
      node.appendChild(make("LinearRing")).appendChild(make("posList")).textContent = text(points);
      return node;
    };
    const aggregate = (name, member, parts) => {
      const node = identified(name);
      for (const part of parts) node.appendChild(make(member)).appendChild(build(part));
      return node;
    };
    function build(geometry) {
      const c = geometry.coordinates;
      switch (geometry.type) {
        case "Point": {
          const node = identified("Point");
          node.appendChild(make("pos")).textContent = text([c]);
          return node;
        }
        case "LineString": {
          const node = identified("LineString");
          node.appendChild(make("posList")).textContent = text(c);
          return node;
        }
        case "Polygon": {
          const node = identified("Polygon");
          c.forEach((ring, i) => node.appendChild(boundary(ring, i ? "interior" : "exterior")));
          return node;
        }
        case "MultiPoint":
          return aggregate("MultiPoint", "pointMember",
                           c.map((point) => ({type: "Point", coordinates: point})));
        case "MultiLineString":
          return aggregate("MultiCurve", "curveMember",
                           c.map((line) => ({type: "LineString", coordinates: line})));
        case "MultiPolygon":
          return aggregate("MultiSurface", "surfaceMember",
                           c.map((polygon) => ({type: "Polygon", coordinates: polygon})));
        case "GeometryCollection":
          return aggregate("MultiGeometry", "geometryMember", geometry.geometries);
        default:
          throw new Error(`GML has no ${geometry.type}`);
      }
    }
    const root = geometries.length === 1 ? build(geometries[0])
      : aggregate("MultiGeometry", "geometryMember", geometries);
    root.setAttribute("srsName", EPSG4326);
    doc.appendChild(root);
    indent(doc, root, 0);
    return new XMLSerializer().serializeToString(doc);
  }

  // Line breaks and indentation between elements, for people reading the text field.
  function indent(doc, node, depth) {
    const children = [...node.children];
    if (!children.length) return;
    for (const child of children) {
      node.insertBefore(doc.createTextNode("\n" + "  ".repeat(depth + 1)), child);
      indent(doc, child, depth + 1);
    }
    node.appendChild(doc.createTextNode("\n" + "  ".repeat(depth)));
  }

  return {CRS84, STYLE, RESULT, create, crsCode, drawable, boundsToBox, boxToBounds,
          drawTools, isGeoJSON, geoJSONLayer, show, parseGML, toGML};
})();
