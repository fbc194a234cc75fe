// The process form: builds an OGC API execute request from the fields and submits a job.
const form = document.getElementById("execute");
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
    else if (kind === "bbox") inputs[id] = {bbox: text.split(",").map(Number)};
    else if (kind === "complex") {
      const mediaType = field.querySelector(`[name="${id}-mediaType"]`).value;
      let value = text;
      if (mediaType.includes("json")) { try { value = JSON.parse(text); } catch (e) {} }
      inputs[id] = {value: value, mediaType: mediaType};
    } else inputs[id] = text;
  }
  const response = await fetch(form.dataset.url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json",
              "Prefer": "respond-async"},
    body: JSON.stringify({inputs: inputs, response: "document"}),
  });
  const outcome = document.getElementById("outcome");
  if (response.status === 201) {
    window.location = response.headers.get("Location") + "?f=html";
  } else {
    const text = await response.text();
    outcome.innerHTML = "";
    const pre = document.createElement("pre");
    pre.textContent = `HTTP ${response.status}\n${text}`;
    outcome.appendChild(pre);
  }
});
