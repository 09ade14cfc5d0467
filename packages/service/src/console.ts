/**
 * The web console: one page that keeps the API key in localStorage, lists the key's trainings (status, stage,
 * progress, loss), builds the submit form from the input JSON Schema in /openapi.json (defaults, ranges, enums) and
 * links the outputs of completed ones.
 */
export function consolePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>a2v trainings</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}
label{display:block;margin:.3em 0}label span{display:inline-block;width:260px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em;text-align:left}
.err{color:#b00}
</style></head><body>
<h1>a2v trainings</h1>
<p><label><span>API key</span><input id="key" type="password" size="50"></label></p>
<h2>Trainings</h2>
<table><thead><tr><th>request</th><th>status</th><th>stage</th><th>progress</th><th>loss</th><th>outputs</th></tr></thead>
<tbody id="list"></tbody></table>
<h2>New training</h2>
<form id="form"></form>
<p id="result"></p>
<script>
const $ = (id) => document.getElementById(id);
const keyEl = $("key");
keyEl.value = localStorage.getItem("a2v-key") || "";
keyEl.onchange = () => { localStorage.setItem("a2v-key", keyEl.value); refresh(); };
const headers = () => ({ authorization: "Key " + keyEl.value, "content-type": "application/json" });
let schema;
async function buildForm() {
  const doc = await (await fetch("/openapi.json")).json();
  schema = doc.paths["/a2v"].post.requestBody.content["application/json"].schema;
  const form = $("form");
  for (const [name, p] of Object.entries(schema.properties)) {
    if (p.type === "array") continue;
    const label = document.createElement("label");
    label.title = p.description || "";
    const span = document.createElement("span"); span.textContent = name; label.append(span);
    let input;
    if (p.enum) {
      input = document.createElement("select");
      for (const v of p.enum) { const o = document.createElement("option"); o.value = o.textContent = String(v); input.append(o); }
    } else if (p.type === "boolean") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = p.default === true;
    } else {
      input = document.createElement("input");
      input.type = p.type === "integer" || p.type === "number" ? "number" : "text";
      if (p.minimum !== undefined) input.min = p.minimum;
      if (p.maximum !== undefined) input.max = p.maximum;
      if (p.type === "number") input.step = "any";
    }
    input.name = name; input.dataset.type = p.type || (p.enum && typeof p.enum[0]);
    if (p.default !== undefined && p.type !== "boolean") input.value = String(p.default);
    label.append(input); form.append(label);
  }
  const button = document.createElement("button"); button.type = "submit"; button.textContent = "Train"; form.append(button);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const body = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      const p = schema.properties[el.name];
      if (el.type === "checkbox") { if (el.checked !== (p.default === true)) body[el.name] = el.checked; continue; }
      if (el.value === "" || el.value === String(p.default)) continue;
      body[el.name] = el.dataset.type === "integer" || el.dataset.type === "number" ? Number(el.value) : el.value;
    }
    const res = await fetch("/a2v", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    const out = await res.json();
    $("result").className = res.ok ? "" : "err";
    $("result").textContent = res.ok ? "submitted " + out.request_id
      : out.message + ": " + (out.details || []).map((d) => (d.path || []).join(".") + " " + d.message).join("; ");
    refresh();
  };
}
const curves = new Map();
/** The loss curve from the "step N/M loss X" log lines, as a small SVG polyline. */
function lossCurve(logs) {
  const pts = [];
  for (const l of logs) { const m = /^step (\\d+)\\/(\\d+) loss ([\\d.eE+-]+)/.exec(l.message); if (m) pts.push([+m[1], +m[2], +m[3]]); }
  if (pts.length < 2) return "";
  const lo = Math.min(...pts.map((p) => p[2])), hi = Math.max(...pts.map((p) => p[2])) || 1;
  const line = pts.map((p) => ((p[0] / p[1]) * 120).toFixed(1) + "," + (28 - ((p[2] - lo) / (hi - lo || 1)) * 26).toFixed(1)).join(" ");
  return ' <svg class="loss" width="120" height="30"><polyline fill="none" stroke="#36c" points="' + line + '"/></svg>';
}
async function refresh() {
  if (!keyEl.value) return;
  const res = await fetch("/a2v/requests", { headers: headers() });
  if (!res.ok) return;
  const { requests } = await res.json();
  const rows = [];
  for (const r of requests) {
    let curve = curves.get(r.request_id) || "";
    if (r.status === "IN_PROGRESS" || (r.status === "COMPLETED" && !curves.has(r.request_id))) {
      const s = await (await fetch(r.response_url + "/status?logs=1", { headers: headers() })).json();
      curve = lossCurve(s.logs || []);
      curves.set(r.request_id, curve);
    }
    let outputs = "";
    if (r.status === "COMPLETED") {
      const o = await (await fetch(r.response_url, { headers: headers() })).json();
      outputs = ["lora_file", "config_file", "debug_dataset", "video"].filter((f) => o[f])
        .map((f) => '<a href="#" data-url="' + o[f].url + '" data-name="' + o[f].file_name + '">' + f + "</a>").join(" ");
    }
    const progress = r.steps ? r.step + "/" + r.steps : r.queue_position !== undefined ? "#" + r.queue_position + " in queue" : "";
    rows.push('<tr data-id="' + r.request_id + '" data-status="' + r.status + '"><td>' + r.request_id + "</td><td>" + r.status +
      (r.error ? ' <span class="err">' + r.error.code + "</span>" : "") + "</td><td>" + (r.stage || "") + "</td><td>" +
      progress + "</td><td>" + (r.loss !== undefined ? r.loss.toFixed(4) : "") + curve + "</td><td>" + outputs + "</td></tr>");
  }
  $("list").innerHTML = rows.join("");
  for (const a of $("list").querySelectorAll("a[data-url]")) a.onclick = async (e) => {
    e.preventDefault();
    const blob = await (await fetch(a.dataset.url, { headers: headers() })).blob();
    const link = document.createElement("a"); link.href = URL.createObjectURL(blob); link.download = a.dataset.name; link.click();
  };
}
buildForm().then(refresh);
setInterval(refresh, 2000);
</script></body></html>`;
}
