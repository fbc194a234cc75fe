// The live job page: progress pushed by the server (Server-Sent Events), results, Dismiss.
const jobUrl = document.getElementById("job").dataset.url;
const bar = document.getElementById("bar");
bar.style.width = bar.dataset.progress + "%";
const results = document.getElementById("results");
function show(info) {
  const status = document.getElementById("status");
  status.textContent = info.status;
  status.className = "badge " + info.status;
  document.getElementById("bar").style.width = info.progress + "%";
  document.getElementById("percent").textContent = info.progress;
  document.getElementById("message").textContent = info.message || "";
  const ended = ["successful", "failed", "dismissed"].includes(info.status);
  document.getElementById("dismiss").hidden = ended;
}
async function showResults() {
  const response = await fetch(jobUrl + "/results", {headers: {"Accept": "application/json"}});
  const pre = document.createElement("pre");
  pre.id = "results-body";
  pre.textContent = await response.text();
  results.replaceChildren(pre);
}
// Live progress without polling: the server pushes every change of the job.
const events = new EventSource(jobUrl + "/events");
events.addEventListener("status", (event) => {
  const info = JSON.parse(event.data);
  show(info);
  if (["successful", "failed", "dismissed"].includes(info.status)) {
    events.close();
    if (info.status !== "dismissed") showResults();
  }
});
document.getElementById("dismiss").addEventListener("click", async () => {
  const response = await fetch(jobUrl, {method: "DELETE"});
  if (response.ok) show(await response.json());
});
