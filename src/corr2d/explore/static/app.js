// corr2d explore: the page. Every number shown comes from the server's JSON API, which
// computes it with corr2d; this script only lays values out, lights cells and keeps the
// view in the URL (after '#', so a view can be bookmarked or shared).
"use strict";

(() => {
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  // Measurements the browser tests read: hover latency (ms) and first paint.
  const timings = (window.corr2dTimings = { hover: [], requests: 0 });

  // --- the API --------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `the server answered ${status}`);
      this.status = status;
      this.field = body && body.field;
      this.cell = body && body.cell;
    }
  }

  async function api(path, body, options = {}) {
    const init = { method: body === undefined ? "GET" : "POST", headers: { "X-Corr2d-Token": TOKEN } };
    if (body instanceof Blob) {
      init.body = body;
      init.headers["Content-Type"] = "application/octet-stream";
      init.headers["X-Corr2d-Filename"] = encodeURIComponent(options.filename || "upload");
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    if (options.keepalive) init.keepalive = true;
    timings.requests += 1;
    let response;
    try {
      response = await fetch(`/api/${path}`, init);
    } catch (error) {
      throw new ApiError(0, { error: "the corr2d explore server does not answer (was it stopped?)" });
    }
    if (options.raw && response.ok) return response;
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (error) {
      parsed = null;
    }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  // A 2-D float64 array sent as {shape, data: base64 little-endian}.
  function decode(encoded) {
    const bytes = Uint8Array.from(atob(encoded.data), (c) => c.charCodeAt(0));
    const data = new Float64Array(bytes.buffer);
    const [h, w] = encoded.shape;
    return { h, w, data, at: (i, j) => data[i * w + j] };
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  const paren = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function setMessage(id, text) {
    $(id).textContent = text || "";
  }

  // --- state in the URL -----------------------------------------------------------------

  const rowsText = (rows) => rows.map((r) => r.join(",")).join(";");
  const parseRowsText = (text) => text.split(";").map((r) => r.split(","));

  const defaults = {
    tab: "corr",
    corr: {
      src: "grid", size: 512, x: [["0", "1", "2"], ["3", "4", "5"], ["6", "7", "8"]],
      k: [["0", "1"], ["2", "3"]], op: "correlation", pad: "valid", bd: "fill", fill: "0",
      s: 1, d: 1, pin: null,
    },
    edges: { x: chapterImage() },
    learn: {
      data: "chapter", t: [["1", "-1"]], init: "chapter", seed: 0, opt: "sgd", lr: "0.03",
      steps: 20, loss: "squared", bias: false, rate: "40", prows: 3, pcols: 3,
    },
    rf: { layers: ["3x3", "3x3/d2", "3x3/d4"], rows: 24, cols: 24 },
  };

  function chapterImage() {
    const rows = [];
    for (let i = 0; i < 6; i += 1) rows.push([1, 1, 0, 0, 0, 0, 1, 1]);
    return rows;
  }

  const state = JSON.parse(JSON.stringify(defaults));

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const c = state.corr, e = state.edges, l = state.learn, r = state.rf;
    const int = (key, fallback) => (p.has(key) && /^\d+$/.test(p.get(key)) ? Number(p.get(key)) : fallback);
    if (p.has("tab")) state.tab = p.get("tab");
    if (p.has("src")) c.src = p.get("src");
    c.size = int("size", c.size);
    if (p.has("x")) c.x = parseRowsText(p.get("x"));
    if (p.has("k")) c.k = parseRowsText(p.get("k"));
    if (p.has("op")) c.op = p.get("op");
    if (p.has("pad")) c.pad = p.get("pad");
    if (p.has("bd")) c.bd = p.get("bd");
    if (p.has("fill")) c.fill = p.get("fill");
    c.s = int("s", c.s);
    c.d = int("d", c.d);
    if (p.has("pin")) {
      const pin = p.get("pin").split(",").map(Number);
      c.pin = pin.length === 2 && pin.every(Number.isInteger) ? pin : null;
    }
    if (p.has("ex")) e.x = p.get("ex").split(";").map((row) => Array.from(row, (ch) => (ch === "1" ? 1 : 0)));
    if (p.has("ldata")) l.data = p.get("ldata");
    if (p.has("lt")) l.t = parseRowsText(p.get("lt"));
    for (const key of ["init", "opt", "lr", "loss", "rate"]) if (p.has(`l${key}`)) l[key] = p.get(`l${key}`);
    l.seed = int("lseed", l.seed);
    l.steps = int("lsteps", l.steps);
    if (p.has("lbias")) l.bias = p.get("lbias") === "1";
    if (p.has("rl")) r.layers = p.get("rl").split(" ").filter(Boolean);
    if (p.has("rin")) {
      const [rows, cols] = p.get("rin").split("x").map(Number);
      if (rows > 0 && cols > 0) Object.assign(r, { rows, cols });
    }
  }

  const writeHash = debounce(() => {
    const c = state.corr, l = state.learn, r = state.rf;
    const p = new URLSearchParams();
    p.set("tab", state.tab);
    p.set("src", c.src);
    if (c.src.startsWith("sample:")) p.set("size", c.size);
    if (c.src === "grid") p.set("x", rowsText(c.x));
    p.set("k", rowsText(c.k));
    p.set("op", c.op);
    p.set("pad", c.pad);
    p.set("bd", c.bd);
    if (c.fill !== "0") p.set("fill", c.fill);
    p.set("s", c.s);
    p.set("d", c.d);
    if (c.pin) p.set("pin", c.pin.join(","));
    p.set("ex", state.edges.x.map((row) => row.join("")).join(";"));
    p.set("ldata", l.data);
    p.set("lt", rowsText(l.t));
    for (const key of ["init", "opt", "lr", "loss", "rate"]) p.set(`l${key}`, l[key]);
    p.set("lseed", l.seed);
    p.set("lsteps", l.steps);
    p.set("lbias", l.bias ? "1" : "0");
    p.set("rl", r.layers.join(" "));
    p.set("rin", `${r.rows}x${r.cols}`);
    history.replaceState(null, "", `${location.pathname}${location.search}#${p.toString()}`);
  }, 120);

  function resizeRows(rows, h, w, fill) {
    const out = [];
    for (let i = 0; i < h; i += 1) {
      const row = [];
      for (let j = 0; j < w; j += 1) row.push(rows[i] && rows[i][j] !== undefined ? rows[i][j] : fill);
      out.push(row);
    }
    return out;
  }

  // --- grids ----------------------------------------------------------------------------

  // A table of h x w cells; `cell(td, i, j)` fills each one.
  function tableGrid(container, h, w, className, cell) {
    const table = document.createElement("table");
    table.className = `grid ${className || ""}`;
    const cells = [];
    for (let i = 0; i < h; i += 1) {
      const tr = table.insertRow();
      const row = [];
      for (let j = 0; j < w; j += 1) {
        const td = tr.insertCell();
        td.dataset.i = i;
        td.dataset.j = j;
        if (cell) cell(td, i, j);
        row.push(td);
      }
      cells.push(row);
    }
    container.replaceChildren(table);
    return { table, cells, h, w };
  }

  // Editable cells bound to rows of text.
  function editableGrid(container, rows, onEdit, label) {
    return tableGrid(container, rows.length, rows[0].length, "editable", (td, i, j) => {
      const input = document.createElement("input");
      input.value = rows[i][j];
      input.setAttribute("aria-label", `${label} row ${i + 1} column ${j + 1}`);
      input.addEventListener("input", () => {
        rows[i][j] = input.value;
        onEdit(i, j);
      });
      td.append(input);
    });
  }

  function valueGrid(container, array, className, classify) {
    return tableGrid(container, array.h, array.w, className, (td, i, j) => {
      const v = array.at(i, j);
      td.textContent = fmt(v);
      if (classify) td.classList.add(...classify(v));
    });
  }

  function clearBad(grid) {
    if (!grid) return;
    for (const td of grid.table.querySelectorAll("td.bad")) td.classList.remove("bad");
  }

  function greyImage(canvas, array) {
    let lo = Infinity, hi = -Infinity;
    for (const v of array.data) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const span = hi > lo ? hi - lo : 1;
    canvas.width = array.w;
    canvas.height = array.h;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(array.w, array.h);
    for (let k = 0; k < array.data.length; k += 1) {
      const g = Math.round(((array.data[k] - lo) / span) * 255);
      image.data[4 * k] = image.data[4 * k + 1] = image.data[4 * k + 2] = g;
      image.data[4 * k + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return { lo, hi };
  }

  // A grey picture of an array with an overlay for highlights; `scale` CSS px per value.
  function canvasView(container, array, scale) {
    const box = document.createElement("div");
    box.className = "canvas-box";
    const base = document.createElement("canvas");
    const overlay = document.createElement("canvas");
    overlay.className = "overlay";
    const range = greyImage(base, array);
    const cssW = Math.max(1, Math.round(array.w * scale));
    const cssH = Math.max(1, Math.round(array.h * scale));
    base.style.width = `${cssW}px`;
    base.style.height = `${cssH}px`;
    overlay.width = cssW;
    overlay.height = cssH;
    overlay.style.width = `${cssW}px`;
    overlay.style.height = `${cssH}px`;
    box.append(base, overlay);
    container.replaceChildren(box);
    return { base, overlay, scale, array, range };
  }

  function kernelOption(k) {
    const option = new Option(k.name, k.name);
    option.title = k.description;
    return option;
  }

  // --- tabs -----------------------------------------------------------------------------

  const panels = {};

  function showTab(tab) {
    if (!panels[tab]) tab = "corr";
    state.tab = tab;
    for (const button of document.querySelectorAll(".tab")) button.classList.toggle("active", button.dataset.tab === tab);
    for (const section of document.querySelectorAll(".panel")) section.classList.toggle("active", section.dataset.panel === tab);
    panels[tab].show();
    writeHash();
  }

  // --- downloads --------------------------------------------------------------------------

  async function downloadKernel(rows, format, name, messageId) {
    try {
      const response = await api("kernel-file", { kernel: rows, format, name }, { raw: true });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = `${name}.${format}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (error) {
      setMessage(messageId, error.message);
    }
  }

  // =====================================================================================
  // Correlation
  // =====================================================================================

  const corr = {
    result: null, inputGrid: null, inputKey: "", kernelGrid: null, outputGrid: null,
    inputCanvas: null, outputCanvas: null, seq: 0, lit: [], hot: null, uploadId: null, started: false,
  };

  function corrSourceSpec() {
    const c = state.corr;
    if (c.src === "grid") return { kind: "grid", cells: c.x };
    if (c.src.startsWith("sample:")) return { kind: "sample", name: c.src.slice(7), size: c.size };
    return { kind: "upload", id: corr.uploadId };
  }

  function corrRequest() {
    const c = state.corr;
    return {
      input: corrSourceSpec(), kernel: c.k, operation: c.op,
      padding: /^\d+$/.test(c.pad) ? Number(c.pad) : c.pad,
      boundary: c.bd, fill: c.fill, stride: c.s, dilation: c.d,
    };
  }

  async function corrCompute() {
    const seq = (corr.seq += 1);
    writeHash();
    if (state.corr.src === "upload" && !corr.uploadId) {
      setMessage("c-message", "choose an image file to upload");
      return;
    }
    let result;
    try {
      result = await api("correlate", corrRequest());
    } catch (error) {
      if (seq !== corr.seq) return;
      corrShowError(error);
      return;
    }
    if (seq !== corr.seq) return;
    setMessage("c-message", "");
    clearBad(corr.inputGrid);
    clearBad(corr.kernelGrid);
    corrRender(result);
  }

  function corrShowError(error) {
    setMessage("c-message", error.message);
    for (const id of ["c-output", "c-applied"]) $(id).classList.add("stale");
    if (error.field === "input" && state.corr.src === "grid" && corrGridShapeChanged()) corrRenderInput(null);
    if (error.cell) {
      const grid = error.field === "kernel" ? corr.kernelGrid : error.field === "input" ? corr.inputGrid : null;
      const [top, left] = error.field === "input" ? corr.pads.map((p) => p[0]) : [0, 0];
      const row = grid && grid.cells[error.cell[0] + top];
      if (row && row[error.cell[1] + left]) row[error.cell[1] + left].classList.add("bad");
    }
  }

  function corrGridShapeChanged() {
    const x = state.corr.x;
    return !corr.inputGrid || corr.inputKey.split("|")[0] !== `${x.length}x${x[0].length}`;
  }

  corr.pads = [[0, 0], [0, 0]];

  function corrRender(result) {
    corr.result = result;
    corr.padded = decode(result.padded);
    corr.applied = decode(result.applied);
    corr.output = decode(result.output);
    corr.pads = result.pads;
    for (const id of ["c-output", "c-applied"]) $(id).classList.remove("stale");
    corrRenderInput(result);
    $("c-applied-box").style.display = state.corr.op === "convolution" ? "" : "none";
    valueGrid($("c-applied"), corr.applied, "compact");
    const o = corr.output;
    const useTable = state.corr.src === "grid" && o.h * o.w <= 48 * 48;
    corr.lit = [];
    corr.hot = null;
    if (useTable) {
      corr.outputCanvas = null;
      corr.outputGrid = valueGrid($("c-output"), o, "output-cells");
      corr.outputGrid.table.addEventListener("mouseover", (event) => {
        const td = event.target.closest("td");
        if (td) corrHover(Number(td.dataset.i), Number(td.dataset.j), event.timeStamp);
      });
      corr.outputGrid.table.addEventListener("click", (event) => {
        const td = event.target.closest("td");
        if (td) corrPin(Number(td.dataset.i), Number(td.dataset.j));
      });
    } else {
      corr.outputGrid = null;
      const scale = corr.inputCanvas ? corr.scale : Math.min(8, 512 / Math.max(o.h, o.w));
      corr.outputCanvas = canvasView($("c-output"), o, scale);
      const overlayHost = corr.outputCanvas.base;
      // The output cell under the pointer (the canvas may be scaled for display).
      const at = (event) => {
        const rect = overlayHost.getBoundingClientRect();
        const s = corr.outputCanvas.scale;
        const y = event.clientY - rect.top - overlayHost.clientTop;
        const x = event.clientX - rect.left - overlayHost.clientLeft;
        return [Math.max(0, Math.min(o.h - 1, Math.floor(y / s))), Math.max(0, Math.min(o.w - 1, Math.floor(x / s)))];
      };
      overlayHost.addEventListener("mousemove", (event) => corrHover(...at(event), event.timeStamp));
      overlayHost.addEventListener("click", (event) => corrPin(...at(event)));
    }
    $("c-input-caption").textContent = `${result.source}${corr.pads.flat().some((p) => p > 0) ? ", padded by the boundary rule" : ""}`;
    $("c-output-caption").textContent = `${o.h}x${o.w} by corr2d.${result.call}`;
    $("c-code-corr2d").textContent = result.code.corr2d;
    $("c-code-torch").textContent = result.code.torch;
    const pin = state.corr.pin;
    if (pin && pin[0] < o.h && pin[1] < o.w) corrShow(pin[0], pin[1], true);
    else {
      state.corr.pin = null;
      $("c-arith").textContent = "Hover an output cell to see its sum; click to pin it.";
    }
  }

  function corrRenderInput(result) {
    const c = state.corr;
    const x = c.x;
    if (c.src !== "grid") {
      corr.inputGrid = null;
      corr.inputKey = "";
      const p = corr.padded;
      corr.scale = Math.min(8, 512 / Math.max(p.h, p.w));
      corr.inputCanvas = canvasView($("c-input"), p, corr.scale);
      return;
    }
    corr.inputCanvas = null;
    const pads = result ? result.pads : [[0, 0], [0, 0]];
    const [[top, bottom], [left, right]] = pads;
    const h = x.length + top + bottom, w = x[0].length + left + right;
    const key = `${x.length}x${x[0].length}|${pads.flat().join(",")}`;
    if (key !== corr.inputKey) {
      corr.inputKey = key;
      corr.inputGrid = tableGrid($("c-input"), h, w, h * w > 24 * 24 ? "compact" : "", (td, i, j) => {
        const r = i - top, q = j - left;
        if (r >= 0 && r < x.length && q >= 0 && q < x[0].length) {
          const input = document.createElement("input");
          input.value = x[r][q];
          input.setAttribute("aria-label", `input row ${r + 1} column ${q + 1}`);
          input.addEventListener("input", () => {
            x[r][q] = input.value;
            corrSchedule();
          });
          td.append(input);
        } else {
          td.classList.add("pad");
        }
      });
    }
    if (result) {
      for (let i = 0; i < h; i += 1) {
        for (let j = 0; j < w; j += 1) {
          const td = corr.inputGrid.cells[i][j];
          if (td.classList.contains("pad")) td.textContent = fmt(corr.padded.at(i, j));
        }
      }
    }
  }

  function corrClearLit() {
    for (const td of corr.lit) td.classList.remove("lit");
    corr.lit = [];
    if (corr.hot) corr.hot.classList.remove("hot", "pinned");
    corr.hot = null;
    if (corr.inputCanvas) {
      const o = corr.inputCanvas.overlay;
      o.getContext("2d").clearRect(0, 0, o.width, o.height);
    }
    if (corr.outputCanvas) {
      const o = corr.outputCanvas.overlay;
      o.getContext("2d").clearRect(0, 0, o.width, o.height);
    }
  }

  // Light output (i, j)'s window and write out its sum.
  function corrShow(i, j, pinned) {
    corrClearLit();
    const k = corr.applied, p = corr.padded, y = corr.output;
    const s = corr.result.stride, d = corr.result.dilation;
    const terms = [];
    const taps = [];
    for (let a = 0; a < k.h; a += 1) {
      for (let b = 0; b < k.w; b += 1) {
        const r = i * s + a * d, q = j * s + b * d;
        taps.push([r, q]);
        terms.push(`${paren(p.at(r, q))}×${paren(k.at(a, b))}`);
      }
    }
    if (corr.inputGrid) {
      for (const [r, q] of taps) {
        const td = corr.inputGrid.cells[r][q];
        td.classList.add("lit");
        corr.lit.push(td);
      }
    } else if (corr.inputCanvas) {
      const ctx = corr.inputCanvas.overlay.getContext("2d");
      const sc = corr.inputCanvas.scale;
      ctx.fillStyle = "rgba(255, 160, 40, 0.55)";
      for (const [r, q] of taps) ctx.fillRect(Math.floor(q * sc), Math.floor(r * sc), Math.max(1, Math.ceil(sc)), Math.max(1, Math.ceil(sc)));
      const [r0, q0] = taps[0], [r1, q1] = taps[taps.length - 1];
      ctx.strokeStyle = "#e8590c";
      ctx.lineWidth = 2;
      ctx.strokeRect(q0 * sc - 1, r0 * sc - 1, (q1 - q0 + 1) * sc + 2, (r1 - r0 + 1) * sc + 2);
    }
    if (corr.outputGrid) {
      corr.hot = corr.outputGrid.cells[i][j];
      corr.hot.classList.add(pinned ? "pinned" : "hot");
    } else if (corr.outputCanvas) {
      const ctx = corr.outputCanvas.overlay.getContext("2d");
      const sc = corr.outputCanvas.scale;
      ctx.strokeStyle = "#e8590c";
      ctx.lineWidth = 2;
      ctx.strokeRect(j * sc - 1, i * sc - 1, Math.max(sc, 1) + 2, Math.max(sc, 1) + 2);
    }
    const shown = terms.length <= 25 ? terms.join(" + ") : `${terms.slice(0, 12).join(" + ")} + … (${terms.length} products)`;
    $("c-arith").textContent = `${pinned ? "pinned " : ""}Y[${i}, ${j}] = ${shown} = ${fmt(y.at(i, j))}`;
  }

  function corrHover(i, j, since) {
    if (state.corr.pin || !corr.result) return;
    corrShow(i, j, false);
    requestAnimationFrame(() => setTimeout(() => timings.hover.push(performance.now() - since), 0));
  }

  function corrPin(i, j) {
    const pin = state.corr.pin;
    state.corr.pin = pin && pin[0] === i && pin[1] === j ? null : [i, j];
    corrShow(i, j, Boolean(state.corr.pin));
    writeHash();
  }

  const corrSchedule = debounce(corrCompute, 120);

  function corrRenderKernel() {
    corr.kernelGrid = editableGrid($("c-kernel"), state.corr.k, () => {
      $("c-preset").value = "";
      corrSchedule();
    }, "kernel");
  }

  function corrSyncControls() {
    const c = state.corr;
    $("c-source").value = c.src;
    $("c-rows").value = c.x.length;
    $("c-cols").value = c.x[0].length;
    $("c-krows").value = c.k.length;
    $("c-kcols").value = c.k[0].length;
    $("c-op").value = c.op;
    $("c-padding").value = /^\d+$/.test(c.pad) ? "n" : c.pad;
    $("c-padn").value = /^\d+$/.test(c.pad) ? c.pad : $("c-padn").value;
    $("c-boundary").value = c.bd;
    $("c-fill").value = c.fill;
    $("c-stride").value = c.s;
    $("c-dilation").value = c.d;
    corrSourceControls();
  }

  function corrSourceControls() {
    const src = state.corr.src;
    $("c-grid-size").style.display = src === "grid" ? "" : "none";
    $("c-size-label").style.display = src.startsWith("sample:") ? "" : "none";
    $("c-upload-label").style.display = src === "upload" ? "" : "none";
    $("c-padn").style.display = /^\d+$/.test(state.corr.pad) ? "" : "none";
    if (src.startsWith("sample:")) {
      const sample = corr.samples.find((s) => s.name === src.slice(7));
      const sizes = sample ? sample.sizes : [];
      $("c-size").replaceChildren(...sizes.map((n) => new Option(`${n}x${n}`, n)));
      if (!sizes.includes(state.corr.size)) state.corr.size = sizes[sizes.length - 1];
      $("c-size").value = state.corr.size;
    }
  }

  function corrInit(info) {
    corr.samples = info.samples;
    const source = $("c-source");
    source.append(new Option("editable cells", "grid"));
    for (const s of info.samples) source.append(new Option(`sample: ${s.title}`, `sample:${s.name}`));
    source.append(new Option("upload an image…", "upload"));
    for (const k of info.kernels) $("c-preset").append(kernelOption(k));
    corrSyncControls();
    corrRenderKernel();
    const intInput = (id, key, lo, hi) => $(id).addEventListener("change", () => {
      const v = Math.max(lo, Math.min(hi, Math.round(Number($(id).value) || lo)));
      $(id).value = v;
      state.corr[key] = v;
      corrCompute();
    });
    intInput("c-stride", "s", 1, 16);
    intInput("c-dilation", "d", 1, 16);
    $("c-source").addEventListener("change", () => {
      state.corr.src = $("c-source").value;
      state.corr.pin = null;
      corrSourceControls();
      if (state.corr.src === "upload" && !corr.uploadId) $("c-upload").click();
      corrCompute();
    });
    $("c-size").addEventListener("change", () => {
      state.corr.size = Number($("c-size").value);
      corrCompute();
    });
    $("c-upload").addEventListener("change", async () => {
      const file = $("c-upload").files[0];
      if (!file) return;
      try {
        const answer = await api("image", file, { filename: file.name });
        corr.uploadId = answer.id;
        setMessage("c-message", "");
        corrCompute();
      } catch (error) {
        setMessage("c-message", error.message);
      }
    });
    const resize = (which) => {
      const c = state.corr;
      // The server says what is too large (grids up to 32x32, kernels up to 15x15);
      // the page only keeps its own tables within reason.
      const [rowsId, colsId, key, max] = which === "x" ? ["c-rows", "c-cols", "x", 64] : ["c-krows", "c-kcols", "k", 64];
      const h = Math.max(1, Math.min(max, Math.round(Number($(rowsId).value) || 1)));
      const w = Math.max(1, Math.min(max, Math.round(Number($(colsId).value) || 1)));
      c[key] = resizeRows(c[key], h, w, "0");
      c.pin = null;
      if (key === "k") {
        $("c-preset").value = "";
        corrRenderKernel();
      }
      corrCompute();
    };
    for (const id of ["c-rows", "c-cols"]) $(id).addEventListener("change", () => resize("x"));
    for (const id of ["c-krows", "c-kcols"]) $(id).addEventListener("change", () => resize("k"));
    $("c-preset").addEventListener("change", async () => {
      const name = $("c-preset").value;
      if (!name) return;
      try {
        const answer = await api("kernel", { spec: name });
        const k = decode(answer.kernel);
        state.corr.k = Array.from({ length: k.h }, (_, i) => Array.from({ length: k.w }, (_, j) => String(k.at(i, j))));
        $("c-krows").value = k.h;
        $("c-kcols").value = k.w;
        state.corr.pin = null;
        corrRenderKernel();
        corrCompute();
      } catch (error) {
        setMessage("c-message", error.message);
      }
    });
    $("c-op").addEventListener("change", () => {
      state.corr.op = $("c-op").value;
      corrCompute();
    });
    const padding = () => {
      state.corr.pad = $("c-padding").value === "n" ? String(Math.max(0, Math.round(Number($("c-padn").value) || 0))) : $("c-padding").value;
      state.corr.pin = null;
      corrSourceControls();
      corrCompute();
    };
    $("c-padding").addEventListener("change", padding);
    $("c-padn").addEventListener("change", padding);
    $("c-boundary").addEventListener("change", () => {
      state.corr.bd = $("c-boundary").value;
      corrCompute();
    });
    $("c-fill").addEventListener("input", () => {
      state.corr.fill = $("c-fill").value;
      corrSchedule();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && state.corr.pin) {
        state.corr.pin = null;
        corrClearLit();
        writeHash();
      }
    });
  }

  panels.corr = {
    show() {
      if (!corr.started) {
        corr.started = true;
        corrCompute();
      }
    },
  };

  // =====================================================================================
  // Edges
  // =====================================================================================

  const edges = { grid: null, seq: 0, painting: false, paintValue: 1, started: false };

  function edgesRenderImage() {
    const x = state.edges.x;
    $("e-rows").value = x.length;
    $("e-cols").value = x[0].length;
    edges.grid = tableGrid($("e-image"), x.length, x[0].length, "paint", (td, i, j) => edgesPaintCell(td, x[i][j]));
  }

  function edgesPaintCell(td, v) {
    td.textContent = String(v);
    td.classList.toggle("on", v === 1);
    td.classList.toggle("off", v === 0);
  }

  function edgesSet(i, j) {
    const x = state.edges.x;
    if (x[i][j] === edges.paintValue) return;
    x[i][j] = edges.paintValue;
    edgesPaintCell(edges.grid.cells[i][j], edges.paintValue);
    edgesSchedule();
  }

  async function edgesCompute() {
    const seq = (edges.seq += 1);
    writeHash();
    const cells = state.edges.x;
    const ask = (kernel) => api("correlate", { input: { kind: "grid", cells }, kernel, padding: "valid" });
    try {
      const [across, down] = await Promise.all([ask([[1, -1]]), ask([[1], [-1]])]);
      if (seq !== edges.seq) return;
      setMessage("e-message", "");
      const sign = (v) => (v > 0 ? ["pos"] : v < 0 ? ["neg"] : []);
      valueGrid($("e-out"), decode(across.output), "compact", sign);
      valueGrid($("e-outT"), decode(down.output), "compact", sign);
    } catch (error) {
      if (seq === edges.seq) setMessage("e-message", error.message);
    }
  }

  const edgesSchedule = debounce(edgesCompute, 40);

  function edgesInit() {
    const image = $("e-image");
    image.addEventListener("mousedown", (event) => {
      const td = event.target.closest("td");
      if (!td) return;
      event.preventDefault();
      const i = Number(td.dataset.i), j = Number(td.dataset.j);
      const mode = $("e-paint").value;
      edges.paintValue = mode === "toggle" ? 1 - state.edges.x[i][j] : Number(mode);
      edges.painting = true;
      edgesSet(i, j);
    });
    image.addEventListener("mouseover", (event) => {
      const td = event.target.closest("td");
      if (edges.painting && td) edgesSet(Number(td.dataset.i), Number(td.dataset.j));
    });
    document.addEventListener("mouseup", () => {
      edges.painting = false;
    });
    const reset = (rows) => {
      state.edges.x = rows;
      edgesRenderImage();
      edgesCompute();
    };
    $("e-chapter").addEventListener("click", () => reset(chapterImage()));
    $("e-ones").addEventListener("click", () => reset(state.edges.x.map((row) => row.map(() => 1))));
    $("e-transpose").addEventListener("click", () => {
      const x = state.edges.x;
      reset(x[0].map((_, j) => x.map((row) => row[j])));
    });
    for (const id of ["e-rows", "e-cols"]) {
      $(id).addEventListener("change", () => {
        const h = Math.max(2, Math.min(32, Number($("e-rows").value) || 2));
        const w = Math.max(2, Math.min(32, Number($("e-cols").value) || 2));
        reset(resizeRows(state.edges.x, h, w, 1));
      });
    }
  }

  panels.edges = {
    show() {
      if (!edges.started) {
        edges.started = true;
        edgesRenderImage();
        edgesCompute();
      }
    },
  };

  // =====================================================================================
  // Learning
  // =====================================================================================

  const learn = {
    run: null, losses: [], state: "none", kernel: null, poll: null, targetGrid: null,
    xUpload: null, yUpload: null, started: false,
  };

  function learnRequest() {
    const l = state.learn;
    const body = {
      optimizer: l.opt, lr: l.lr, steps: l.steps, loss: l.loss, bias: l.bias, init: l.init,
      seed: l.seed, rate: Number(l.rate),
    };
    if (l.data === "pair") {
      body.data = { kind: "pair", x: learn.xUpload, y: learn.yUpload };
      body.kernel_shape = { rows: l.prows, cols: l.pcols };
    } else if (l.data.startsWith("sample:")) {
      const [, name, size] = l.data.split(":");
      body.data = { kind: "sample", name, size: Number(size) };
      body.target = l.t;
    } else {
      body.data = { kind: "chapter" };
      body.target = l.t;
    }
    return body;
  }

  function learnStatus() {
    const n = learn.losses.length;
    const last = n ? learn.losses[n - 1] : null;
    const words = { running: "training", paused: "stopped", done: "done", diverged: "diverged", failed: "failed", ended: "ended" };
    $("l-status").textContent = learn.run
      ? `${words[learn.state] || learn.state}: step ${n} of ${learn.target}, loss ${fmt(last)}`
      : "Press Train.";
    $("l-stop").disabled = learn.state !== "running";
  }

  function learnApply(snapshot) {
    if (snapshot.since === learn.losses.length) learn.losses.push(...snapshot.losses.map((v) => (v === null ? NaN : v)));
    learn.state = snapshot.state;
    learn.target = snapshot.target;
    learn.kernel = decode(snapshot.kernel);
    learn.bias = snapshot.bias;
    valueGrid($("l-kernel"), learn.kernel, "");
    const bias = snapshot.bias === null ? "" : `; bias ${fmt(snapshot.bias)}`;
    $("l-distance").textContent =
      `‖learned − exact‖ = ${fmt(snapshot.distance)} (largest difference ${fmt(snapshot.largest_difference)})${bias}`;
    setMessage("l-message", snapshot.message && snapshot.state !== "ended" ? snapshot.message : "");
    learnStatus();
    learnCurve();
  }

  function learnCurve() {
    const canvas = $("l-curve");
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, L = 52, R = 10, T = 10, B = 26;
    ctx.clearRect(0, 0, W, H);
    const points = learn.losses.map((v, k) => [k + 1, v]).filter(([, v]) => Number.isFinite(v) && v > 0);
    ctx.strokeStyle = "#d5dae0";
    ctx.strokeRect(L, T, W - L - R, H - T - B);
    if (!points.length) return;
    let lo = Math.floor(Math.log10(Math.min(...points.map((p) => p[1]))));
    let hi = Math.ceil(Math.log10(Math.max(...points.map((p) => p[1]))));
    if (hi === lo) hi = lo + 1;
    const steps = Math.max(learn.target || 1, learn.losses.length, 2);
    const x = (k) => L + ((k - 1) / Math.max(1, steps - 1)) * (W - L - R);
    const y = (v) => T + ((hi - Math.log10(v)) / (hi - lo)) * (H - T - B);
    ctx.fillStyle = "#6b7480";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    const every = Math.max(1, Math.ceil((hi - lo) / 6));
    for (let e = lo; e <= hi; e += every) {
      ctx.fillText(`1e${e}`, L - 5, y(10 ** e) + 4);
      ctx.strokeStyle = "#eef1f4";
      ctx.beginPath();
      ctx.moveTo(L, y(10 ** e));
      ctx.lineTo(W - R, y(10 ** e));
      ctx.stroke();
    }
    ctx.textAlign = "center";
    ctx.fillText("1", L, H - 8);
    ctx.fillText(String(steps), W - R - 8, H - 8);
    ctx.fillText("step", (L + W) / 2, H - 8);
    ctx.strokeStyle = "#1c64b8";
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(([k, v], n) => (n ? ctx.lineTo(x(k), y(v)) : ctx.moveTo(x(k), y(v))));
    ctx.stroke();
  }

  function learnSchedulePoll() {
    clearTimeout(learn.poll);
    if (!learn.run) return;
    // Poll fast while training, slowly otherwise (the server ends runs nobody polls).
    learn.poll = setTimeout(learnPoll, learn.state === "running" ? 100 : 4000);
  }

  async function learnPoll() {
    const id = learn.run;
    if (!id) return;
    try {
      const snapshot = await api(`train/${id}?since=${learn.losses.length}`);
      if (id !== learn.run) return;
      learnApply(snapshot);
      if (["diverged", "failed", "ended"].includes(snapshot.state)) {
        learn.poll = null;
        return;
      }
    } catch (error) {
      if (id !== learn.run) return;
      setMessage("l-message", error.message);
      if (error.status === 404) {
        learn.run = null;
        learn.state = "none";
        learnStatus();
        return;
      }
    }
    learnSchedulePoll();
  }

  async function learnTrain() {
    setMessage("l-message", "");
    try {
      if (learn.run && ["paused", "done"].includes(learn.state)) {
        learnApply(await api(`train/${learn.run}/resume`, { steps: state.learn.steps, since: learn.losses.length }));
      } else {
        await learnReset();
        const answer = await api("train", learnRequest());
        learn.run = answer.id;
        learn.losses = [];
        const exact = decode(answer.exact.kernel);
        learn.exact = exact;
        valueGrid($("l-exact"), exact, "");
        const e = answer.exact;
        $("l-exact-note").textContent =
          `residual ${fmt(e.residual)}, rank ${e.rank} of ${e.unknowns}${e.identifiable ? "" : " (not identifiable)"}` +
          (e.bias === null ? "" : `, bias ${fmt(e.bias)}`);
        learnApply(answer.run);
      }
    } catch (error) {
      setMessage("l-message", error.message);
      return;
    }
    learnSchedulePoll();
  }

  async function learnReset() {
    clearTimeout(learn.poll);
    const id = learn.run;
    learn.run = null;
    learn.losses = [];
    learn.state = "none";
    learn.kernel = null;
    $("l-kernel").replaceChildren();
    $("l-distance").textContent = "";
    learnStatus();
    learnCurve();
    if (id) {
      try {
        await api(`train/${id}/end`, {});
      } catch (error) {
        // already ended
      }
    }
  }

  function learnRenderTarget() {
    learn.targetGrid = editableGrid($("l-target"), state.learn.t, () => {
      $("l-preset").value = "";
      writeHash();
      learnReset();
    }, "target");
  }

  function learnSyncControls() {
    const l = state.learn;
    $("l-data").value = l.data;
    $("l-init").value = l.init;
    $("l-seed").value = l.seed;
    $("l-opt").value = l.opt;
    $("l-lr").value = l.lr;
    $("l-steps").value = l.steps;
    $("l-loss").value = l.loss;
    $("l-bias").checked = l.bias;
    $("l-rate").value = l.rate;
    $("l-trows").value = l.t.length;
    $("l-tcols").value = l.t[0].length;
    const pair = l.data === "pair";
    $("l-pair").style.display = pair ? "" : "none";
    $("l-target-controls").style.display = pair ? "none" : "";
    $("l-target").parentElement.style.display = pair ? "none" : "";
  }

  function learnInit(info) {
    const data = $("l-data");
    data.append(new Option("the chapter's 6x8 edge image", "chapter"));
    for (const s of info.samples) for (const n of [32, 64]) if (s.sizes.some((m) => m >= n)) data.append(new Option(`${s.title}, ${n}x${n}, scaled to [0, 1]`, `sample:${s.name}:${n}`));
    data.append(new Option("upload an X, Y pair…", "pair"));
    for (const k of info.kernels) $("l-preset").append(kernelOption(k));
    learnSyncControls();
    learnRenderTarget();
    const bind = (id, key, parse, event = "change") => $(id).addEventListener(event, () => {
      state.learn[key] = parse($(id));
      learnSyncControls();
      writeHash();
      learnReset();
    });
    bind("l-data", "data", (e) => e.value);
    bind("l-init", "init", (e) => e.value);
    bind("l-seed", "seed", (e) => Math.max(0, Math.round(Number(e.value) || 0)));
    bind("l-opt", "opt", (e) => e.value);
    bind("l-lr", "lr", (e) => e.value, "input");
    bind("l-steps", "steps", (e) => Math.max(1, Math.round(Number(e.value) || 1)));
    bind("l-loss", "loss", (e) => e.value);
    bind("l-bias", "bias", (e) => e.checked);
    bind("l-rate", "rate", (e) => e.value);
    bind("l-prows", "prows", (e) => Math.max(1, Math.min(15, Number(e.value) || 1)));
    bind("l-pcols", "pcols", (e) => Math.max(1, Math.min(15, Number(e.value) || 1)));
    for (const id of ["l-trows", "l-tcols"]) {
      $(id).addEventListener("change", () => {
        const h = Math.max(1, Math.min(15, Number($("l-trows").value) || 1));
        const w = Math.max(1, Math.min(15, Number($("l-tcols").value) || 1));
        state.learn.t = resizeRows(state.learn.t, h, w, "0");
        learnRenderTarget();
        writeHash();
        learnReset();
      });
    }
    $("l-preset").addEventListener("change", async () => {
      const name = $("l-preset").value;
      if (!name) return;
      try {
        const k = decode((await api("kernel", { spec: name })).kernel);
        state.learn.t = Array.from({ length: k.h }, (_, i) => Array.from({ length: k.w }, (_, j) => String(k.at(i, j))));
        learnSyncControls();
        learnRenderTarget();
        writeHash();
        learnReset();
      } catch (error) {
        setMessage("l-message", error.message);
      }
    });
    const upload = (inputId, key) => $(inputId).addEventListener("change", async () => {
      const file = $(inputId).files[0];
      if (!file) return;
      try {
        learn[key] = (await api("image", file, { filename: file.name })).id;
        setMessage("l-message", "");
      } catch (error) {
        setMessage("l-message", error.message);
      }
      learnReset();
    });
    upload("l-xfile", "xUpload");
    upload("l-yfile", "yUpload");
    $("l-train").addEventListener("click", learnTrain);
    $("l-stop").addEventListener("click", async () => {
      if (!learn.run) return;
      try {
        learnApply(await api(`train/${learn.run}/stop`, { since: learn.losses.length }));
      } catch (error) {
        setMessage("l-message", error.message);
      }
    });
    $("l-reset").addEventListener("click", learnReset);
    window.addEventListener("pagehide", () => {
      if (learn.run) api(`train/${learn.run}/end`, {}, { keepalive: true }).catch(() => {});
    });
    learnStatus();
  }

  panels.learn = { show() {} };

  // =====================================================================================
  // Receptive fields
  // =====================================================================================

  const rf = { seq: 0, answer: null, grids: [], cache: new Map(), lit: [], started: false, hoverSeq: 0 };

  const RF_PRESETS = [
    ["dilated: 3x3, 3x3/d2, 3x3/d4 on 24x24", ["3x3", "3x3/d2", "3x3/d4"], 24],
    ["the chapter: two 2x2 layers on 3x3", ["2x2", "2x2"], 3],
    ["one dilated layer: 3x3/d2 on 9x9 (holes)", ["3x3/d2"], 9],
    ["strided: 7x7/s2/p3, pool3x3/s2/p1, 3x3, 3x3 on 32x32", ["7x7/s2/p3", "pool3x3/s2/p1", "3x3", "3x3"], 32],
  ];

  function parseLayer(text) {
    const m = /^(pool)?(\d+)x\d+((?:\/[sdp]\d+)*)$/.exec(text);
    const layer = { kind: "conv", kernel: 3, stride: 1, padding: 0, dilation: 1 };
    if (!m) return layer;
    layer.kind = m[1] ? "pool" : "conv";
    layer.kernel = Number(m[2]);
    layer.stride = layer.kind === "pool" ? layer.kernel : 1;
    for (const option of m[3].split("/").filter(Boolean)) {
      const value = Number(option.slice(1));
      layer[{ s: "stride", p: "padding", d: "dilation" }[option[0]]] = value;
    }
    return layer;
  }

  function layerText(l) {
    let text = `${l.kind === "pool" ? "pool" : ""}${l.kernel}x${l.kernel}`;
    if (l.stride !== (l.kind === "pool" ? l.kernel : 1)) text += `/s${l.stride}`;
    if (l.padding) text += `/p${l.padding}`;
    if (l.dilation !== 1) text += `/d${l.dilation}`;
    return text;
  }

  function rfRenderEditor() {
    const body = $("r-layers").tBodies[0];
    body.replaceChildren();
    state.rf.layers.forEach((text, index) => {
      const layer = parseLayer(text);
      const tr = body.insertRow();
      tr.insertCell().textContent = String(index + 1);
      const kind = document.createElement("select");
      kind.append(new Option("conv", "conv"), new Option("pool", "pool"));
      kind.value = layer.kind;
      tr.insertCell().append(kind);
      const fields = {};
      for (const key of ["kernel", "stride", "padding", "dilation"]) {
        const input = document.createElement("input");
        input.type = "number";
        input.min = key === "padding" ? 0 : 1;
        input.value = layer[key];
        input.setAttribute("aria-label", `layer ${index + 1} ${key}`);
        fields[key] = input;
        tr.insertCell().append(input);
      }
      const remove = document.createElement("button");
      remove.textContent = "remove";
      remove.disabled = state.rf.layers.length === 1;
      tr.insertCell().append(remove);
      const update = () => {
        const next = { kind: kind.value };
        for (const key of Object.keys(fields)) next[key] = Math.max(key === "padding" ? 0 : 1, Math.round(Number(fields[key].value) || 0));
        if (next.kind !== layer.kind) next.stride = next.kind === "pool" ? next.kernel : 1;
        state.rf.layers[index] = layerText(next);
        rfRenderEditor();
        rfCompute();
      };
      kind.addEventListener("change", update);
      for (const input of Object.values(fields)) input.addEventListener("change", update);
      remove.addEventListener("click", () => {
        state.rf.layers.splice(index, 1);
        rfRenderEditor();
        rfCompute();
      });
    });
  }

  async function rfCompute() {
    const seq = (rf.seq += 1);
    writeHash();
    const request = { layers: state.rf.layers, input: { rows: state.rf.rows, cols: state.rf.cols } };
    try {
      const answer = await api("rf", request);
      if (seq !== rf.seq) return;
      setMessage("r-message", "");
      rf.answer = answer;
      rf.cache.clear();
      rfRender(answer);
    } catch (error) {
      if (seq !== rf.seq) return;
      setMessage("r-message", error.message);
      $("r-grids").classList.add("stale");
    }
  }

  function rfRender(answer) {
    $("r-grids").classList.remove("stale");
    $("r-command").textContent = answer.command;
    const table = $("r-table");
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const title of ["layer", "output", "jump", "size", "start"]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of answer.rows) {
      const tr = body.insertRow();
      const pair = (p, sep) => (p[0] === p[1] ? fmt(p[0]) : `${fmt(p[0])}${sep}${fmt(p[1])}`);
      for (const text of [row.layer, pair(row.output, "x"), pair(row.jump, "x"), pair(row.size, "x"), pair(row.start, ", ")]) {
        tr.insertCell().textContent = text;
      }
    }
    const host = $("r-grids");
    host.replaceChildren();
    rf.grids = answer.rows.map((row, index) => {
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.textContent = index === 0 ? `input ${row.output.join("x")}` : `layer ${index}: ${row.layer} → ${row.output.join("x")}`;
      const box = document.createElement("div");
      box.id = `r-grid-${index}`;
      box.className = "view";
      figure.append(caption, box);
      host.append(figure);
      const [h, w] = row.output;
      const grid = tableGrid(box, h, w, "tiny");
      if (index > 0) {
        grid.table.addEventListener("mouseover", (event) => {
          const td = event.target.closest("td");
          if (td) rfHover(index, Number(td.dataset.i), Number(td.dataset.j));
        });
      }
      return grid;
    });
    $("r-info").textContent = "Hover a unit of any layer to light its receptive field in the input.";
  }

  async function rfHover(layer, i, j) {
    const shown = rf.answer; // the stack the grids show (the editor may be ahead of it)
    const key = `${layer}:${i}:${j}`;
    const seq = (rf.hoverSeq += 1);
    let unit = rf.cache.get(key);
    if (!unit) {
      try {
        const answer = await api("rf", {
          layers: shown.layers, input: { rows: shown.input[0], cols: shown.input[1] }, unit: { layer, row: i, col: j },
        });
        unit = answer.unit;
        if (shown === rf.answer) rf.cache.set(key, unit);
      } catch (error) {
        if (shown === rf.answer) setMessage("r-message", error.message);
        return;
      }
    }
    if (seq !== rf.hoverSeq || shown !== rf.answer) return;
    rfShow(unit);
  }

  function rfShow(unit) {
    for (const td of rf.lit) td.classList.remove("lit", "extent", "hot");
    rf.lit = [];
    const input = rf.grids[0];
    const mask = decode(unit.empirical);
    const [r0, r1] = unit.rows, [c0, c1] = unit.cols;
    for (let i = Math.max(0, r0); i < Math.min(input.h, r1); i += 1) {
      for (let j = Math.max(0, c0); j < Math.min(input.w, c1); j += 1) {
        const td = input.cells[i][j];
        td.classList.add("extent");
        rf.lit.push(td);
      }
    }
    for (let i = 0; i < mask.h; i += 1) {
      for (let j = 0; j < mask.w; j += 1) {
        if (mask.at(i, j)) {
          const td = input.cells[i][j];
          td.classList.add("lit");
          rf.lit.push(td);
        }
      }
    }
    const hot = rf.grids[unit.layer].cells[unit.row][unit.col];
    hot.classList.add("hot");
    rf.lit.push(hot);
    const pair = (p) => (p[0] === p[1] ? fmt(p[0]) : `${fmt(p[0])}x${fmt(p[1])}`);
    const extent = (r1 - r0) * (c1 - c0);
    $("r-info").textContent =
      `unit (${unit.row}, ${unit.col}) of layer ${unit.layer}: receptive field ${pair(unit.size)} (jump ${pair(unit.jump)}, ` +
      `start ${pair(unit.start)}), rows ${r0}..${r1 - 1}, columns ${c0}..${c1 - 1}; the gradient reaches ` +
      `${unit.read} input pixels` + (unit.read < extent ? ` of the ${extent} in its extent` : "");
  }

  function rfInit() {
    const preset = $("r-preset");
    preset.append(new Option("(edited)", ""));
    RF_PRESETS.forEach(([title], index) => preset.append(new Option(title, String(index))));
    preset.addEventListener("change", () => {
      const chosen = RF_PRESETS[Number(preset.value)];
      if (!chosen) return;
      state.rf.layers = [...chosen[1]];
      state.rf.rows = state.rf.cols = chosen[2];
      $("r-rows").value = $("r-cols").value = chosen[2];
      rfRenderEditor();
      rfCompute();
    });
    const matching = RF_PRESETS.findIndex(([, layers, n]) =>
      layers.join(" ") === state.rf.layers.join(" ") && n === state.rf.rows && n === state.rf.cols);
    preset.value = matching >= 0 ? String(matching) : "";
    $("r-rows").value = state.rf.rows;
    $("r-cols").value = state.rf.cols;
    for (const [id, key] of [["r-rows", "rows"], ["r-cols", "cols"]]) {
      $(id).addEventListener("change", () => {
        state.rf[key] = Math.max(1, Math.min(64, Math.round(Number($(id).value) || 1)));
        $(id).value = state.rf[key];
        preset.value = "";
        rfCompute();
      });
    }
    $("r-add").addEventListener("click", () => {
      state.rf.layers.push("3x3");
      preset.value = "";
      rfRenderEditor();
      rfCompute();
    });
    rfRenderEditor();
  }

  panels.rf = {
    show() {
      if (!rf.started) {
        rf.started = true;
        rfCompute();
      }
    },
  };

  // =====================================================================================

  async function start() {
    readHash();
    for (const button of document.querySelectorAll(".tab")) button.addEventListener("click", () => showTab(button.dataset.tab));
    let info;
    try {
      info = await api("info");
    } catch (error) {
      document.querySelector("main").textContent = error.message;
      return;
    }
    $("version").textContent = `corr2d ${info.version}`;
    corrInit(info);
    edgesInit();
    learnInit(info);
    rfInit();
    for (const button of document.querySelectorAll("[data-download]")) {
      button.addEventListener("click", () => {
        const format = button.dataset.format;
        if (button.dataset.download === "c") downloadKernel(state.corr.k, format, "kernel", "c-message");
        else if (learn.kernel) {
          const k = learn.kernel;
          const rows = Array.from({ length: k.h }, (_, i) => Array.from({ length: k.w }, (_, j) => k.at(i, j)));
          downloadKernel(rows, format, "learned-kernel", "l-message");
        } else setMessage("l-message", "train first: there is no learned kernel yet");
      });
    }
    showTab(state.tab);
    document.body.dataset.ready = "1";
  }

  start();
})();
