// Line charts as SVG, with optional bands (min-max over seeds). No library: the viewer works offline.
(function () {
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22"];

function svgEl(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

// About `count` round tick values covering [lo, hi].
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  ticks.step = step;
  return ticks;
}

// A tick's text, with as many decimals as the tick spacing `step` needs (1599, 1600, 1601 stay distinct).
function tickLabel(v, step) {
  const a = Math.abs(v);
  if (a >= 1e6 || (a > 0 && a < 1e-3 && step < 1e-3)) return v.toExponential(Math.max(0, Math.floor(Math.log10(a / step))));
  if (a >= 1e4 && step >= 100) return +(v / 1e3).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e3)))) + "k";
  const text = String(+step.toPrecision(6));
  return v.toFixed(text.includes("e") ? 6 : (text.split(".")[1] || "").length);  // 0.025 steps: 0.125, 0.150
}

// series: [{name, x: [], y: [], lo?: [], hi?: [], color?}]; returns a <figure> holding the SVG and a legend.
function lineChart(series, opts) {
  const o = Object.assign({ width: 720, height: 260, xLabel: "", yLabel: "", title: "" }, opts || {});
  const m = { l: 56, r: 22, t: o.title ? 22 : 8, b: 34 };
  const fig = document.createElement("figure");
  fig.className = "chart";
  const svg = svgEl("svg", { viewBox: `0 0 ${o.width} ${o.height}`, width: o.width, height: o.height, role: "img" });
  fig.appendChild(svg);
  const finite = (v) => typeof v === "number" && isFinite(v);
  let xs = [], ys = [];
  series.forEach((s) => {
    s.x.forEach((x, i) => {
      if (!finite(x)) return;
      for (const arr of [s.y, s.lo, s.hi]) if (arr && finite(arr[i])) { xs.push(x); ys.push(arr[i]); }
    });
  });
  if (o.title) {
    const t = svgEl("text", { x: m.l, y: 14, class: "chart-title" });
    t.textContent = o.title;
    svg.appendChild(t);
  }
  if (!xs.length) {
    const t = svgEl("text", { x: o.width / 2, y: o.height / 2, "text-anchor": "middle", class: "chart-empty" });
    t.textContent = "no data yet";
    svg.appendChild(t);
    return fig;
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const W = o.width - m.l - m.r, H = o.height - m.t - m.b;
  const px = (x) => m.l + ((x - x0) / (x1 - x0)) * W;
  const py = (y) => m.t + H - ((y - y0) / (y1 - y0)) * H;
  const axes = svgEl("g", { class: "axes" });
  const yt = niceTicks(y0, y1, 5), xt = niceTicks(x0, x1, 6);
  yt.filter((t) => t >= y0 && t <= y1).forEach((t) => {
    axes.appendChild(svgEl("line", { x1: m.l, x2: m.l + W, y1: py(t), y2: py(t), class: "grid" }));
    const l = svgEl("text", { x: m.l - 6, y: py(t) + 4, "text-anchor": "end" });
    l.textContent = tickLabel(t, yt.step);
    axes.appendChild(l);
  });
  xt.filter((t) => t >= x0 && t <= x1).forEach((t) => {
    axes.appendChild(svgEl("line", { x1: px(t), x2: px(t), y1: m.t + H, y2: m.t + H + 4, class: "tick" }));
    const l = svgEl("text", { x: px(t), y: m.t + H + 16, "text-anchor": "middle" });
    l.textContent = tickLabel(t, xt.step);
    axes.appendChild(l);
  });
  axes.appendChild(svgEl("rect", { x: m.l, y: m.t, width: W, height: H, class: "frame" }));
  const xl = svgEl("text", { x: m.l + W / 2, y: o.height - 4, "text-anchor": "middle", class: "axis-label" });
  xl.textContent = o.xLabel;
  axes.appendChild(xl);
  const yl = svgEl("text", { x: 12, y: m.t + H / 2, "text-anchor": "middle", class: "axis-label",
    transform: `rotate(-90 12 ${m.t + H / 2})` });
  yl.textContent = o.yLabel;
  axes.appendChild(yl);
  svg.appendChild(axes);
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, k) => {
    const color = s.color || PALETTE[k % PALETTE.length];
    if (s.lo && s.hi) {
      const top = [], bottom = [];
      s.x.forEach((x, i) => {
        if (finite(x) && finite(s.lo[i]) && finite(s.hi[i])) { top.push(`${px(x)},${py(s.hi[i])}`); bottom.unshift(`${px(x)},${py(s.lo[i])}`); }
      });
      if (top.length) svg.appendChild(svgEl("polygon", { points: top.concat(bottom).join(" "), fill: color, class: "band" }));
    }
    let d = "", pen = "M";
    s.x.forEach((x, i) => {
      if (finite(x) && finite(s.y[i])) { d += `${pen}${px(x).toFixed(1)},${py(s.y[i]).toFixed(1)}`; pen = "L"; } else pen = "M";
    });
    const path = svgEl("path", { d, stroke: color, class: "series", "data-name": s.name });
    svg.appendChild(path);
    const n = s.y.filter(finite).length;
    if (n === 1) {  // a single point draws no line: mark it
      const i = s.y.findIndex(finite);
      svg.appendChild(svgEl("circle", { cx: px(s.x[i]), cy: py(s.y[i]), r: 3, fill: color }));
    }
    const item = document.createElement("span");
    item.className = "legend-item";
    const sw = document.createElement("i");
    sw.style.background = color;
    item.append(sw, document.createTextNode(s.name));
    legend.appendChild(item);
  });
  fig.appendChild(legend);
  return fig;
}

window.credoPlot = { lineChart, PALETTE };
})();
