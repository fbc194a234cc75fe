// The process form: builds an OGC API execute request from the fields and submits a job.
// Bounding-box inputs, and complex inputs that take GeoJSON or GML, get a map (map.js): a
// drawn shape fills the text field, and what is typed or uploaded there is drawn.
"use strict";
const form = document.getElementById("execute");

function parseNumbers(text) {
  return text.split(/[\s,;]+/).filter((part) => part !== "").map(Number);
}

function round(value) {
  return Number(value.toFixed(6));
}

function bboxMap(field, element) {
  const text = field.querySelector("input[type=text]");
  const crs = field.querySelector("select");
  const map = WpsdMap.create(element);
  let drawn = null;
  const group = WpsdMap.drawTools(map, ["rectangle"], (layers) => {
    drawn = layers.getLayers()[0] || null;
    fill();
  }, true);
  function fill() {
    if (!drawn) { text.value = ""; return; }
    if (!WpsdMap.drawable(crs.value)) return;  // the map cannot convert to this CRS
    text.value = WpsdMap.boundsToBox(drawn.getBounds(), crs.value).map(round).join(",");
  }
  function draw() {
    const bounds = WpsdMap.boxToBounds(parseNumbers(text.value), crs.value);
    group.clearLayers();
    drawn = null;
    if (bounds) {
      drawn = L.rectangle(bounds, WpsdMap.STYLE);
      group.addLayer(drawn);
      WpsdMap.show(map, bounds);
    }
  }
  text.addEventListener("change", draw);
  // Another CRS: the box on the map stays where it is, its numbers change.
  crs.addEventListener("change", () => { if (drawn) fill(); else draw(); });
}

// A map for a complex input. Its format picker marks the formats the map can write
// (data-format="geojson" or "gml", set by the page): a drawing is written in the chosen one,
// or in the first the map can write when the chosen one is neither.
function geometryMap(field, element) {
  const text = field.querySelector("textarea");
  const media = field.querySelector("select");
  const status = field.querySelector(".map-status");
  const map = WpsdMap.create(element);
  let written = null;  // what the map last wrote into the field
  const formatOf = (option) => (option && option.dataset.format) || "";
  const firstOf = (kind) => [...media.options].find((option) => formatOf(option) === kind);
  const chosen = () => media.options[media.selectedIndex];
  function say(message) { if (status) status.textContent = message; }

  function write(layers) {
    const option = formatOf(chosen()) ? chosen() : firstOf("geojson") || firstOf("gml");
    media.value = option.value;
    const data = layers.toGeoJSON();
    if (!layers.getLayers().length) text.value = "";
    else if (formatOf(option) === "gml") text.value = WpsdMap.toGML(data);
    else text.value = JSON.stringify(data, null, 1);
    written = text.value;
    say("");
  }
  const group = WpsdMap.drawTools(map, ["point", "polygon", "rectangle"], write, false);

  // Another format: the drawing is written again in it, unless the text was typed since.
  media.addEventListener("change", () => {
    if (formatOf(chosen()) && written !== null && text.value === written) write(group);
  });

  function draw() {
    const value = text.value.trim();
    let collection;
    say("");
    if (value.startsWith("<")) {
      const gml = firstOf("gml");
      if (!gml) return;  // XML, where no GML is taken: left to the server to judge
      let parsed;
      try {
        parsed = WpsdMap.parseGML(value);
      } catch (e) { say(`Not drawn: ${e.message}.`); return; }
      if (parsed.problems.length) say(`Not all drawn: ${parsed.problems.join("; ")}.`);
      if (formatOf(chosen()) !== "gml") media.value = gml.value;
      collection = parsed.collection;
    } else {
      try { collection = JSON.parse(value); } catch (e) { return; }
      if (!WpsdMap.isGeoJSON(collection)) return;
      const geo = firstOf("geojson");
      if (!geo) { say("Not drawn: this input takes GML, not GeoJSON."); return; }
      if (formatOf(chosen()) === "gml") media.value = geo.value;
    }
    group.clearLayers();
    written = null;
    try {
      const layer = WpsdMap.geoJSONLayer(collection, WpsdMap.STYLE);
      layer.eachLayer((shape) => group.addLayer(shape));
      WpsdMap.show(map, group);
    } catch (e) { /* not drawable: left to the server to judge */ }
  }
  text.addEventListener("change", draw);
  const upload = field.querySelector("input[type=file]");
  if (upload) {
    upload.addEventListener("change", async () => {
      const file = upload.files[0];
      if (!file) return;
      text.value = await file.text();
      draw();
    });
  }
}

for (const element of document.querySelectorAll("[data-map]")) {
  const field = element.closest("[data-input]");
  if (typeof L === "undefined") { element.hidden = true; continue; }  // no map library
  if (element.dataset.map === "bbox") bboxMap(field, element); else geometryMap(field, element);
}

function problem(status, text) {
  // One message for an error: the detail of the problem document (not its JSON twice).
  let detail = text;
  try {
    const doc = JSON.parse(text);
    detail = doc.detail || doc.title || text;
  } catch (e) { /* not JSON: shown as it is */ }
  const box = document.createElement("p");
  box.className = "error";
  box.id = "error";
  box.textContent = `${detail} (HTTP ${status})`;
  return box;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const inputs = {};
  for (const field of form.querySelectorAll("[data-input]")) {
    const id = field.dataset.input, kind = field.dataset.kind;
    const control = field.querySelector(`[name="${id}"]`);
    if (kind === "boolean") { inputs[id] = control.checked; continue; }
    const text = control.value.trim();
    if (!text) continue;
    if (kind === "number" || kind === "integer") inputs[id] = Number(text);
    else if (kind === "bbox") {
      inputs[id] = {bbox: parseNumbers(text),
                    crs: field.querySelector(`[name="${id}-crs"]`).value};
    } else if (kind === "complex") {
      const mediaType = field.querySelector(`[name="${id}-mediaType"]`).value;
      let value = text;
      if (mediaType.includes("json")) { try { value = JSON.parse(text); } catch (e) {} }
      inputs[id] = {value: value, mediaType: mediaType};
    } else inputs[id] = text;
  }
  const outcome = document.getElementById("outcome");
  outcome.replaceChildren();
  const response = await fetch(form.dataset.url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json",
              "Prefer": "respond-async"},
    body: JSON.stringify({inputs: inputs, response: "document"}),
  });
  if (response.status === 201) {
    // A page of its own, in the history: the job page can be bookmarked and reloaded.
    window.location.assign(response.headers.get("Location") + "?f=html");
  } else if (response.ok) {
    // Executed at once (a process that keeps no jobs): its results, shown here.
    const section = document.createElement("div");
    section.id = "results-body";
    outcome.appendChild(section);
    WpsdResults.render(section, await response.json());
  } else {
    outcome.appendChild(problem(response.status, await response.text()));
    outcome.scrollIntoView({block: "nearest"});
  }
});
