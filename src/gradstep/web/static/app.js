/* gradstep playground: draws what the JSON API returns (every number comes from gradstep).
 *
 * Test hooks: plots #surface-plot, #loss-plot, #data-plot, #contour-plot, #fit-loss-plot;
 * document.body.dataset.state is "loading" | "ready" | "running" | "done" | "error";
 * window.gradstepLast is the last /api/run or /api/fit response.
 * Every Plotly trace carries `meta` naming its role: "surface", "path" (the whole path, named with
 * the run's label), "trail" (the path up to the current step), "now" (the current iterate),
 * "start", "minimum" (a preset's minima, or the lowest grid point of a typed formula), "loss", "points",
 * "line" (customdata holds [w, b] of the drawn step), "closed", "closed-line".
 * #surface-title names the formula drawn; errors (#error) and each run's outcome (#messages,
 * #fit-messages) show under the Run / Fit button.
 */
"use strict";
(() => {
  const COLORS = ["#e6194b", "#ffa600", "#2ecc40", "#f032e6"];
  // one look per optimiser: the later ones draw narrower and dashed on top, so paths that overlap stay visible
  const STYLES = [
    { width: 6, dash: "solid", symbol: "circle" },
    { width: 3.5, dash: "dash", symbol: "square" },
    { width: 2.5, dash: "dot", symbol: "diamond" },
    { width: 1.5, dash: "dashdot", symbol: "triangle-up" },
  ];
  const SCHEDULES = ["constant", "step", "exponential", "inverse_time", "cosine"];
  // momentum / betas null: the optimiser's default (settled() fills them in from what the server publishes)
  const DEFAULT_OPT = {
    name: "gd", lr: 0.1, momentum: null, betas: null,
    schedule: { kind: "constant", step_size: 100, gamma: 0.5, power: 1, t_max: 1000 },
    clip_value: null, clip_norm: null,
  };
  // GET /api/optimizers: the registry's optimisers, [{name, lr, schedule, torch, settings: {momentum?, betas?}}]
  let OPTIMIZERS = [];
  const optInfo = (name) => OPTIMIZERS.find((o) => o.name === name);
  const takes = (o, k) => { const i = optInfo(o.name); return !!i && k in i.settings; };
  const schedulable = (o) => { const i = optInfo(o.name); return !i || i.schedule; };
  // an optimiser's settings with its own defaults where none is given (and a constant lr where it takes no schedule)
  function settled(o) {
    const s = (optInfo(o.name) || { settings: {} }).settings;
    const out = clone(o);
    out.momentum = "momentum" in s ? (isNum(o.momentum) ? o.momentum : s.momentum) : null;
    out.betas = "betas" in s ? (Array.isArray(o.betas) ? [...o.betas] : [...s.betas]) : null;
    if (!schedulable(o)) out.schedule.kind = "constant";
    return out;
  }
  const MAX_OPTS = 4;
  const URL_POINTS = 200;          // uploaded points carried in the link at most
  const CONTOUR_SCALE = [[0, "#0b2545"], [0.2, "#1d4e89"], [0.45, "#5d8cc7"], [0.7, "#b9d0ea"], [1, "#f7f9fc"]];
  const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const MARGIN = { l: 52, r: 8, t: 30, b: 44 };   // t leaves the mode bar room: titles are above the plots
  const LEGEND_GAP = 50;                           // px from the plot area down to the legend: x's labels and title
  const COLORBAR_PX = 60;                          // the colour bar and its labels, right of the plot area
  const TYPED_RANGE = [-3, 3];                     // the ranges a typed formula starts with
  const MINIMUM_MARKER = { symbol: "star", size: 17, color: "#ffd400", line: { color: "#111", width: 1.5 } };
  // drawn over the paths, open: the iterates that reach a minimum show through it
  const MINIMUM_RING = { symbol: "star-open", size: 24, color: "#ffd400", line: { color: "#ffd400", width: 3 } };

  const $ = (id) => document.getElementById(id);
  const state = {
    mode: "surface", presets: [], surface: null, surfaceKey: null, run: null, fit: null,
    bundled: null, uploaded: null, uploadMissing: 0, ran: { surface: false, data: false },
  };
  const setState = (s) => { document.body.dataset.state = s; };
  const clone = (o) => JSON.parse(JSON.stringify(o));
  const fmt = (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : String(Number(v.toPrecision(4))));
  // colour-bar labels: few characters (1.6e-4, 5e4), so that the bar leaves the plot its width
  const short = (v) => (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 0.01)
    ? v.toExponential(1).replace(".0e", "e").replace("e+", "e") : String(Number(v.toPrecision(3))));
  const num = (el, fallback) => { const v = parseFloat(el.value); return Number.isFinite(v) ? v : fallback; };
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const sentence = (t) => (t && !/[.!?]$/.test(t.trim()) ? `${t.trim()}.` : t || "");
  const decades = (vals) => Math.log10(Math.max(...vals) / Math.min(...vals));
  // log axes: a label every n decades (at most ~6 labels), Plotly's own ticks under two decades
  const logTick = (vals) => { const d = decades(vals); return d >= 2 ? Math.max(1, Math.ceil(d / 6)) : undefined; };

  // ---------------------------------------------------------------- errors and the API
  // shown under the active mode's Run / Fit button, and scrolled to: where the learner is looking
  function showError(msg) {
    const box = $("error");
    box.textContent = msg || "";
    box.hidden = !msg;
    if (!msg) return;
    $(state.mode === "surface" ? "run-row" : "fit-row").after(box);
    box.scrollIntoView({ block: "nearest" });
    setState("error");
  }

  async function api(path, body, form) {
    let resp;
    const init = body === undefined ? {} : form ? { method: "POST", body }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new Error(`could not reach the server (${e.message})`);
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const d = data && data.detail;
      throw new Error(typeof d === "string" ? d : d ? JSON.stringify(d) : `the server answered ${resp.status}`);
    }
    return data;
  }

  // ---------------------------------------------------------------- optimiser cards
  const FIELDS = [
    // key, label, shown when(opt)
    ["lr", "learning rate", () => true],
    ["momentum", "momentum", (o) => takes(o, "momentum")],
    ["beta1", "β₁", (o) => takes(o, "betas")],
    ["beta2", "β₂", (o) => takes(o, "betas")],
    ["kind", "schedule", schedulable],
    ["step_size", "step size", (o) => o.schedule.kind === "step"],
    ["gamma", "γ (decay)", (o) => o.schedule.kind === "step" || o.schedule.kind === "exponential"],
    ["power", "power", (o) => o.schedule.kind === "inverse_time"],
    ["t_max", "T max", (o) => o.schedule.kind === "cosine"],
    ["clip_value", "clip value", () => true],
    ["clip_norm", "clip norm", () => true],
  ];

  function makeOptCard(opt, color, { removable, onChange, onRemove }) {
    const card = document.createElement("div");
    card.className = "opt";
    card.style.setProperty("--c", color);
    const head = document.createElement("div");
    head.className = "opt-head";
    const sw = document.createElement("span");
    sw.className = "swatch";
    const sel = document.createElement("select");
    sel.dataset.k = "name";
    sel.title = "optimiser";
    for (const info of OPTIMIZERS) {
      const op = new Option(info.name, info.name);
      op.title = info.torch ? `torch.optim.${info.torch}` : info.name;
      sel.add(op);
    }
    sel.value = opt.name;
    head.append(sw, sel);
    if (removable) {
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "remove";
      rm.title = "remove this optimiser";
      rm.textContent = "✕";
      rm.addEventListener("click", () => onRemove(card));
      head.append(rm);
    }
    const grid = document.createElement("div");
    grid.className = "opt-grid";
    const values = {
      lr: opt.lr, momentum: opt.momentum, beta1: opt.betas && opt.betas[0], beta2: opt.betas && opt.betas[1],
      kind: opt.schedule.kind,
      step_size: opt.schedule.step_size, gamma: opt.schedule.gamma, power: opt.schedule.power,
      t_max: opt.schedule.t_max, clip_value: opt.clip_value, clip_norm: opt.clip_norm,
    };
    for (const [k, label] of FIELDS) {
      const lab = document.createElement("label");
      lab.className = "field";
      lab.dataset.field = k;
      lab.append(document.createTextNode(label));
      let input;
      if (k === "kind") {
        input = document.createElement("select");
        for (const s of SCHEDULES) input.add(new Option(s.replace("_", " "), s));
      } else {
        input = document.createElement("input");
        input.type = "number";
        input.step = "any";
        if (k.startsWith("clip")) input.placeholder = "none";
      }
      input.dataset.k = k;
      input.value = values[k] === null || values[k] === undefined ? "" : String(values[k]);
      lab.append(input);
      grid.append(lab);
    }
    card.append(head, grid);
    // another optimiser starts from its own defaults (momentum, betas) and, if it takes none, no schedule
    sel.addEventListener("change", () => {
      const o = settled({ ...readOptCard(card), momentum: null, betas: null });
      const put = (k, v) => { card.querySelector(`[data-k="${k}"]`).value = v === null ? "" : String(v); };
      put("momentum", o.momentum);
      put("beta1", o.betas && o.betas[0]);
      put("beta2", o.betas && o.betas[1]);
      put("kind", o.schedule.kind);
    });
    const refresh = () => {
      const o = readOptCard(card);
      for (const [k, , shown] of FIELDS) card.querySelector(`[data-field="${k}"]`).hidden = !shown(o);
    };
    card.addEventListener("input", () => { refresh(); onChange(); });
    card.addEventListener("change", () => { refresh(); onChange(); });
    refresh();
    return card;
  }

  function readOptCard(card) {
    const get = (k) => card.querySelector(`[data-k="${k}"]`);
    const d = settled({ ...DEFAULT_OPT, name: get("name").value });   // its defaults: what an empty field means
    const opt = {
      name: d.name,
      lr: num(get("lr"), d.lr),
      momentum: d.momentum === null ? null : num(get("momentum"), d.momentum),
      betas: d.betas === null ? null : [num(get("beta1"), d.betas[0]), num(get("beta2"), d.betas[1])],
      schedule: {
        kind: schedulable(d) ? get("kind").value : "constant",
        step_size: Math.round(num(get("step_size"), d.schedule.step_size)),
        gamma: num(get("gamma"), d.schedule.gamma),
        power: num(get("power"), d.schedule.power),
        t_max: Math.round(num(get("t_max"), d.schedule.t_max)),
      },
      clip_value: get("clip_value").value.trim() === "" ? null : num(get("clip_value"), null),
      clip_norm: get("clip_norm").value.trim() === "" ? null : num(get("clip_norm"), null),
    };
    return opt;
  }

  // URL form of an optimiser: "momentum,lr=0.05,m=0.8" (only what differs from that optimiser's defaults;
  // m, b1 and b2 only for the optimisers that take them)
  const OPT_KEYS = [
    ["lr", (o) => o.lr, (o, v) => { o.lr = v; }],
    ["m", (o) => o.momentum, (o, v) => { if (o.momentum !== null) o.momentum = v; }],
    ["b1", (o) => o.betas && o.betas[0], (o, v) => { if (o.betas) o.betas[0] = v; }],
    ["b2", (o) => o.betas && o.betas[1], (o, v) => { if (o.betas) o.betas[1] = v; }],
    ["ss", (o) => o.schedule.step_size, (o, v) => { o.schedule.step_size = v; }],
    ["g", (o) => o.schedule.gamma, (o, v) => { o.schedule.gamma = v; }],
    ["pw", (o) => o.schedule.power, (o, v) => { o.schedule.power = v; }],
    ["tm", (o) => o.schedule.t_max, (o, v) => { o.schedule.t_max = v; }],
    ["cv", (o) => o.clip_value, (o, v) => { o.clip_value = v; }],
    ["cn", (o) => o.clip_norm, (o, v) => { o.clip_norm = v; }],
  ];

  function encodeOpt(o) {
    const parts = [o.name];
    if (o.schedule.kind !== "constant") parts.push(`s=${o.schedule.kind}`);
    const base = settled({ ...clone(DEFAULT_OPT), name: o.name });
    for (const [k, get] of OPT_KEYS) {
      const v = get(o);
      if (k === "lr" || (v !== null && v !== get(base))) parts.push(`${k}=${v}`);
    }
    return parts.join(",");
  }

  function decodeOpt(s) {
    const parts = s.split(",");
    const o = settled({ ...clone(DEFAULT_OPT), name: optInfo(parts[0]) ? parts[0] : DEFAULT_OPT.name });
    for (const p of parts.slice(1)) {
      const [k, v] = p.split("=");
      if (k === "s") { if (SCHEDULES.includes(v)) o.schedule.kind = v; continue; }
      const entry = OPT_KEYS.find((e) => e[0] === k);
      const x = parseFloat(v);
      if (entry && Number.isFinite(x)) entry[2](o, x);
    }
    return settled(o);
  }

  // ---------------------------------------------------------------- player (play / pause / step)
  class Player {
    constructor(root, prefix, onFrame) {
      this.onFrame = onFrame;
      this.n = 1;
      this.k = 0;
      this.timer = null;
      const mk = (id, text, title) => {
        const b = document.createElement("button");
        b.type = "button";
        b.id = `${prefix}-${id}`;
        b.textContent = text;
        b.title = title;
        root.append(b);
        return b;
      };
      mk("to-start", "|◀", "to the start").addEventListener("click", () => { this.pause(); this.go(0); });
      mk("back", "◀", "one step back").addEventListener("click", () => { this.pause(); this.go(this.k - 1); });
      this.playBtn = mk("play", "▶ Play", "play");
      this.playBtn.addEventListener("click", () => this.play());
      mk("pause", "Pause", "pause").addEventListener("click", () => this.pause());
      mk("fwd", "▶", "one step forward").addEventListener("click", () => { this.pause(); this.go(this.k + 1); });
      mk("to-end", "▶|", "to the end").addEventListener("click", () => { this.pause(); this.go(this.n - 1); });
      this.slider = document.createElement("input");
      this.slider.type = "range";
      this.slider.id = `${prefix}-slider`;
      this.slider.min = "0";
      this.slider.max = "0";
      this.slider.value = "0";
      this.slider.addEventListener("input", () => { this.pause(); this.go(parseInt(this.slider.value, 10)); });
      this.label = document.createElement("span");
      this.label.className = "step-label";
      this.label.id = `${prefix}-step`;
      root.append(this.slider, this.label);
      this.setLength(1);
    }

    setLength(n) {
      this.pause();
      this.n = Math.max(1, n);
      this.slider.max = String(this.n - 1);
      this.go(0);
    }

    go(k) {
      this.k = Math.max(0, Math.min(this.n - 1, k));
      this.slider.value = String(this.k);
      this.label.textContent = `step ${this.k} / ${this.n - 1}`;
      this.onFrame(this.k);
    }

    play() {
      if (this.timer) return;
      if (this.k >= this.n - 1) this.go(0);
      const stride = Math.max(1, Math.ceil(this.n / 150));
      this.playBtn.disabled = true;
      this.timer = setInterval(() => {
        this.go(this.k + stride);
        if (this.k >= this.n - 1) this.pause();
      }, 40);
    }

    pause() {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.playBtn) this.playBtn.disabled = false;
    }
  }

  // ---------------------------------------------------------------- URL state
  function rangeOf(a, b) { return `${a},${b}`; }
  function parsePair(s) {
    if (!s) return null;
    const v = s.split(",").map(Number);
    return v.every(Number.isFinite) ? v : null;
  }

  function surfaceOpts() { return [...document.querySelectorAll("#opt-list .opt")].map(readOptCard); }
  function fitOpt() { return readOptCard(document.querySelector("#fit-opt .opt")); }

  function updateURL() {
    const q = new URLSearchParams();
    q.set("mode", state.mode);
    // surface mode
    if ($("preset").value) q.set("p", $("preset").value);
    q.set("f", $("formula").value);
    q.set("xr", rangeOf($("xmin").value, $("xmax").value));
    q.set("yr", rangeOf($("ymin").value, $("ymax").value));
    const x0 = currentX0();
    q.set("x0", x0.join(","));
    q.set("n", $("steps").value);
    for (const o of surfaceOpts()) q.append("o", encodeOpt(o));
    // data mode
    q.set("src", $("source").value);
    if ($("source").value === "upload") {
      const up = state.uploaded;
      if (up && up.x.length <= URL_POINTS) {
        q.set("px", up.x.join(","));
        q.set("py", up.y.join(","));
        q.set("pn", up.names.join(","));
      } else if (up) {
        q.set("np", String(up.x.length));
      } else if (state.uploadMissing) {
        q.set("np", String(state.uploadMissing));
      }
    }
    q.set("m", $("method").value);
    q.set("bs", $("batch-size").value);
    q.set("ep", $("epochs").value);
    q.set("seed", $("seed").value);
    q.set("do", encodeOpt(fitOpt()));
    if (state.ran[state.mode]) q.set("run", "1");
    history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
  }

  function changed(mode) {
    state.ran[mode] = false;
    updateURL();
  }

  function restoreFromURL() {
    const q = new URLSearchParams(location.search);
    const preset = state.presets.find((p) => p.name === q.get("p"));
    if (preset) applyPreset(preset);   // its steps and optimisers, unless the link says otherwise
    if (q.has("f")) $("formula").value = q.get("f");
    const xr = parsePair(q.get("xr"));
    if (xr) { $("xmin").value = xr[0]; $("xmax").value = xr[1]; }
    const yr = parsePair(q.get("yr"));
    if (yr) { $("ymin").value = yr[0]; $("ymax").value = yr[1]; }
    const x0 = q.get("x0") ? q.get("x0").split(",").map(Number) : null;
    if (x0 && x0.every(Number.isFinite)) {
      $("x0x").value = x0[0];
      if (x0.length > 1) $("x0y").value = x0[1];
    }
    if (q.has("n")) $("steps").value = q.get("n");
    const opts = q.getAll("o").slice(0, MAX_OPTS).map(decodeOpt);
    if (opts.length) renderOpts(opts);
    else if (!surfaceOpts().length) renderOpts([settled(DEFAULT_OPT)]);
    // data mode
    if (q.get("src") === "upload") {
      $("source").value = "upload";
      const px = q.get("px"), py = q.get("py");
      if (px && py) {
        const x = px.split(",").map(Number), y = py.split(",").map(Number);
        const names = (q.get("pn") || "x,y").split(",");
        if (x.length === y.length && x.every(Number.isFinite) && y.every(Number.isFinite)) {
          state.uploaded = { x, y, names: [names[0] || "x", names[1] || "y"] };
        }
      } else {
        state.uploadMissing = parseInt(q.get("np") || "0", 10) || 1;
      }
    }
    for (const [key, id] of [["m", "method"], ["bs", "batch-size"], ["ep", "epochs"], ["seed", "seed"]]) {
      if (q.has(key)) $(id).value = q.get(key);
    }
    renderFitOpt(q.has("do") ? decodeOpt(q.get("do")) : settled({ ...DEFAULT_OPT, lr: 0.01 }));
    return { mode: q.get("mode") === "data" ? "data" : "surface", run: q.get("run") === "1" };
  }

  // ---------------------------------------------------------------- modes
  function setMode(mode) {
    state.mode = mode;
    $("surface-mode").hidden = mode !== "surface";
    $("data-mode").hidden = mode !== "data";
    $("tab-surface").classList.toggle("active", mode === "surface");
    $("tab-data").classList.toggle("active", mode === "data");
    $("download").disabled = !(mode === "surface" ? state.run : state.fit);
    // a plot drawn while its mode was hidden has Plotly's default size (and a height for no width):
    // draw the ones now visible again, at the step the player shows
    if (mode === "surface" && state.surface) {
      drawSurface();
      surfaceFrame(player.surface.k);
    } else if (mode === "data" && $("data-plot").data) {
      drawData();
      dataFrame(player.data.k);
    }
    const ids = mode === "surface" ? ["loss-plot"] : ["data-plot", "contour-plot", "fit-loss-plot"];
    for (const id of ids) if ($(id).data) Plotly.Plots.resize($(id)).catch(() => {});   // react keeps the old size
  }

  // ---------------------------------------------------------------- surface mode
  function setRanges(xr, yr) {
    $("xmin").value = xr[0];
    $("xmax").value = xr[1];
    $("ymin").value = yr[0];
    $("ymax").value = yr[1];
  }

  function setStart(x0) {
    $("x0x").value = x0[0];
    if (x0.length > 1) $("x0y").value = x0[1];
  }

  // a preset brings everything a first race needs: ranges, start, steps and optimisers that do not diverge
  function applyPreset(p) {
    $("preset").value = p.name;
    $("formula").value = p.formula;
    setRanges(p.xrange, p.yrange || TYPED_RANGE);
    setStart(p.x0);
    $("steps").value = p.steps;
    renderOpts(p.optimizers.map((o) => settled({ ...clone(DEFAULT_OPT), ...o })));
  }

  // the preset the page shows, if its formula is still the preset's
  function currentPreset() {
    const p = state.presets.find((q) => q.name === $("preset").value);
    return p && p.formula === $("formula").value.trim() ? p : null;
  }

  function renderOpts(opts) {
    const list = $("opt-list");
    list.textContent = "";
    opts.forEach((o, i) => {
      list.append(makeOptCard(o, COLORS[i % COLORS.length], {
        removable: true,
        onChange: () => changed("surface"),
        onRemove: (card) => {
          if (list.children.length <= 1) return;
          card.remove();
          renderOpts(surfaceOpts());
          changed("surface");
        },
      }));
    });
    $("add-opt").disabled = opts.length >= MAX_OPTS;
  }

  function renderFitOpt(o) {
    const box = $("fit-opt");
    box.textContent = "";
    box.append(makeOptCard(o, COLORS[0], { removable: false, onChange: () => changed("data") }));
  }

  function surfaceRequest() {
    return {
      formula: $("formula").value.trim(),
      xrange: [num($("xmin"), -4), num($("xmax"), 4)],
      yrange: [num($("ymin"), -4), num($("ymax"), 4)],
      grid: 80,
    };
  }

  function dims() { return state.surface ? state.surface.dims : 2; }

  function currentX0() {
    const x = num($("x0x"), 0);
    return dims() === 1 ? [x] : [x, num($("x0y"), 0)];
  }

  // beforeDraw(surface): what must change with a new surface before it is drawn (a typed formula's start)
  async function loadSurface(force, beforeDraw) {
    const req = surfaceRequest();
    const key = JSON.stringify(req);
    if (!force && key === state.surfaceKey && state.surface) return state.surface;
    const s = await api("/api/surface", req);
    state.surface = s;
    state.surfaceKey = key;
    state.run = null;
    $("messages").textContent = "";
    $("yrange-row").hidden = s.dims === 1;
    $("x0y-field").hidden = s.dims === 1;
    if (beforeDraw) beforeDraw(s);
    drawSurface();
    return s;
  }

  async function refreshSurface(beforeDraw) {
    showError("");
    setState("running");
    try {
      await loadSurface(false, beforeDraw);
      setState("ready");
    } catch (e) {
      showError(e.message);
    }
    changed("surface");
  }

  // a typed formula starts afresh: the preset's ranges and start need not fit it
  function onFormulaTyped() {
    const drawn = state.surfaceKey ? JSON.parse(state.surfaceKey).formula : null;
    if ($("formula").value.trim() === drawn) { refreshSurface(); return; }   // Enter again keeps the start
    $("preset").value = "";
    setRanges(TYPED_RANGE, TYPED_RANGE);
    refreshSurface((s) => setStart(typedStart(s)));
  }

  // a start inside the ranges where the formula is finite and not flat (not at a stationary point)
  function typedStart(s) {
    const fractions = s.dims === 1 ? [[0.8], [0.2], [0.65]] : [[0.8, 0.75], [0.2, 0.75], [0.8, 0.25], [0.3, 0.2]];
    const axes = s.dims === 1 ? [s.x] : [s.x, s.y];
    const at = (fr) => fr.map((t, d) => {
      const a = axes[d];
      return Math.round((a[0] + t * (a[a.length - 1] - a[0])) * 1000) / 1000;
    });
    const good = fractions.map(at).find((p) => !flatAt(s, p));
    return good || at(fractions[0]);
  }

  function gridIndex(a, v) {
    return Math.max(1, Math.min(a.length - 2, Math.round((v - a[0]) / (a[1] - a[0]))));
  }

  // central differences of the grid around p: flat, or not finite there, counts as a bad start
  function flatAt(s, p) {
    const i = gridIndex(s.x, p[0]);
    const j = s.dims === 2 ? gridIndex(s.y, p[1]) : 0;
    const z = s.dims === 2 ? s.z : [s.z];
    const around = [z[j][i - 1], z[j][i + 1]];
    if (s.dims === 2) around.push(z[j - 1][i], z[j + 1][i]);
    if (!around.every(isNum)) return true;
    const slope = Math.hypot(around[1] - around[0], s.dims === 2 ? around[3] - around[2] : 0);
    return slope <= 1e-9 * Math.max(1, ...around.map(Math.abs));
  }

  // log-spaced contours: log10(1 + f - min f), so valleys show as well as the rim
  function logZ(z) {
    let lo = Infinity;
    for (const row of z) for (const v of row) if (v !== null && v < lo) lo = v;
    const shown = z.map((row) => row.map((v) => (v === null ? null : Math.log10(1 + v - lo))));
    let top = 0;
    for (const row of shown) for (const v of row) if (v !== null && v > top) top = v;
    return { z: shown, lo, top };
  }

  // round values of f (±1, 2, 5 × 10^k and 0), ascending
  const ROUND = [0];
  for (let k = -3; k <= 100; k += 1) for (const m of [1, 2, 5]) ROUND.push(m * 10 ** k, -m * 10 ** k);
  ROUND.sort((a, b) => a - b);

  // the colour bar labels f itself, drawn as log10(1 + f - lo): min f, then round values a seventh apart
  function colorbar(lo, top, name) {
    const shown = (f) => Math.log10(1 + f - lo);
    const fmax = lo + 10 ** top - 1;
    const tickvals = [0], ticktext = [short(lo)];
    for (const f of ROUND) {
      if (f - lo < 1 || f > fmax || shown(f) - tickvals[tickvals.length - 1] < top / 7) continue;
      tickvals.push(shown(f));
      ticktext.push(short(f));
    }
    if (tickvals[tickvals.length - 1] < 0.75 * top) {
      tickvals.push(top);
      ticktext.push(short(fmax));
    }
    return { title: { text: name, side: "top" }, thickness: 10, len: 0.95, outlinewidth: 0, xpad: 6, tickvals, ticktext,
      tickfont: { size: 10.5 } };
  }

  function contourTrace(x, y, z, hovertemplate, name) {
    const shown = logZ(z);
    return {
      type: "contour", meta: "surface", name, x, y, z: shown.z, text: z.map((r) => r.map(fmt)), hovertemplate,
      colorscale: CONTOUR_SCALE, ncontours: 24, showscale: true, colorbar: colorbar(shown.lo, shown.top, name),
      line: { width: 0.5, color: "rgba(255,255,255,0.35)" }, showlegend: false,
    };
  }

  const span = (a) => [Math.min(a[0], a[a.length - 1]), Math.max(a[0], a[a.length - 1])];

  // equal units per pixel on both axes (x² + y² is round): Plotly narrows whichever axis has room to spare
  function equalAxes(layout, xs, ys) {
    layout.xaxis = { ...layout.xaxis, range: span(xs), autorange: false, constrain: "domain" };
    layout.yaxis = { ...layout.yaxis, range: span(ys), autorange: false, constrain: "domain", scaleanchor: "x",
      scaleratio: 1 };
  }

  const innerWidth = (div) => Math.max(120, div.clientWidth - MARGIN.l - MARGIN.r - COLORBAR_PX);

  // the legend's rows: entries of about 190 px side by side
  function legendRows(div, entries) {
    return Math.ceil(entries / Math.max(1, Math.floor(innerWidth(div) / 190)));
  }

  // the legend LEGEND_GAP px under the plot area (its y is a fraction of that area's height) of a div
  // `height` px tall whose legend has `rows` rows of about 22 px
  function legendBelow(height, rows) {
    const area = Math.max(100, height - MARGIN.t - LEGEND_GAP - 22 * rows - 8);
    return { orientation: "h", y: -LEGEND_GAP / area, yanchor: "top", x: 0, font: { size: 11.5 } };
  }

  // a height whose plot area has about the aspect of the ranges, within what the window allows
  function squareHeight(div, xs, ys, rows) {
    const [x0, x1] = span(xs), [y0, y1] = span(ys);
    const want = innerWidth(div) * (y1 - y0) / (x1 - x0) + MARGIN.t + LEGEND_GAP + 22 * rows + 8;
    const most = Math.max(360, 0.75 * window.innerHeight + 22 * rows);
    return Math.round(Math.min(Math.max(want, 300), most));
  }

  // drawn to scale in a narrow plot, the y axis is shortened: give back the height it left empty
  function trimHeight(div) {
    const fl = div._fullLayout;
    const spare = fl && fl.yaxis._length ? fl._size.h - fl.yaxis._length : 0;
    if (spare < 4) return;
    div.style.height = `${Math.round(div.clientHeight - spare)}px`;
    Plotly.Plots.resize(div).catch(() => {});
  }

  function interp(xs, ys, x) {
    const i = gridIndex(xs, x);
    const k = x < xs[i] ? i - 1 : i;
    const t = (x - xs[k]) / (xs[k + 1] - xs[k]);
    return ys[k] === null || ys[k + 1] === null ? null : ys[k] + Math.max(0, Math.min(1, t)) * (ys[k + 1] - ys[k]);
  }

  // the minima a preset knows (inside the ranges), else the lowest point of the grid
  function minimaTrace(s) {
    const preset = currentPreset();
    const [xa, xb] = span(s.x);
    let pts, name;
    if (preset) {
      const inside = (m) => m[0] >= xa && m[0] <= xb && (s.dims === 1 || (m[1] >= span(s.y)[0] && m[1] <= span(s.y)[1]));
      pts = preset.minima.filter(inside).map((m) => (s.dims === 2 ? m : [m[0], interp(s.x, s.z, m[0])]));
      name = pts.length > 1 ? "minima" : "minimum";
    } else {
      pts = [lowestGridPoint(s)].filter(Boolean);
      name = "lowest grid point";
    }
    if (!pts.length) return null;
    return {
      type: "scatter", mode: "markers", meta: "minimum", name, x: pts.map((p) => p[0]), y: pts.map((p) => p[1]),
      cliponaxis: false,   // a minimum on the edge of the ranges is drawn whole
      marker: s.dims === 2 ? MINIMUM_RING : { ...MINIMUM_RING, color: "#d99a00", line: { color: "#d99a00", width: 3 } },
      hovertemplate: `${name} (%{x:.4g}, %{y:.4g})<extra></extra>`,
    };
  }

  function lowestGridPoint(s) {
    let best = null;
    if (s.dims === 1) s.z.forEach((v, i) => { if (isNum(v) && (!best || v < best[2])) best = [s.x[i], v, v]; });
    else s.z.forEach((row, j) => row.forEach((v, i) => { if (isNum(v) && (!best || v < best[2])) best = [s.x[i], s.y[j], v]; }));
    return best && best.slice(0, 2);
  }

  // a run's path in plot coordinates: (x, y), or on a curve (x, f(x))
  function pathXY(run) {
    if (state.surface.dims === 2) return { x: run.path.map((p) => p[0]), y: run.path.map((p) => p[1]) };
    return { x: run.path.map((p) => p[0]), y: run.values };
  }

  function runTraces(run, i) {
    const c = COLORS[i % COLORS.length], st = STYLES[i % STYLES.length];
    const { x, y } = pathXY(run);
    const few = x.length <= 200;   // markers on every iterate only where they can be told apart
    return [{
      type: "scatter", mode: few ? "lines+markers" : "lines", meta: "path", name: run.label, x, y, legendgroup: run.label,
      line: { color: c, width: 1.5, dash: st.dash }, marker: { color: c, size: 5, symbol: st.symbol }, opacity: 0.6,
      hovertemplate: `${run.label}<br>step %{pointNumber}<br>(%{x:.4g}, %{y:.4g})<extra></extra>`,
    }, {
      type: "scatter", mode: "lines", meta: "trail", name: `${run.label} (so far)`, x: x.slice(0, 1), y: y.slice(0, 1),
      legendgroup: run.label, line: { color: c, width: st.width, dash: st.dash }, showlegend: false, hoverinfo: "skip",
    }, {
      type: "scatter", mode: "markers", meta: "now", name: `${run.label} (now)`, x: x.slice(0, 1), y: y.slice(0, 1),
      legendgroup: run.label, marker: { color: c, size: 13, symbol: st.symbol, line: { color: "#fff", width: 2 } },
      showlegend: false, hoverinfo: "skip",
    }];
  }

  function startTrace(s, runs) {
    const x0 = currentX0();
    const y = s.dims === 2 ? x0[1] : runs.length ? runs[0].values[0] : interp(s.x, s.z, x0[0]);
    return {
      type: "scatter", mode: "markers", meta: "start", name: "start", x: [x0[0]], y: [y],
      marker: { symbol: "x-thin", size: 14, color: "#111", line: { width: 3, color: "#111" } },
      hovertemplate: "start (%{x:.4g}, %{y:.4g})<extra></extra>",
    };
  }

  function curveTrace(s) {
    return {
      type: "scatter", mode: "lines", meta: "surface", name: `f(${s.variables[0]})`, x: s.x, y: s.z, showlegend: false,
      line: { color: "#1d4e89", width: 2 }, hovertemplate: `${s.variables[0]}=%{x:.4f}<br>f=%{y:.4g}<extra></extra>`,
    };
  }

  function curveRange(s) {
    const fin = s.z.filter(isNum);
    const lo = Math.min(...fin), hi = Math.max(...fin);
    const pad = 0.06 * Math.max(hi - lo, 1e-9);
    return [lo - pad, hi + pad];
  }

  function surfaceLayout(s) {
    return {
      margin: { ...MARGIN }, hovermode: "closest", plot_bgcolor: "#fff", uirevision: state.surfaceKey,
      xaxis: { title: { text: s.variables[0] }, range: span(s.x), autorange: false, zeroline: false },
      yaxis: { title: { text: s.dims === 2 ? s.variables[1] : "f" }, zeroline: false },
    };
  }

  // the learner's zoom, if the plot shows this surface zoomed (newPlot would forget it)
  function keptZoom(div) {
    const l = div.layout;
    if (!l || !l.xaxis || !l.yaxis || l.uirevision !== state.surfaceKey || !l.yaxis.range) return null;
    const s = state.surface;
    const full = span(s.x), x = l.xaxis.range;
    const zoomed = x[0] > full[0] + 1e-9 || x[1] < full[1] - 1e-9 || (s.dims === 1 && l.yaxis.autorange === false &&
      JSON.stringify(l.yaxis.range) !== JSON.stringify(curveRange(s)));
    return zoomed ? { "xaxis.range": x.slice(), "yaxis.range": l.yaxis.range.slice() } : null;
  }

  function drawSurface() {
    const s = state.surface;
    const div = $("surface-plot");
    const runs = state.run ? state.run.runs : [];
    const layout = surfaceLayout(s);
    const traces = [];
    $("surface-title").textContent = `f(${s.variables.join(", ")}) = ${$("formula").value.trim()}`;
    const rows = legendRows(div, runs.length + 2);   // the runs, the minimum and the start
    div.style.height = s.dims === 2 ? `${squareHeight(div, s.x, s.y, rows)}px` : "";
    layout.legend = legendBelow(div.clientHeight, rows);
    if (s.dims === 2) {
      const hover = `${s.variables[0]}=%{x:.3f}<br>${s.variables[1]}=%{y:.3f}<br>f=%{text}<extra></extra>`;
      traces.push(contourTrace(s.x, s.y, s.z, hover, "f"));
      equalAxes(layout, s.x, s.y);
    } else {
      traces.push(curveTrace(s));
      layout.yaxis = { ...layout.yaxis, range: curveRange(s), autorange: false };
      div.style.height = "";
    }
    runs.forEach((run, i) => traces.push(...runTraces(run, i)));
    const minimum = minimaTrace(s);
    if (minimum) traces.push(minimum);
    traces.push(startTrace(s, runs));
    const zoom = keptZoom(div);
    Plotly.newPlot(div, traces, layout, PLOT_CONFIG);   // not react: see drawFitContour
    if (zoom) Plotly.relayout(div, zoom);               // a zoom, not the new home: double-click resets it
    if (s.dims === 2) trimHeight(div);
    drawLoss(runs);
  }

  function drawLoss(runs) {
    const traces = runs.map((run, i) => ({
      type: "scatter", mode: "lines", meta: "loss", name: run.label, x: run.loss.map((_, k) => k), y: run.loss,
      line: { color: COLORS[i % COLORS.length], width: 0.6 * STYLES[i % STYLES.length].width + 0.4 },   // later on top, narrower
    }));
    const all = runs.flatMap((r) => r.loss.filter(isNum));
    const log = all.length > 0 && all.every((v) => v > 0);
    const layout = {
      margin: { l: 60, r: 16, t: 24, b: 40 },
      xaxis: { title: { text: "step" }, zeroline: false },
      yaxis: { title: { text: "f" }, type: log ? "log" : "linear", exponentformat: "power", dtick: log ? logTick(all) : undefined },
      showlegend: false,
      shapes: [],
      plot_bgcolor: "#fff",
    };
    if (!runs.length) {
      layout.annotations = [{ text: "Run to see the loss per step", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#98a2b3" } }];
      layout.xaxis.visible = false;
      layout.yaxis.visible = false;
    } else {
      layout.shapes = [{ type: "line", xref: "x", yref: "paper", x0: 0, x1: 0, y0: 0, y1: 1, line: { color: "#98a2b3", width: 1, dash: "dash" } }];
    }
    Plotly.react($("loss-plot"), traces, layout, PLOT_CONFIG);
  }

  function surfaceFrame(k) {
    if (!state.run || !state.surface) return;
    const div = $("surface-plot");
    const xs = [], ys = [], idx = [];
    let i = -1;   // each run's traces: path, trail, now
    div.data.forEach((t, j) => {
      if (t.meta === "path") i += 1;
      if (t.meta !== "trail" && t.meta !== "now") return;
      const { x, y } = pathXY(state.run.runs[i]);
      const kk = Math.min(k, x.length - 1);
      if (t.meta === "trail") { xs.push(x.slice(0, kk + 1)); ys.push(y.slice(0, kk + 1)); } else { xs.push([x[kk]]); ys.push([y[kk]]); }
      idx.push(j);
    });
    if (idx.length) Plotly.restyle(div, { x: xs, y: ys }, idx);
    const loss = $("loss-plot");
    if (loss.layout && loss.layout.shapes && loss.layout.shapes.length) {
      Plotly.relayout(loss, { "shapes[0].x0": k, "shapes[0].x1": k });
    }
  }

  // "Gradient descent diverged at step 2: the loss grew to 1e+24 from 24 at the start, with learning rate 0.1.
  // The largest stable ... (2/L ...): use lr below that ..." -> "at step 2: the loss grew to 1e+24 from 24 at
  // the start." (the label already names the lr; the stable lr is shown once, after it)
  function divergedAt(message) {
    const first = (message || "").split(/\.\s/)[0];
    const m = first.match(/diverged (at step .*?)(?:, with learning rate [^:]*)?\.?$/);
    return m ? `${m[1]}.` : sentence(first);
  }

  function stableLr(lr) {
    const s = document.createElement("span");
    s.className = "stable";
    s.textContent = isNum(lr) ? `Stable learning rate: about ${fmt(lr)} — use an lr below it.` : "Use a smaller learning rate.";
    return s;
  }

  // how a run ended, in one line (the loop's whole message is the tooltip)
  function outcome(run) {
    const n = run.path.length - 1;
    const at = `f = ${fmt(run.values[n])} at (${run.path[n].map(fmt).join(", ")})`;
    if (run.status === 0) return `converged in ${n} steps: ${at}.`;
    if (run.status !== 1) return sentence(run.message);
    const g = /gradient norm (\S+) at the last step/.exec(run.message);
    return `not converged after ${n} steps${g ? ` (gradient norm ${g[1]})` : ""}: ${at}.`;
  }

  // text: how a run that did not diverge ended; a diverged one says where, and the stable lr once
  function runMessage({ label, color, message, diverged, stable, text }) {
    const m = document.createElement("div");
    m.className = "msg" + (diverged ? " diverged" : "");
    m.style.setProperty("--c", color);
    m.title = message;
    const b = document.createElement("b");
    b.textContent = diverged ? `${label} diverged` : `${label}:`;
    m.append(b, ` ${diverged ? divergedAt(message) : text}`);
    if (diverged) m.append(" ", stableLr(stable));
    return m;
  }

  function showRunMessages(runs, box) {
    box.textContent = "";
    runs.forEach((run, i) => box.append(runMessage({
      label: run.label, color: COLORS[i % COLORS.length], message: run.message, diverged: run.diverged,
      stable: run.stable_lr, text: outcome(run),
    })));
    if (runs.some((r) => r.diverged)) box.scrollIntoView({ block: "nearest" });
  }

  async function runSurface() {
    showError("");
    setState("running");
    player.surface.pause();
    try {
      await loadSurface(false);
      const req = { formula: $("formula").value.trim(), x0: currentX0(), optimizers: surfaceOpts(), steps: Math.round(num($("steps"), 50)) };
      const res = await api("/api/run", req);
      state.run = res;
      window.gradstepLast = res;
      state.ran.surface = true;
      drawSurface();
      showRunMessages(res.runs, $("messages"));
      player.surface.setLength(Math.max(...res.runs.map((r) => r.path.length)));
      $("download").disabled = false;
      updateURL();
      setState("done");
      player.surface.play();
    } catch (e) {
      showError(e.message);
      updateURL();
    }
  }

  function onSurfaceClick(ev) {
    const div = $("surface-plot");
    const fl = div._fullLayout;
    const drag = div.querySelector(".nsewdrag");
    if (!fl || !drag || !state.surface || !ev) return;
    const r = drag.getBoundingClientRect();
    if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) return;
    const round = (v) => Math.round(v * 1000) / 1000;
    $("x0x").value = round(fl.xaxis.p2d(ev.clientX - r.left));
    if (state.surface.dims === 2) $("x0y").value = round(fl.yaxis.p2d(ev.clientY - r.top));
    moveStart();
  }

  function moveStart() {
    const div = $("surface-plot");
    if (!div.data || !state.surface) return;
    const j = div.data.findIndex((t) => t.meta === "start");
    const start = startTrace(state.surface, []);   // on a curve: at f(start)
    if (j >= 0) Plotly.restyle(div, { x: [start.x], y: [start.y] }, [j]);
    changed("surface");
  }

  // ---------------------------------------------------------------- data mode
  function points() {
    return $("source").value === "upload" ? state.uploaded : state.bundled;
  }

  function showPointsInfo() {
    const src = $("source").value;
    const pts = points();
    $("upload-field").hidden = src !== "upload";
    $("batch-field").hidden = $("method").value !== "minibatch";
    const note = $("upload-note");
    note.hidden = true;
    if (src === "bundled") {
      $("points-info").textContent = state.bundled ? `${state.bundled.name}: ${state.bundled.description}.` : "";
    } else if (pts) {
      $("points-info").textContent = `${pts.x.length} uploaded points (${pts.names[0]}, ${pts.names[1]}).`;
      if (pts.x.length > URL_POINTS) {
        note.hidden = false;
        note.textContent = `${pts.x.length} points are too many for the link (at most ${URL_POINTS}): whoever opens it must upload the CSV again.`;
      }
    } else {
      $("points-info").textContent = "Choose a CSV file with two columns (x, y).";
      if (state.uploadMissing) {
        note.hidden = false;
        note.textContent = `This link was made with an uploaded CSV of ${state.uploadMissing} points, too many to carry in the link: upload the same file again, then press Fit.`;
      }
    }
  }

  function fitRequest() {
    const pts = points();
    return {
      x: pts.x, y: pts.y, method: $("method").value, batch_size: Math.round(num($("batch-size"), 10)),
      epochs: Math.round(num($("epochs"), 100)), optimizer: fitOpt(), seed: Math.round(num($("seed"), 0)), grid: 60,
    };
  }

  function fitLabel(req, label) {   // label: the server's, of the optimiser
    const how = { full: "full batch", minibatch: `mini-batch ${req.batch_size}`, sgd: "per sample" }[req.method];
    return `${how}, ${label}`;
  }

  function drawData() {
    const equal = fitToScale(state.fit);
    const c = state.fit && state.fit.contour;   // both halves as tall as the contours drawn to scale need
    const h = equal ? `${squareHeight($("contour-plot"), c.w, c.b, legendRows($("data-plot"), 3))}px` : "";
    $("contour-plot").style.height = $("data-plot").style.height = h;
    $("contour-title").textContent = `mean squared error over (w, b)${state.fit && !equal ? ", w and b not to scale" : ""}`;
    drawPoints();
    drawFitContour(equal);
    drawFitLoss();
  }

  // w and b on one scale (the gradient crosses the contours at right angles) unless that would squash the plot
  function fitToScale(fit) {
    if (!fit) return false;
    const [w0, w1] = span(fit.contour.w), [b0, b1] = span(fit.contour.b);
    const ratio = (b1 - b0) / (w1 - w0);
    return ratio >= 0.5 && ratio <= 2;
  }

  // the two halves share a height and the legend's place (3 entries on the left, 2 on the right)
  function dataLayout() {
    const div = $("data-plot");
    return { margin: { ...MARGIN }, plot_bgcolor: "#fff", hovermode: "closest",
      legend: legendBelow(div.clientHeight, legendRows(div, 3)) };
  }

  function drawPoints() {
    const pts = points();
    const fit = state.fit;
    const traces = [];
    const names = pts ? pts.names || ["x", "y"] : ["x", "y"];
    if (pts) {
      traces.push({
        type: "scatter", mode: "markers", meta: "points", name: "points", x: pts.x, y: pts.y,
        marker: { color: "#5d8cc7", size: 6, opacity: 0.75, line: { color: "#1d4e89", width: 0.5 } },
      });
    }
    if (fit && pts) {
      const lo = Math.min(...pts.x), hi = Math.max(...pts.x);
      const [cw, cb] = fit.closed_form;
      traces.push({
        type: "scatter", mode: "lines", meta: "closed-line", name: `closed form: ${fmt(cw)}·x + ${fmt(cb)}`,
        x: [lo, hi], y: [cw * lo + cb, cw * hi + cb], line: { color: "#111", width: 1.5, dash: "dash" },
      });
      const [w, b] = fit.path[0];
      traces.push({
        type: "scatter", mode: "lines", meta: "line", name: "fit", x: [lo, hi], y: [w * lo + b, w * hi + b],
        customdata: [[w, b], [w, b]], line: { color: COLORS[0], width: 3 },
      });
    }
    Plotly.react($("data-plot"), traces, {
      ...dataLayout(), xaxis: { title: { text: names[0] }, zeroline: false }, yaxis: { title: { text: names[1] }, zeroline: false },
    }, PLOT_CONFIG);
  }

  function drawFitContour(equal) {
    const fit = state.fit;
    const layout = { ...dataLayout(), xaxis: { title: { text: "w" }, zeroline: false }, yaxis: { title: { text: "b" }, zeroline: false } };
    if (!fit) {
      layout.annotations = [{ text: "Fit to see the (w, b) path on the loss contours", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#98a2b3" } }];
    } else if (equal) {
      equalAxes(layout, fit.contour.w, fit.contour.b);
    } else {
      layout.xaxis.range = span(fit.contour.w);
      layout.yaxis.range = span(fit.contour.b);
    }
    // newPlot: Plotly.react keeps the last constraint of the axes to scale when the ranges change
    Plotly.newPlot($("contour-plot"), fit ? fitContourTraces(fit) : [], layout, PLOT_CONFIG);
  }

  function fitContourTraces(fit) {
    const c = fit.contour;
    const x = fit.path.map((p) => p[0]), y = fit.path.map((p) => p[1]);
    return [
      contourTrace(c.w, c.b, c.loss, "w=%{x:.4f}<br>b=%{y:.4f}<br>mse=%{text}<extra></extra>", "mse"),
      {
        type: "scatter", mode: "lines+markers", meta: "path", name: fit.label, x, y, opacity: 0.55,
        line: { color: COLORS[0], width: 1.5, dash: "dot" }, marker: { color: COLORS[0], size: 3 },
      },
      { type: "scatter", mode: "lines", meta: "trail", name: "so far", x: x.slice(0, 1), y: y.slice(0, 1), line: { color: COLORS[0], width: 3 }, showlegend: false, hoverinfo: "skip" },
      { type: "scatter", mode: "markers", meta: "now", name: "now", x: x.slice(0, 1), y: y.slice(0, 1), marker: { color: COLORS[0], size: 12, line: { color: "#fff", width: 2 } }, showlegend: false, hoverinfo: "skip" },
      {
        type: "scatter", mode: "markers", meta: "closed", name: "closed form", x: [fit.closed_form[0]], y: [fit.closed_form[1]],
        marker: MINIMUM_MARKER, hovertemplate: "closed form<br>w=%{x:.5g}<br>b=%{y:.5g}<extra></extra>",
      },
    ];
  }

  function drawFitLoss() {
    const fit = state.fit;
    const lt = fit ? [{ type: "scatter", mode: "lines", meta: "loss", name: fit.label, x: fit.loss.map((_, k) => k), y: fit.loss, line: { color: COLORS[0], width: 2 } }] : [];
    const fin = fit ? fit.loss.filter(isNum) : [];
    const log = fin.length > 0 && fin.every((v) => v > 0);
    Plotly.react($("fit-loss-plot"), lt, {
      margin: { l: 60, r: 16, t: 24, b: 40 },
      xaxis: { title: { text: "step" }, zeroline: false, visible: !!fit },
      yaxis: { title: { text: "mse" }, type: log ? "log" : "linear", visible: !!fit, exponentformat: "power", dtick: log ? logTick(fin) : undefined },
      shapes: fit ? [{ type: "line", xref: "x", yref: "paper", x0: 0, x1: 0, y0: 0, y1: 1, line: { color: "#98a2b3", width: 1, dash: "dash" } }] : [],
      showlegend: false, plot_bgcolor: "#fff",
    }, PLOT_CONFIG);
  }

  function dataFrame(k) {
    const fit = state.fit;
    const pts = points();
    if (!fit || !pts) return;
    const kk = Math.min(k, fit.path.length - 1);
    const x = fit.path.map((p) => p[0]), y = fit.path.map((p) => p[1]);
    const cdiv = $("contour-plot");
    const idx = [], xs = [], ys = [];
    cdiv.data.forEach((t, j) => {
      if (t.meta === "trail") { idx.push(j); xs.push(x.slice(0, kk + 1)); ys.push(y.slice(0, kk + 1)); }
      if (t.meta === "now") { idx.push(j); xs.push([x[kk]]); ys.push([y[kk]]); }
    });
    if (idx.length) Plotly.restyle(cdiv, { x: xs, y: ys }, idx);
    const div = $("data-plot");
    const j = div.data.findIndex((t) => t.meta === "line");
    if (j >= 0) {
      const [w, b] = fit.path[kk];
      const lo = Math.min(...pts.x), hi = Math.max(...pts.x);
      const ok = isNum(w) && isNum(b);
      Plotly.restyle(div, {
        y: [ok ? [w * lo + b, w * hi + b] : [null, null]], customdata: [[[w, b], [w, b]]],
        name: [`fit at step ${kk}: ${fmt(w)}·x + ${fmt(b)}`],
      }, [j]);
    }
    const loss = $("fit-loss-plot");
    if (loss.layout && loss.layout.shapes && loss.layout.shapes.length) {
      Plotly.relayout(loss, { "shapes[0].x0": k, "shapes[0].x1": k });
    }
  }

  function showFitMessages(res, box) {
    const last = res.path[res.path.length - 1];
    const text = `batch size ${res.batch_size}, ${res.loss.length} steps: w = ${fmt(last[0])}, b = ${fmt(last[1])} ` +
      `(closed form: w = ${fmt(res.closed_form[0])}, b = ${fmt(res.closed_form[1])}).`;
    const stable = res.history && res.history.meta ? res.history.meta.stable_lr : null;
    box.textContent = "";
    box.append(runMessage({ label: res.label, color: COLORS[0], message: res.message, diverged: res.diverged, stable, text }));
    for (const text of res.warnings || []) {   // what the fit noticed about the data (e.g. unscaled x)
      const w = document.createElement("div");
      w.className = "msg warning";
      w.textContent = `Note: ${text}`;
      box.append(w);
    }
    if (res.diverged || (res.warnings || []).length) box.scrollIntoView({ block: "nearest" });
  }

  async function runFit() {
    showError("");
    setState("running");
    player.data.pause();
    try {
      if (!points()) throw new Error("no points yet: upload a CSV with two columns (x, y), or choose the bundled data set");
      const req = fitRequest();
      const res = await api("/api/fit", req);
      res.label = fitLabel(req, res.label);
      state.fit = res;
      window.gradstepLast = res;
      state.ran.data = true;
      drawData();
      showFitMessages(res, $("fit-messages"));
      player.data.setLength(res.path.length);
      $("download").disabled = false;
      updateURL();
      setState("done");
      player.data.play();
    } catch (e) {
      showError(e.message);
      updateURL();
    }
  }

  async function upload(file) {
    showError("");
    setState("running");
    try {
      const form = new FormData();
      form.append("file", file);
      const res = await api("/api/upload", form, true);
      state.uploaded = { x: res.x, y: res.y, names: res.names };
      state.uploadMissing = 0;
      $("source").value = "upload";
      state.fit = null;
      $("fit-messages").textContent = "";
      showPointsInfo();
      drawData();
      player.data.setLength(1);
      setState("ready");
    } catch (e) {
      showError(e.message);
    }
    changed("data");
  }

  // ---------------------------------------------------------------- download
  function download() {
    let payload, name;
    if (state.mode === "surface" && state.run) {
      payload = state.run.runs.map((r) => ({ label: r.label, history: r.history }));
      name = "gradstep-runs.json";
    } else if (state.mode === "data" && state.fit) {
      payload = state.fit.history;
      name = "gradstep-fit.json";
    } else {
      return;
    }
    const blob = new Blob([JSON.stringify(payload, null, 1)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // ---------------------------------------------------------------- wiring
  const player = {
    surface: new Player($("surface-player"), "surface", surfaceFrame),
    data: new Player($("data-player"), "data", dataFrame),
  };

  function wire() {
    $("tab-surface").addEventListener("click", () => {
      setMode("surface");
      updateURL();
      if (state.surfaceError && !state.surface) { showError(state.surfaceError); state.surfaceError = null; }
    });
    $("tab-data").addEventListener("click", () => { setMode("data"); updateURL(); });
    $("preset").addEventListener("change", () => {
      const p = state.presets.find((q) => q.name === $("preset").value);
      if (p) applyPreset(p);
      refreshSurface();
    });
    $("formula").addEventListener("change", onFormulaTyped);
    $("formula").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); onFormulaTyped(); } });
    for (const id of ["xmin", "xmax", "ymin", "ymax"]) $(id).addEventListener("change", () => refreshSurface());
    for (const id of ["x0x", "x0y"]) $(id).addEventListener("change", moveStart);
    $("steps").addEventListener("change", () => changed("surface"));
    $("add-opt").addEventListener("click", () => {
      const opts = surfaceOpts();
      if (opts.length >= MAX_OPTS) return;
      const last = opts[opts.length - 1] || DEFAULT_OPT;
      const names = OPTIMIZERS.map((i) => i.name);
      const name = names[(names.indexOf(last.name) + 2) % names.length] || last.name;
      renderOpts([...opts, settled({ ...clone(last), name, momentum: null, betas: null })]);
      changed("surface");
    });
    $("run").addEventListener("click", runSurface);
    $("surface-plot").addEventListener("click", onSurfaceClick);

    $("source").addEventListener("change", () => { state.fit = null; $("fit-messages").textContent = ""; showPointsInfo(); drawData(); player.data.setLength(1); changed("data"); });
    $("csv-file").addEventListener("change", () => { const f = $("csv-file").files[0]; if (f) upload(f); });
    $("method").addEventListener("change", () => { showPointsInfo(); changed("data"); });
    for (const id of ["batch-size", "epochs", "seed"]) $(id).addEventListener("change", () => changed("data"));
    $("fit").addEventListener("click", runFit);
    $("download").addEventListener("click", download);
    $("copy-link").addEventListener("click", async () => {
      updateURL();
      try {
        await navigator.clipboard.writeText(location.href);
        $("copy-link").textContent = "Link copied";
      } catch (e) {
        $("copy-link").textContent = "Link is in the address bar";
      }
      setTimeout(() => { $("copy-link").textContent = "Copy link"; }, 1800);
    });
  }

  async function init() {
    wire();
    try {
      const [optimizers, presets, bundled] = await Promise.all(
        [api("/api/optimizers"), api("/api/presets"), api("/api/datasets")]);
      OPTIMIZERS = optimizers;
      state.presets = presets;
      state.bundled = bundled;
      for (const p of presets) $("preset").add(new Option(p.name, p.name));
    } catch (e) {
      showError(e.message);
    }
    const fresh = !location.search;
    if (fresh && state.presets.length) applyPreset(state.presets[0]);
    const { mode, run } = restoreFromURL();
    setMode(mode);
    showPointsInfo();
    drawData();
    try {
      await loadSurface(true);
    } catch (e) {
      drawLoss([]);
      if (mode === "surface") { showError(e.message); return; }
      state.surfaceError = e.message;    // shown when the surface tab is opened
    }
    if (run && mode === "surface") await runSurface();
    else if (run && mode === "data" && points()) await runFit();
    else { updateURL(); setState("ready"); }
  }

  init();
})();
