/* lmmflow random-effects explorer: simulates a random-intercept-and-slope growth model in the page and
   draws it as inline SVG. Self-contained: no libraries, no network. Every slider, and every query
   parameter (?tau00=50&sigma=3), goes through the same 'input' event and the same render(). */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("lmm-data").textContent);
  var KEYS = ["gamma00", "gamma10", "tau00", "tau11", "rho", "sigma", "n_units", "n_waves", "t0"];
  var INTEGER = { n_units: true, n_waves: true };
  var BASE_TIMES = DATA.times.slice();
  var LABELS = DATA.labels;
  var MODEL = DATA.units && DATA.units.length ? DATA.units : null;
  var POOL_MAX = 12;
  var CHI2_95_2DF = 5.991464547107979;
  var root = document.getElementById("lmm-explorer");
  var renders = 0;
  var yLock = null;

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function r2(v) { return Math.round(v * 100) / 100; }  // pixel coordinates
  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2).replace("-", "−");
    var s = String(Number(v.toPrecision(digits || 3)));
    return s.replace("-", "−");
  }
  function fixed(v, d) { return isFinite(v) ? v.toFixed(d).replace("-", "−") : "–"; }

  // ---- seeded random numbers: one mulberry32 stream per unit, Box-Muller normals -------------------------
  function mulberry32(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function normals(rng, n) {
    var out = new Float64Array(n);
    for (var k = 0; k < n; k += 2) {
      var r = Math.sqrt(-2 * Math.log(1 - rng())), th = 2 * Math.PI * rng();
      out[k] = r * Math.cos(th);
      if (k + 1 < n) out[k + 1] = r * Math.sin(th);
    }
    return out;
  }
  // Unit i always gets the same standard normals for a seed (two for its random effects, one per wave for
  // the residuals), so moving a slider changes the picture only through the parameter.
  var Z = { seed: null, units: [] };
  function draws(seed, n) {
    if (Z.seed !== seed) { Z.seed = seed; Z.units = []; }
    for (var i = Z.units.length; i < n; i++) {
      var s = (Math.imul(seed >>> 0, 0x9E3779B1) ^ Math.imul(i + 1, 0x85EBCA77)) >>> 0;
      Z.units.push(normals(mulberry32(s), 2 + BASE_TIMES.length));
    }
    return Z.units;
  }

  // ---- parameters --------------------------------------------------------------------------------------
  function seedValue() {
    var v = parseInt($("seed-input").value, 10);
    return isFinite(v) ? Math.abs(v) : 0;
  }
  function current() {
    var p = {};
    KEYS.forEach(function (k) {
      var v = parseFloat($("slider-" + k).value);
      p[k] = INTEGER[k] ? Math.round(v) : v;
    });
    p.tau01 = p.rho * Math.sqrt(p.tau00 * p.tau11);
    p.seed = seedValue();
    p.times = BASE_TIMES.slice(0, p.n_waves);
    var c = p.t0, cen = {};
    cen.gamma00 = p.gamma00 + c * p.gamma10;
    cen.gamma10 = p.gamma10;
    cen.tau00 = Math.max(0, p.tau00 + 2 * c * p.tau01 + c * c * p.tau11);
    cen.tau01 = p.tau01 + c * p.tau11;
    cen.tau11 = p.tau11;
    cen.rho = cen.tau00 > 0 && p.tau11 > 0 ? clamp(cen.tau01 / Math.sqrt(cen.tau00 * p.tau11), -1, 1) : 0;
    p.cen = cen;
    return p;
  }
  function betweenVar(p, t) { return Math.max(0, p.tau00 + 2 * t * p.tau01 + t * t * p.tau11); }

  function simulate(p) {
    var z = draws(p.seed, p.n_units);
    var sd0 = Math.sqrt(p.tau00), sd1 = Math.sqrt(p.tau11), rest = Math.sqrt(Math.max(0, 1 - p.rho * p.rho));
    var units = [];
    for (var i = 0; i < p.n_units; i++) {
      var zi = z[i];
      var b0 = p.gamma00 + sd0 * zi[0];
      var b1 = p.gamma10 + sd1 * (p.rho * zi[0] + rest * zi[1]);
      var line = [], y = [];
      for (var w = 0; w < p.times.length; w++) {
        line.push(b0 + b1 * p.times[w]);
        y.push(line[w] + p.sigma * zi[2 + w]);
      }
      units.push({ id: i + 1, b0: b0, b1: b1, line: line, y: y });
    }
    return units;
  }

  // ---- small helpers for drawing -----------------------------------------------------------------------
  function lin(d0, d1, r0, r1) {
    var k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
    return function (v) { return r0 + (v - d0) * k; };
  }
  function ticks(lo, hi, n) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    var step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag, out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  function tag(name, attrs, inner) {
    var s = "<" + name;
    for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) s += " " + k + '="' + esc(attrs[k]) + '"';
    return inner === undefined ? s + "/>" : s + ">" + inner + "</" + name + ">";
  }
  function pts(xs, ys, X, Y) {
    var out = [];
    for (var i = 0; i < xs.length; i++) if (isFinite(ys[i])) out.push(r2(X(xs[i])) + "," + r2(Y(ys[i])));
    return out.join(" ");
  }
  function axes(parts, box, X, Y, xt, yt, xlab, ylab, xfmt) {
    yt.forEach(function (v) {
      parts.push(tag("line", { "class": "grid", x1: box.l, x2: box.w - box.r, y1: r2(Y(v)), y2: r2(Y(v)) }));
      parts.push(tag("text", { x: box.l - 5, y: r2(Y(v)) + 3.5, "text-anchor": "end" }, esc(fmt(v, 4))));
    });
    xt.forEach(function (v) {
      parts.push(tag("line", { "class": "axis", x1: r2(X(v)), x2: r2(X(v)), y1: box.h - box.b, y2: box.h - box.b + 4 }));
      parts.push(tag("text", { x: r2(X(v)), y: box.h - box.b + 15, "text-anchor": "middle" }, esc(xfmt ? xfmt(v) : fmt(v, 4))));
    });
    parts.push(tag("line", { "class": "axis", x1: box.l, x2: box.w - box.r, y1: box.h - box.b, y2: box.h - box.b }));
    parts.push(tag("line", { "class": "axis", x1: box.l, x2: box.l, y1: box.t, y2: box.h - box.b }));
    parts.push(tag("text", { x: (box.l + box.w - box.r) / 2, y: box.h - 4, "text-anchor": "middle", "class": "legend-text" }, esc(xlab)));
    parts.push(tag("text", { x: 12, y: (box.t + box.h - box.b) / 2, "text-anchor": "middle", "class": "legend-text",
      transform: "rotate(-90 12 " + r2((box.t + box.h - box.b) / 2) + ")" }, esc(ylab)));
  }
  function modelShown() { return !!MODEL && $("toggle-model") !== null && $("toggle-model").checked; }

  // ---- trajectories ------------------------------------------------------------------------------------
  var TR = { w: 760, h: 360, l: 58, r: 18, t: 12, b: 38 };
  function yRange(p, units) {
    var lo = Infinity, hi = -Infinity;
    if (units) {
      var noise = $("toggle-noise").checked;
      units.forEach(function (u) { (noise ? u.y : u.line).forEach(function (v) { lo = Math.min(lo, v); hi = Math.max(hi, v); }); });
    } else {
      BASE_TIMES.forEach(function (t) {
        var m = p.gamma00 + p.gamma10 * t, s = 2.6 * Math.sqrt(betweenVar(p, t) + p.sigma * p.sigma);
        lo = Math.min(lo, m - s); hi = Math.max(hi, m + s);
      });
    }
    if (modelShown()) MODEL.forEach(function (u) { u.y.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    var pad = (hi - lo) * 0.04;
    return [lo - pad, hi + pad];
  }

  function drawTrajectories(p, units) {
    var svg = $("traj-svg"), parts = [], c = p.t0, times = p.times;
    var noise = $("toggle-noise").checked, band = $("toggle-band").checked, showModel = modelShown();
    var x0 = Math.min(times[0], c), x1 = Math.max(times[times.length - 1], c);
    if (showModel) MODEL.forEach(function (u) { u.t.forEach(function (t) { x0 = Math.min(x0, t); x1 = Math.max(x1, t); }); });
    var pad = (x1 - x0) * 0.04 || 0.5;
    var X = lin(x0 - pad, x1 + pad, TR.l, TR.w - TR.r);
    if (!yLock) yLock = yRange(p, null);
    var Y = lin(yLock[0], yLock[1], TR.h - TR.b, TR.t);
    parts.push("<defs>" + tag("clipPath", { id: "traj-clip" }, tag("rect", { x: TR.l, y: TR.t, width: TR.w - TR.l - TR.r, height: TR.h - TR.t - TR.b })) + "</defs>");
    var xlab = c === 0 ? LABELS.time : LABELS.time + " − " + fmt(c, 4) + "   (time zero moved to " + LABELS.time + " = " + fmt(c, 4) + ")";
    axes(parts, TR, X, Y, times, ticks(yLock[0], yLock[1], 6), xlab, LABELS.response, function (t) { return fmt(t - c, 4); });
    var body = [];
    if (band) {  // 95% of the units' own (noise-free) lines at each t
      var up = [], dn = [], n = 60;
      for (var k = 0; k <= n; k++) {
        var t = times[0] + (times[times.length - 1] - times[0]) * k / n, m = p.gamma00 + p.gamma10 * t, s = 1.96 * Math.sqrt(betweenVar(p, t));
        up.push(r2(X(t)) + "," + r2(Y(m + s)));
        dn.unshift(r2(X(t)) + "," + r2(Y(m - s)));
      }
      body.push(tag("polygon", { id: "band", "class": "band", points: up.concat(dn).join(" ") }));
    }
    var opacity = clamp(3.2 / Math.sqrt(Math.max(units.length, 1)), 0.07, 0.85);
    var lines = units.map(function (u) {
      var ys = noise ? u.y : u.line;
      return tag("polyline", { "class": "unit", "data-unit": u.id, "data-y": ys.map(function (v) { return String(v); }).join(" "),
        points: pts(times, ys, X, Y) });
    });
    body.push(tag("g", { id: "traj-units", "stroke-opacity": r2(opacity), "data-n": units.length }, lines.join("")));
    if (showModel) {
      var ml = MODEL.map(function (u) {
        var ts = u.t.filter(function (t) { return isFinite(t); });
        var lo = Math.min.apply(null, ts), hi = Math.max.apply(null, ts);
        var dots = u.t.map(function (t, i) {
          return u.y[i] === null ? "" : tag("circle", { "class": "model-point", cx: r2(X(t)), cy: r2(Y(u.y[i])), r: 1.8 });
        }).join("");
        return tag("g", { "class": "model-unit-group", "data-unit": u.id }, dots +
          tag("polyline", { "class": "model-unit", "data-unit": u.id, "data-b0": u.b0, "data-b1": u.b1,
            points: pts([lo, hi], [u.b0 + u.b1 * lo, u.b0 + u.b1 * hi], X, Y) }));
      });
      // many units: fainter lines and points, so the band, the mean and the simulated lines stay visible
      var nm = Math.max(MODEL.length, 1);
      body.push(tag("g", { id: "model-units", "data-n": MODEL.length,
        style: "--model-line: " + r2(clamp(3.5 / Math.sqrt(nm), 0.12, 0.6)) + "; --model-point: " +
          r2(clamp(2.5 / Math.sqrt(nm), 0.08, 0.5)) }, ml.join("")));
    }
    var meanY = times.map(function (t) { return p.gamma00 + p.gamma10 * t; });
    body.push(tag("polyline", { id: "mean-line", "class": "mean", points: pts(times, meanY, X, Y) }));
    var dots = times.map(function (t, w) {
      var s = 0;
      units.forEach(function (u) { s += noise ? u.y[w] : u.line[w]; });
      var m = s / units.length;
      return tag("circle", { "class": "sample-mean", cx: r2(X(t)), cy: r2(Y(m)), r: 3.5, "data-t": t, "data-mean": m });
    });
    body.push(tag("g", { id: "sample-mean" }, dots.join("")));
    var sd0 = Math.sqrt(p.cen.tau00), g0 = p.cen.gamma00;
    body.push(tag("line", { id: "origin-line", "class": "origin", x1: r2(X(c)), x2: r2(X(c)), y1: TR.t, y2: TR.h - TR.b, "data-t0": c }));
    body.push(tag("line", { id: "origin-spread", "class": "origin-spread", x1: r2(X(c)), x2: r2(X(c)),
      y1: r2(Y(g0 - 1.96 * sd0)), y2: r2(Y(g0 + 1.96 * sd0)), "data-sd": sd0 }));
    var fan = fanInfo(p);
    if (fan.tstar !== null && fan.tstar > times[0] && fan.tstar < times[times.length - 1]) {
      var xs = r2(X(fan.tstar)), yb = TR.h - TR.b;
      body.push(tag("path", { id: "tstar-marker", "class": "tstar", d: "M" + xs + "," + (yb - 9) + " l-5,9 l10,0 z", "data-t": fan.tstar }));
    }
    parts.push(tag("g", { "clip-path": "url(#traj-clip)" }, body.join("")));
    svg.innerHTML = parts.join("");
    svg.setAttribute("data-n-units", units.length);
    svg.setAttribute("data-n-waves", times.length);
    svg.setAttribute("data-noise", noise ? "1" : "0");
    svg.setAttribute("data-y-range", yLock.join(" "));
    var cap = units.length + " simulated units" + (noise ? " (observed, with noise)" : " (noise-free unit lines)") +
      (showModel ? "; orange: the model's " + MODEL.length + " units, BLUP lines and data" : "") +
      "; blue: mean trajectory" + (band ? ", shaded: 95% of unit lines" : "") +
      "; magenta bar: 95% of the intercepts at time zero";
    $("traj-caption").textContent = cap;
    return fan;
  }

  function fanInfo(p) {
    var t0 = p.times[0], t1 = p.times[p.times.length - 1];
    var s0 = Math.sqrt(betweenVar(p, t0)), s1 = Math.sqrt(betweenVar(p, t1));
    var tstar = p.tau11 > 1e-12 ? -p.tau01 / p.tau11 : null, kind;
    if (tstar === null) kind = "parallel";
    else if (tstar <= t0) kind = "out";
    else if (tstar >= t1) kind = "in";
    else kind = "in-out";
    return { kind: kind, tstar: tstar, sd_first: s0, sd_last: s1,
      sd_min: tstar === null ? s0 : Math.sqrt(betweenVar(p, clamp(tstar, t0, t1))) };
  }
  function describeFan(p, fan) {
    // times as on the x axis (after moving time zero)
    var T = LABELS.time + (p.t0 === 0 ? "" : " − " + fmt(p.t0, 4) + " =");
    var a = fmt(p.times[0] - p.t0, 3), b = fmt(p.times[p.times.length - 1] - p.t0, 3);
    var txt;
    if (fan.kind === "parallel") txt = "Parallel lines: slopes do not vary (τ11 = 0), so the spread of the unit lines is the same at every wave (SD " + fmt(fan.sd_first) + ").";
    else if (fan.kind === "out") txt = "Fan-out: the unit lines spread apart over time, SD " + fmt(fan.sd_first) + " at " + T + " " + a + " → " + fmt(fan.sd_last) + " at " + T + " " + b + ".";
    else if (fan.kind === "in") txt = "Fan-in: the unit lines converge over the waves shown, SD " + fmt(fan.sd_first) + " → " + fmt(fan.sd_last) + "; they would be closest at " + T + " " + fmt(fan.tstar - p.t0) + " (t* = −τ01/τ11).";
    else txt = "Fan-in, then fan-out: the unit lines are closest at " + T + " " + fmt(fan.tstar - p.t0) + " (t* = −τ01/τ11, ▲) with SD " + fmt(fan.sd_min) + ", against " + fmt(fan.sd_first) + " at the first wave and " + fmt(fan.sd_last) + " at the last.";
    var el = $("fan-status");
    el.textContent = txt;
    el.setAttribute("data-fan", fan.kind);
    el.setAttribute("data-tstar", fan.tstar === null ? "" : fan.tstar);
    el.setAttribute("data-sd-first", fan.sd_first);
    el.setAttribute("data-sd-last", fan.sd_last);
  }

  // ---- variance and ICC per wave -----------------------------------------------------------------------
  function drawVariance(p, units) {
    var tbl = $("icc-table"), c = p.t0, s2 = p.sigma * p.sigma, noise = $("toggle-noise").checked;
    var rows = [], stats = [];
    p.times.forEach(function (t, w) {
      var b = betweenVar(p, t), v = b + s2, icc = v > 0 ? b / v : 0;
      var m = 0, q = 0, n = units.length;
      units.forEach(function (u) { m += u.y[w]; });
      m /= n;
      units.forEach(function (u) { q += (u.y[w] - m) * (u.y[w] - m); });
      var sv = n > 1 ? q / (n - 1) : NaN;
      stats.push({ t: t, between: b, v: v, icc: icc, sv: sv });
      tbl.setAttribute("data-icc-t" + w, icc);
      tbl.setAttribute("data-var-t" + w, v);
      tbl.setAttribute("data-between-t" + w, b);
      rows.push(tag("tr", { "data-wave": w, "data-time": t, "data-icc": icc, "data-var": v },
        tag("td", {}, esc(fmt(t - c, 4) + (c !== 0 ? " (" + fmt(t, 4) + ")" : ""))) + tag("td", {}, esc(fmt(b, 4))) +
        tag("td", {}, esc(fmt(v, 4))) + tag("td", { "class": "icc" }, fixed(icc, 3)) + tag("td", {}, esc(fmt(sv, 4)))));
    });
    var head = tag("tr", {}, tag("th", {}, esc(LABELS.time + (c !== 0 ? " − " + fmt(c, 4) : ""))) + tag("th", { title: "τ00 + 2tτ01 + t²τ11" }, "between") +
      tag("th", { title: "between + σ²" }, "Var(y<sub>t</sub>)") + tag("th", {}, "ICC(t)") +
      tag("th", { title: "variance of the simulated observations at this wave" + (noise ? "" : " (with noise)") }, "sample var"));
    tbl.innerHTML = "<thead>" + head + "</thead><tbody>" + rows.join("") + "</tbody>";
    tbl.setAttribute("data-n-waves", p.times.length);
    tbl.setAttribute("data-sigma2", s2);

    var box = { w: 360, h: 160, l: 56, r: 34, t: 18, b: 32 }, parts = [];
    var vmax = Math.max.apply(null, stats.map(function (s) { return s.v; })) || 1;
    var X = function (i) { return box.l + (i + 0.5) * (box.w - box.l - box.r) / stats.length; };
    var Y = lin(0, vmax * 1.05, box.h - box.b, box.t), YI = lin(0, 1, box.h - box.b, box.t);
    axes(parts, box, X, Y, [], ticks(0, vmax * 1.05, 4), "", "variance");
    var bw = Math.min(34, 0.6 * (box.w - box.l - box.r) / stats.length), icc = [];
    stats.forEach(function (s, i) {
      var x = r2(X(i) - bw / 2);
      parts.push(tag("rect", { "class": "bar-between", x: x, width: r2(bw), y: r2(Y(s.between)), height: r2(Y(0) - Y(s.between)) }));
      parts.push(tag("rect", { "class": "bar-within", x: x, width: r2(bw), y: r2(Y(s.v)), height: r2(Y(s.between) - Y(s.v)) }));
      parts.push(tag("text", { x: r2(X(i)), y: box.h - box.b + 13, "text-anchor": "middle" }, esc(fmt(s.t - c, 3))));
      icc.push(r2(X(i)) + "," + r2(YI(s.icc)));
    });
    parts.push(tag("polyline", { "class": "icc-line", points: icc.join(" ") }));
    stats.forEach(function (s, i) { parts.push(tag("circle", { "class": "icc-dot", cx: r2(X(i)), cy: r2(YI(s.icc)), r: 3 })); });
    [0, 0.5, 1].forEach(function (v) {
      parts.push(tag("text", { x: box.w - box.r + 4, y: r2(YI(v)) + 3.5 }, fixed(v, 1)));
    });
    parts.push(tag("text", { x: box.w - 2, y: 10, "text-anchor": "end", "class": "legend-text" }, "ICC"));
    parts.push(tag("text", { x: (box.l + box.w - box.r) / 2, y: box.h - 3, "text-anchor": "middle", "class": "legend-text" },
      "blue: between-unit · grey: σ² · orange: ICC (right axis)"));
    $("icc-svg").innerHTML = parts.join("");
  }

  // ---- partial pooling ---------------------------------------------------------------------------------
  function inv2(a) { var d = a[0] * a[3] - a[1] * a[2]; return [a[3] / d, -a[1] / d, -a[2] / d, a[0] / d]; }
  function mul2(a, b) {
    return [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]];
  }
  function ols(ts, ys) {
    var n = 0, st = 0, sy = 0;
    for (var i = 0; i < ts.length; i++) if (ys[i] !== null && isFinite(ys[i])) { n++; st += ts[i]; sy += ys[i]; }
    if (n < 2) return null;
    var tb = st / n, yb = sy / n, sxx = 0, sxy = 0;
    for (i = 0; i < ts.length; i++) if (ys[i] !== null && isFinite(ys[i])) { sxx += (ts[i] - tb) * (ts[i] - tb); sxy += (ts[i] - tb) * (ys[i] - yb); }
    if (!(sxx > 0)) return null;
    var b1 = sxy / sxx;
    return [yb - b1 * tb, b1];
  }
  function poolSource() { var s = $("pool-source"); return s && s.value === "model" && MODEL ? "model" : "sim"; }

  function pooling(p, units) {
    var c = p.t0, g = [p.cen.gamma00, p.cen.gamma10], rows = [], w0 = null, w1 = null;
    var T = [p.cen.tau00, p.cen.tau01, p.cen.tau01, p.cen.tau11];
    if (poolSource() === "model") {
      MODEL.slice(0, POOL_MAX).forEach(function (u) {
        var e = ols(u.t.map(function (t) { return t - c; }), u.y);
        rows.push({ id: u.id, ols: e, blup: [u.b0 + c * u.b1, u.b1] });
      });
    } else {
      // balanced design: every unit has the same X = [1, t - c], so V = sigma^2 (X'X)^-1 and the BLUP of a
      // unit's coefficients is  g + T (T + V)^-1 (b_ols - g)  with the current parameters.
      var ts = p.times.map(function (t) { return t - c; }), n = ts.length, s1 = 0, s2 = 0;
      ts.forEach(function (t) { s1 += t; s2 += t * t; });
      var V = inv2([n, s1, s1, s2]).map(function (v) { return v * p.sigma * p.sigma; });
      var M = mul2(T, inv2([T[0] + V[0], T[1] + V[1], T[2] + V[2], T[3] + V[3]]));
      w0 = M[0]; w1 = M[3];
      units.slice(0, POOL_MAX).forEach(function (u) {
        var e = ols(ts, u.y), d = [e[0] - g[0], e[1] - g[1]];
        rows.push({ id: u.id, ols: e, blup: [g[0] + M[0] * d[0] + M[1] * d[1], g[1] + M[2] * d[0] + M[3] * d[1]] });
      });
    }
    return { rows: rows, g: g, T: T, w0: w0, w1: w1 };
  }

  function drawPooling(p, units) {
    var res = pooling(p, units), g = res.g, T = res.T, box = { w: 360, h: 260, l: 50, r: 12, t: 10, b: 34 };
    var r = Math.sqrt(CHI2_95_2DF), l00 = Math.sqrt(Math.max(T[0], 0)), l10 = l00 > 0 ? T[1] / l00 : 0;
    var l11 = Math.sqrt(Math.max(T[3] - l10 * l10, 0)), ell = [];
    for (var k = 0; k <= 72; k++) {
      var a = 2 * Math.PI * k / 72, z0 = r * Math.cos(a), z1 = r * Math.sin(a);
      ell.push([g[0] + l00 * z0, g[1] + l10 * z0 + l11 * z1]);
    }
    var xs = [g[0]], ys = [g[1]];
    ell.forEach(function (e) { xs.push(e[0]); ys.push(e[1]); });
    res.rows.forEach(function (row) {
      [row.ols, row.blup].forEach(function (e) { if (e) { xs.push(e[0]); ys.push(e[1]); } });
    });
    var xlo = Math.min.apply(null, xs), xhi = Math.max.apply(null, xs), ylo = Math.min.apply(null, ys), yhi = Math.max.apply(null, ys);
    var px = (xhi - xlo) * 0.06 || 1, py = (yhi - ylo) * 0.06 || 0.1;
    var X = lin(xlo - px, xhi + px, box.l, box.w - box.r), Y = lin(ylo - py, yhi + py, box.h - box.b, box.t), parts = [];
    parts.push("<defs>" + tag("marker", { id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
      tag("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7b8794" })) + "</defs>");
    var tl = p.t0 === 0 ? "" : " at " + LABELS.time + " = " + fmt(p.t0, 4);
    axes(parts, box, X, Y, ticks(xlo - px, xhi + px, 5), ticks(ylo - py, yhi + py, 5), "intercept" + tl, "slope");
    parts.push(tag("polygon", { "class": "ellipse", points: ell.map(function (e) { return r2(X(e[0])) + "," + r2(Y(e[1])); }).join(" ") }));
    res.rows.forEach(function (row) {
      if (row.ols) {
        var a = [X(row.ols[0]), Y(row.ols[1])], b = [X(row.blup[0]), Y(row.blup[1])], len = Math.hypot(b[0] - a[0], b[1] - a[1]);
        if (len > 6) {
          var f = (len - 4) / len;
          parts.push(tag("line", { "class": "arrow", x1: r2(a[0]), y1: r2(a[1]), x2: r2(a[0] + f * (b[0] - a[0])), y2: r2(a[1] + f * (b[1] - a[1])), "marker-end": "url(#arrowhead)" }));
        }
        parts.push(tag("circle", { "class": "ols", cx: r2(a[0]), cy: r2(a[1]), r: 3.5 }));
      }
      parts.push(tag("circle", { "class": "blup", cx: r2(X(row.blup[0])), cy: r2(Y(row.blup[1])), r: 3.5 }));
    });
    var cx = X(g[0]), cy = Y(g[1]);
    parts.push(tag("path", { "class": "cross", d: "M" + r2(cx - 6) + "," + r2(cy) + " h12 M" + r2(cx) + "," + r2(cy - 6) + " v12" }));
    var svg = $("pool-svg");
    svg.innerHTML = parts.join("");
    svg.setAttribute("data-source", poolSource());

    var tbl = $("pool-table"), body = res.rows.map(function (row) {
      var o = row.ols || [NaN, NaN];
      return tag("tr", { "data-unit": row.id, "data-ols-b0": o[0], "data-ols-b1": o[1], "data-blup-b0": row.blup[0], "data-blup-b1": row.blup[1] },
        tag("td", {}, esc(row.id)) + tag("td", {}, esc(fmt(o[0], 4))) + tag("td", {}, esc(fmt(o[1], 3))) +
        tag("td", {}, esc(fmt(row.blup[0], 4))) + tag("td", {}, esc(fmt(row.blup[1], 3))));
    });
    tbl.innerHTML = "<thead>" + tag("tr", {}, tag("th", {}, esc(LABELS.unit)) + tag("th", {}, "OLS b0") + tag("th", {}, "OLS b1") +
      tag("th", {}, "BLUP b0") + tag("th", {}, "BLUP b1")) + "</thead><tbody>" + body.join("") + "</tbody>";
    tbl.setAttribute("data-source", poolSource());
    tbl.setAttribute("data-gamma00", g[0]);
    tbl.setAttribute("data-gamma10", g[1]);
    var wEl = $("pool-weights");
    if (res.w0 !== null) {
      wEl.textContent = "With " + p.times.length + " waves and these variances, a unit's own OLS estimate gets weight ≈ " +
        fixed(res.w0, 2) + " for the intercept and ≈ " + fixed(res.w1, 2) + " for the slope; the rest comes from the mean.";
      wEl.setAttribute("data-w0", res.w0);
      wEl.setAttribute("data-w1", res.w1);
    } else {
      wEl.textContent = "The model's first " + res.rows.length + " units: OLS on each unit's own data vs the fitted model's BLUP-based coefficients.";
      wEl.removeAttribute("data-w0");
      wEl.removeAttribute("data-w1");
    }
  }

  // ---- time coding -------------------------------------------------------------------------------------
  function drawCentring(p) {
    var c = p.t0, cen = p.cen, sd = function (v) { return Math.sqrt(Math.max(v, 0)); };
    var rows = [["γ00 (mean at time zero)", p.gamma00, cen.gamma00, "gamma00"],
      ["τ00 (intercept variance)", p.tau00, cen.tau00, "tau00"],
      ["SD of intercepts", sd(p.tau00), sd(cen.tau00), "sd0"],
      ["τ01 (covariance)", p.tau01, cen.tau01, "tau01"],
      ["ρ (correlation)", p.rho, cen.rho, "rho"],
      ["τ11, γ10, σ", null, null, "same"]];
    var tbl = $("centring-table");
    tbl.innerHTML = "<thead>" + tag("tr", {}, tag("th", {}, "") + tag("th", {}, esc("zero at " + LABELS.time + " = 0")) +
      tag("th", {}, esc("zero at " + LABELS.time + " = " + fmt(c, 4)))) + "</thead><tbody>" +
      rows.map(function (r) {
        if (r[1] === null) return tag("tr", {}, tag("td", {}, esc(r[0])) + tag("td", { colspan: 2 }, "unchanged"));
        return tag("tr", {}, tag("td", {}, esc(r[0])) + tag("td", {}, esc(fmt(r[1], 4))) +
          tag("td", { id: "centred-" + r[3], "data-value": r[2] }, esc(fmt(r[2], 4))));
      }).join("") + "</tbody>";
    tbl.setAttribute("data-t0", c);
    ["gamma00", "tau00", "tau01", "rho"].forEach(function (k) { tbl.setAttribute("data-" + k, cen[k]); });
  }

  // ---- read-outs and the state on the root element -----------------------------------------------------
  function readouts(p) {
    var show = { gamma00: fmt(p.gamma00, 4), gamma10: fmt(p.gamma10, 3), tau00: fmt(p.tau00, 3), tau11: fmt(p.tau11, 3),
      rho: fixed(p.rho, 2), sigma: fmt(p.sigma, 3), n_units: String(p.n_units), n_waves: String(p.n_waves), t0: fmt(p.t0, 3) };
    KEYS.forEach(function (k) { $("value-" + k).textContent = show[k]; });
    var d = {
      tau00: "SD " + fmt(Math.sqrt(p.tau00)), tau11: "SD " + fmt(Math.sqrt(p.tau11)),
      rho: "τ01 = ρ·√(τ00·τ11) = " + fmt(p.tau01), sigma: "σ² = " + fmt(p.sigma * p.sigma),
      n_waves: LABELS.time + " = " + p.times.map(function (t) { return fmt(t, 3); }).join(", "),
      t0: "intercept = mean at " + LABELS.time + " " + fmt(p.t0, 3)
    };
    for (var k in d) if ($("derived-" + k)) $("derived-" + k).textContent = d[k];
    KEYS.concat(["tau01", "seed"]).forEach(function (k) { root.setAttribute("data-" + k.replace("_", "-"), p[k]); });
  }

  function render() {
    var p = current(), units = simulate(p);
    readouts(p);
    var fan = drawTrajectories(p, units);
    describeFan(p, fan);
    drawVariance(p, units);
    drawPooling(p, units);
    drawCentring(p);
    renders += 1;
    root.setAttribute("data-renders", renders);
  }

  // ---- wiring ------------------------------------------------------------------------------------------
  var initial = {};
  function setSlider(k, v) {
    var el = $("slider-" + k);
    if (parseFloat(el.min) > v) el.min = v;
    if (parseFloat(el.max) < v) el.max = v;
    el.value = v;
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function setCheck(id, on) {
    var el = $(id);
    if (!el) return;
    el.checked = on;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }
  KEYS.forEach(function (k) {
    var el = $("slider-" + k);
    initial[k] = el.value;
    el.addEventListener("input", render);
  });
  $("seed-input").addEventListener("input", render);
  $("btn-resample").addEventListener("click", function () {
    $("seed-input").value = seedValue() + 1;
    $("seed-input").dispatchEvent(new Event("input", { bubbles: true }));
  });
  ["toggle-noise", "toggle-band", "toggle-model", "pool-source"].forEach(function (id) {
    if ($(id)) $(id).addEventListener("change", render);
  });
  $("btn-rescale").addEventListener("click", function () { yLock = yRange(current(), simulate(current())); render(); });
  $("btn-reset").addEventListener("click", function () {
    KEYS.forEach(function (k) { setSlider(k, parseFloat(initial[k])); });
  });

  render();
  // query parameters set the controls through the same events a user's hand would fire
  var q = new URLSearchParams(window.location.search), bad = [];
  KEYS.forEach(function (k) {
    if (!q.has(k)) return;
    var v = parseFloat(q.get(k));
    if (isFinite(v)) setSlider(k, v); else bad.push(k);
  });
  if (q.has("seed")) {
    var sv = parseInt(q.get("seed"), 10);
    if (isFinite(sv)) { $("seed-input").value = Math.abs(sv); $("seed-input").dispatchEvent(new Event("input", { bubbles: true })); }
    else bad.push("seed");
  }
  [["noise", "toggle-noise"], ["band", "toggle-band"], ["model", "toggle-model"]].forEach(function (pair) {
    if (q.has(pair[0])) setCheck(pair[1], !/^(0|false|no|off)$/i.test(q.get(pair[0])));
  });
  if (q.has("pool") && $("pool-source")) {
    $("pool-source").value = q.get("pool") === "model" ? "model" : "sim";
    $("pool-source").dispatchEvent(new Event("change", { bubbles: true }));
  }
  if (q.has("rescale")) $("btn-rescale").click();
  // ?click=btn-resample,btn-reset presses buttons, in order, after the values above are set
  (q.get("click") || "").split(",").forEach(function (id) {
    var el = id ? $(id.trim()) : null;
    if (el && el.tagName === "BUTTON") el.click(); else if (id) bad.push("click:" + id);
  });
  root.setAttribute("data-query-errors", bad.join(" "));
  root.setAttribute("data-ready", "1");
})();
