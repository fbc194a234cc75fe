// The live job page: progress pushed by the server (Server-Sent Events), results, Dismiss.
"use strict";
const jobUrl = document.getElementById("job").dataset.url;
const bar = document.getElementById("bar");
bar.style.width = bar.dataset.progress + "%";
const results = document.getElementById("results");
const ENDED = ["successful", "failed", "dismissed"];
function show(info) {
  const status = document.getElementById("status");
  status.textContent = info.status;
  status.className = "badge " + info.status;
  document.getElementById("bar").style.width = info.progress + "%";
  document.getElementById("percent").textContent = info.progress;
  const message = document.getElementById("message");
  message.textContent = info.message || "";
  message.classList.toggle("failure", info.status === "failed");  // the job's error, in red
  document.getElementById("dismiss").hidden = ENDED.includes(info.status);
}
async function showResults(info) {
  const response = await fetch(jobUrl + "/results", {headers: {"Accept": "application/json"}});
  const body = document.createElement("div");
  body.id = "results-body";
  if (response.ok) {
    const heading = document.createElement("h2");
    heading.textContent = "Results";
    results.replaceChildren(heading, body);
    // not always JSON: a job may have asked for its outputs raw
    WpsdResults.render(body, await WpsdResults.read(response));
    return;
  }
  // A failed job: its error, once (the status message often says the same already).
  let detail = await response.text();
  try { detail = JSON.parse(detail).detail || detail; } catch (e) { /* shown as it is */ }
  if (detail && detail !== info.message) {
    const error = document.createElement("p");
    error.className = "error";
    error.textContent = detail;
    body.appendChild(error);
  }
  results.replaceChildren(body);
}
// Live progress without polling: the server pushes every change of the job.
const events = new EventSource(jobUrl + "/events");
events.addEventListener("status", (event) => {
  const info = JSON.parse(event.data);
  show(info);
  if (ENDED.includes(info.status)) {
    events.close();
    if (info.status !== "dismissed") showResults(info);
  }
});
document.getElementById("dismiss").addEventListener("click", async () => {
  const response = await fetch(jobUrl, {method: "DELETE"});
  if (response.ok) show(await response.json());
});
