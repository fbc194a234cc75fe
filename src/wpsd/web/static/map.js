// Maps of the HTML pages, on Leaflet (served by this server from the XStatic-Leaflet package).
// A map shows the operator's tiles when `map_tiles` is set (body data-tiles), else a blank
// map with a graticule: shapes are drawn either way. The drawing tools are our own: a
// rectangle (press, drag, release), a point (click) and a polygon (click the corners,
// double-click or click the first corner to close it).
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

  return {CRS84, STYLE, RESULT, create, crsCode, drawable, boundsToBox, boxToBounds,
          drawTools, isGeoJSON, geoJSONLayer, show};
})();
