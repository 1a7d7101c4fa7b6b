// The leaderboard site: sortable tables, the row filter, and the charts, from the JSON each page
// embeds (a page opened from disk cannot fetch() files). Text goes in through textContent only.
"use strict";
const DATA = JSON.parse(document.getElementById("site-data").textContent);
const COLORS = { oracle: "#7a7f8a", paper: "#2458b3", since: "#c25a00", other: "#2e8b57" };

function sortValue(row, i) {
  const v = row.cells[i] ? row.cells[i].dataset.v : "";
  const n = Number(v);
  return v !== "" && Number.isFinite(n) ? n : v;
}

function sortTable(table, i, th) {
  const numeric = [...table.tBodies[0].rows].some((r) => typeof sortValue(r, i) === "number");
  const current = th.getAttribute("aria-sort");
  const dir = current ? (current === "ascending" ? "descending" : "ascending") : (numeric ? "descending" : "ascending");
  table.tHead.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const sign = dir === "ascending" ? 1 : -1;
  const rows = [...table.tBodies[0].rows];
  rows.sort((a, b) => {
    const x = sortValue(a, i), y = sortValue(b, i);
    if (x === "" || y === "") return (x === "") - (y === "");  // no value: always last
    if (typeof x === "number" && typeof y === "number") return sign * (x - y);
    return sign * String(x).localeCompare(String(y));
  });
  rows.forEach((r) => table.tBodies[0].appendChild(r));
}

document.querySelectorAll("table.sortable").forEach((table) => {
  table.tHead.querySelectorAll("th").forEach((th, i) => {
    th.addEventListener("click", () => sortTable(table, i, th));
    th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortTable(table, i, th); });
  });
});

const boxes = [...document.querySelectorAll("#filters input[type=checkbox]")];
const search = document.getElementById("search");
function shown() { return new Set(boxes.filter((b) => b.checked).map((b) => b.value)); }
function visible(on, kind, variant, name) {
  const q = search ? search.value.trim().toLowerCase() : "";
  return on.has(kind) && (!variant || on.has("variant")) && (!q || name.toLowerCase().includes(q));
}
function applyFilter() {
  const on = shown();
  document.querySelectorAll("tr[data-kind]").forEach((tr) => {
    tr.hidden = !visible(on, tr.dataset.kind, tr.dataset.variant === "1", tr.dataset.name);
  });
  drawCharts();
}
boxes.forEach((b) => b.addEventListener("change", applyFilter));
if (search) search.addEventListener("input", applyFilter);

const LAYOUT = { margin: { l: 170, r: 20, t: 36, b: 40 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
const CONFIG = { displaylogo: false, responsive: true };

function drawCharts() {
  if (!window.Plotly || !DATA.charts) return;
  const on = shown();
  document.querySelectorAll("[data-chart]").forEach((div) => {
    const spec = DATA.charts[div.dataset.chart];
    const rows = spec.rows.filter((r) => visible(on, r.kind, r.variant, r.label)).reverse();
    const y = rows.map((r) => r.label);
    const traces = [{
      type: "scatter", mode: "markers", name: "ours (95% CI)", x: rows.map((r) => r.mean), y,
      marker: { color: rows.map((r) => COLORS[r.kind] || "#444"), size: 8 },
      error_x: { type: "data", symmetric: false, color: "#8895aa",
                 array: rows.map((r) => (r.hi === null ? 0 : r.hi - r.mean)),
                 arrayminus: rows.map((r) => (r.lo === null ? 0 : r.mean - r.lo)) },
      text: rows.map((r) => `n=${r.n}`), hovertemplate: "%{y}: %{x:.2f} (%{text})<extra></extra>",
    }];
    const pub = rows.filter((r) => r.published !== null);
    if (pub.length) traces.push({ type: "scatter", mode: "markers", name: "published", x: pub.map((r) => r.published),
      y: pub.map((r) => r.label), marker: { symbol: "diamond-open", color: "#222", size: 9 },
      hovertemplate: "%{y}: published %{x:.2f}<extra></extra>" });
    const layout = { ...LAYOUT, title: { text: spec.title, font: { size: 13 }, x: 0, xanchor: "left" },
      height: 100 + 22 * rows.length,
      xaxis: { title: { text: "test mAP (%)" }, gridcolor: "#e6e9ef" }, yaxis: { automargin: true },
      showlegend: pub.length > 0, legend: { orientation: "h", x: 1, xanchor: "right", y: 1.0, yanchor: "bottom" } };
    Plotly.react(div, traces, layout, CONFIG);
    if (!div.dataset.linked) {  // a click on a point opens its cell
      div.dataset.linked = "1";
      div.on("plotly_click", (ev) => {
        const row = spec.rows.find((r) => r.label === ev.points[0].y);
        if (row) window.location.href = row.href;
      });
    }
  });
}

function drawCurves() {
  const select = document.getElementById("metric");
  if (!window.Plotly || !select || !DATA.metrics) return;
  DATA.metrics.forEach((m) => { const o = document.createElement("option"); o.value = m; o.textContent = m; select.appendChild(o); });
  const draw = () => {
    const m = select.value;
    const traces = DATA.curves.map((c) => ({ type: "scatter", mode: "lines+markers", name: c.label,
      x: c.history.map((h) => h.epoch), y: c.history.map((h) => (typeof h[m] === "number" ? h[m] : null)) }));
    Plotly.react("curves", traces, { ...LAYOUT, margin: { l: 60, r: 20, t: 20, b: 40 }, height: 380,
      xaxis: { title: { text: "epoch" }, dtick: 1 }, yaxis: { title: { text: m } } }, CONFIG);
  };
  select.addEventListener("change", draw);
  draw();
}

drawCharts();
drawCurves();
