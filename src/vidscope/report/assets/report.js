// vidscope report: header, player (video or keyframes), zoomable timeline, search.
// Every time is in the media's own seconds, as in the bundle; items are placed in percent of
// the timeline's width, so zooming only changes one width and the browser does the rest.
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("vidscope-data").textContent);
  const $ = (id) => document.getElementById(id);
  const T0 = D.start;
  const DUR = D.duration > 0 ? D.duration : 1;
  const LAB = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--lab"));
  const ROW = 19;
  const MAX_PX = 400000; // widest timeline; far below the browsers' layout limits
  const MAX_HITS = 200;
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  const pct = (t) => ((t - T0) / DUR) * 100 + "%";
  const share = (x) => (x == null ? "–" : Math.round(x * 100) + "%");
  const num = (x, d = 2) => (x == null ? "–" : (+x).toFixed(d));
  const norm = (s) => s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  function fmt(t, digits = 1) {
    const s = Math.max(0, t);
    const h = Math.floor(s / 3600);
    const m = Math.floor(s / 60) % 60;
    const sec = (s % 60).toFixed(digits).padStart(digits ? digits + 3 : 2, "0");
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + sec;
  }
  function hash(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }
  // Items sorted by start plus the running maximum of their ends: the items covering t are
  // found by walking back from the last start <= t while an earlier item can still reach t.
  function indexed(items) {
    const maxEnd = new Float64Array(items.length);
    let m = -Infinity;
    items.forEach((it, i) => (maxEnd[i] = m = Math.max(m, it[1])));
    return { items, maxEnd };
  }
  function upto(items, t) {
    // How many items start at or before t.
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid][0] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  function active({ items, maxEnd }, t) {
    const out = [];
    for (let i = upto(items, t) - 1; i >= 0 && maxEnd[i] > t; i--) if (items[i][1] > t) out.push(i);
    return out;
  }

  // -- header ---------------------------------------------------------------------------
  function header() {
    const S = D.summary;
    $("title").textContent = D.title;
    $("source").textContent = D.source;
    const facts = [
      ["duration", fmt(S.duration)],
      ["shots", S.shots ?? "–"],
      ["speech", share(S.speech_share)],
      ["languages", S.languages.map(([l, s]) => `${l} ${share(s)}`).join(", ") || "–"],
      ["top sounds", S.top_events.map(([l, s]) => `${l} ${s.toFixed(1)} s`).join(", ") || "–"],
      ["status", S.status],
    ];
    for (const [k, v] of facts) {
      const li = el("li");
      li.append(el("b", "", k), String(v));
      $("facts").append(li);
    }
    if (D.media.note) note(D.media.note);
    if (D.abstract) {
      $("abstract").textContent = D.abstract;
      $("abstract").hidden = false;
    }
    if (!S.stages.length) {
      $("run").hidden = true;
      return;
    }
    const head = el("tr");
    for (const c of ["analyzer", "busy s", "RTF", "share of wall", "coverage"]) head.append(el("th", "", c));
    $("stages").append(head);
    for (const s of S.stages) {
      const tr = el("tr");
      for (const c of [s.name, num(s.busy_s), num(s.rtf, 3), share(s.share_of_wall), share(s.coverage)]) {
        tr.append(el("td", "", c));
      }
      $("stages").append(tr);
    }
    $("runline").textContent =
      `wall ${num(S.wall_s)} s for ${fmt(S.duration)} of media (RTF ${num(S.rtf, 3)}), ` +
      `peak memory ${num(S.peak_rss_mb, 0)} MB`;
  }
  function note(text) {
    $("note").textContent = text;
    $("note").hidden = false;
  }

  // -- player: the media element, or keyframes driven by a clock of our own -------------
  let player;
  function mediaPlayer() {
    const v = el(D.media.kind);
    v.controls = true;
    v.preload = "auto";
    v.src = D.media.src;
    $("player").append(v);
    for (const ev of ["timeupdate", "seeked", "seeking", "loadedmetadata", "pause"]) v.addEventListener(ev, update);
    v.addEventListener("play", loop);
    v.addEventListener("error", () => {
      v.remove();
      note(D.frames.length ? "the media could not be played: keyframes instead" : "the media could not be played");
      player = stillPlayer();
      update();
    });
    return {
      now: () => v.currentTime + T0,
      // The media element's clock starts at zero.
      seek: (t) => {
        v.currentTime = Math.max(0, t - T0);
        update();
      },
      playing: () => !v.paused && !v.ended,
      toggle: () => (v.paused ? v.play() : v.pause()),
    };
  }
  function stillPlayer() {
    let t = T0;
    let playing = false;
    let last = 0;
    let shown = -1;
    const still = el("div", "still");
    const img = el("img");
    img.alt = "keyframe";
    // A keyframe is shown at its own size and shape: scaled up it would only blur.
    img.onload = () => {
      still.style.setProperty("--ar", img.naturalWidth / img.naturalHeight);
      still.style.maxWidth = img.naturalWidth + "px";
    };
    still.append(img);
    if (!D.frames.length) still.append(el("span", "", "no picture"));
    const ctl = el("div", "ctl");
    const button = el("button", "", "▶");
    const range = el("input");
    Object.assign(range, { type: "range", min: T0, max: T0 + DUR, step: "any", value: T0 });
    ctl.append(button, range);
    $("player").append(still, ctl);
    const api = {
      now: () => t,
      seek: (x) => {
        t = Math.min(T0 + DUR, Math.max(T0, x));
        update();
      },
      playing: () => playing,
      toggle: () => {
        playing = !playing;
        button.textContent = playing ? "❚❚" : "▶";
        if (playing && t >= T0 + DUR) t = T0;
        last = performance.now();
        loop();
      },
      advance: (now) => {
        if (!playing) return;
        t += (now - last) / 1000;
        last = now;
        if (t >= T0 + DUR) {
          t = T0 + DUR;
          api.toggle();
        }
      },
      paint: (x) => {
        range.value = x;
        const k = Math.max(0, upto(D.frames, x) - 1);
        if (D.frames.length && k !== shown) {
          img.src = D.frames[k][2];
          shown = k;
        }
      },
    };
    button.onclick = api.toggle;
    range.oninput = () => api.seek(+range.value);
    return api;
  }
  let raf = 0;
  function loop() {
    if (raf) return;
    const step = (now) => {
      raf = 0;
      if (player.advance) player.advance(now);
      update();
      if (player.playing()) raf = requestAnimationFrame(step);
    };
    raf = requestAnimationFrame(step);
  }
  const seek = (t) => player.seek(t);

  // -- lanes ----------------------------------------------------------------------------
  const lanes = [];
  const laneOf = new Map();
  let rulerBody;
  function lane(id, cls, label) {
    const row = el("div", "lane " + cls);
    row.dataset.lane = id;
    const lab = el("div", "lab", label);
    const body = el("div", "body");
    row.append(lab, body);
    $("lanes").append(row);
    return [lab, body];
  }
  function spansLane(L, lab, body) {
    const n = L.items.length;
    const els = new Array(n);
    const rows = L.items.reduce((m, it) => Math.max(m, (it[3] || 0) + 1), 1);
    if (rows > 1) body.style.height = rows * ROW + 3 + "px";
    lab.append(el("small", "", n + (n === 1 ? " item" : " items")));
    const frag = document.createDocumentFragment();
    L.items.forEach(([s, e, text, row], i) => {
      const d = el("div", "it", text);
      d.style.left = pct(s);
      d.style.width = ((e - s) / DUR) * 100 + "%";
      if (row) d.style.top = 2 + row * ROW + "px";
      if (L.tint) d.classList.add("c" + (hash(text) % 8));
      const thumb = L.thumbs ? L.thumbs[i] : null;
      if (thumb != null) d.style.backgroundImage = `url("${D.frames[thumb][2]}")`;
      d.dataset.i = i;
      els[i] = d;
      frag.append(d);
    });
    const entry = { L, els, body, on: [], ...indexed(L.items) };
    if (L.segments) {
      // Segment text stands in for the words where they would not fit (see fitWords).
      entry.segments = indexed(L.segments);
      entry.segEls = L.segments.map(([s, e, text], k) => {
        const d = el("div", "seg", text);
        d.style.left = pct(s);
        d.style.width = ((e - s) / DUR) * 100 + "%";
        d.dataset.s = k;
        frag.append(d);
        return d;
      });
      entry.segOn = [];
    }
    body.append(frag);
    if (L.search) {
      entry.keys = L.items.map((it) => norm(it[2]));
      entry.off = new Uint8Array(n);
    }
    lanes.push(entry);
    laneOf.set(body, entry);
  }
  function linesLane(L, lab, body) {
    const legend = el("small");
    L.series.forEach((s, k) => legend.append(el("i", "s" + (k % 6), s.name)));
    legend.append(`${+L.lo.toPrecision(3)}–${+L.hi.toPrecision(3)}${L.unit ? " " + L.unit : ""}`);
    lab.append(legend);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${DUR} 1`);
    svg.setAttribute("preserveAspectRatio", "none");
    const y = (v) => (1 - Math.min(1, Math.max(0, (v - L.lo) / (L.hi - L.lo || 1)))).toFixed(4);
    const drawn = new Map();
    L.series.forEach((s, k) => {
      // Steps: each value holds over its bucket or span; a gap lifts the pen.
      let d = "";
      if (s.spans) for (const [a, b, v] of s.spans) d += `M${a - T0} ${y(v)}H${b - T0}`;
      else {
        let pen = false;
        s.values.forEach((v, i) => {
          if (v == null) return (pen = false);
          const x = s.t0 - T0 + i * s.step;
          d += `${pen ? "L" : "M"}${x.toFixed(3)} ${y(v)}H${(x + s.step).toFixed(3)}`;
          pen = true;
        });
      }
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("class", "s" + (k % 6));
      path.setAttribute("d", d);
      // A series equal to an earlier one would hide under it: it is drawn a little lower, in
      // its own svg (a shift inside the stretched viewBox would not be in pixels).
      const same = drawn.get(d) || 0;
      drawn.set(d, same + 1);
      if (same) {
        const own = svg.cloneNode(false);
        own.style.top = 3 + 3 * same + "px";
        own.append(path);
        body.append(own);
      } else svg.append(path);
    });
    body.prepend(svg);
  }
  const drawsSomething = (s) => (s.spans ? s.spans.length : s.values.some((v) => v != null));
  const isEmpty = (L) => (L.kind === "spans" ? !L.items.length : !L.series.some(drawsSomething));
  function buildLanes() {
    rulerBody = lane("ruler", "ruler", "time")[1];
    const empty = [];
    for (const L of D.lanes) {
      if (isEmpty(L)) {
        empty.push(L.label);
        continue;
      }
      const [lab, body] = lane(L.id, `${L.kind} ${L.id}`, L.label);
      (L.kind === "spans" ? spansLane : linesLane)(L, lab, body);
    }
    // Tracks without a record take one line together, not a blank lane each.
    if (empty.length) {
      const [lab, body] = lane("empty", "empty", "no records");
      lab.append(el("small", "", empty.length + (empty.length === 1 ? " lane" : " lanes")));
      body.textContent = empty.join(", ");
    }
  }
  // Words where each has room for its text, else the text of their segments.
  const CHAR_PX = 6.5;
  function fitWords() {
    const perSecond = (span() * zoom) / DUR;
    for (const entry of lanes) {
      if (!entry.segments) continue;
      const cramped = entry.items.filter(
        ([s, e, text]) => (e - s) * perSecond < text.length * CHAR_PX + 6,
      );
      entry.body.classList.toggle("segs", cramped.length > entry.items.length / 4);
    }
  }

  // -- zoom -----------------------------------------------------------------------------
  const tl = $("tl");
  const inner = $("inner");
  const TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  let zoom = 1;
  const span = () => Math.max(1, tl.clientWidth - LAB);
  const xOf = (t) => LAB + ((t - T0) / DUR) * span() * zoom - tl.scrollLeft;
  const tOf = (x) => T0 + ((x + tl.scrollLeft - LAB) / (span() * zoom)) * DUR;
  function setZoom(z, t, x) {
    // Keep time t at x pixels from the timeline's left edge.
    zoom = Math.min(Math.max(1, Math.min(DUR / 2, MAX_PX / span())), Math.max(1, z));
    inner.style.width = LAB + span() * zoom + "px";
    tl.scrollLeft = LAB + ((t - T0) / DUR) * span() * zoom - x;
    ruler();
    fitWords();
  }
  function zoomAround(factor) {
    const x = xOf(player.now());
    const inside = x >= LAB && x <= tl.clientWidth;
    const at = inside ? x : LAB + span() / 2;
    setZoom(zoom * factor, tOf(at), at);
  }
  function ruler() {
    const perSecond = (span() * zoom) / DUR;
    const step = TICKS.find((s) => s * perSecond >= 80) || 7200;
    const frag = document.createDocumentFragment();
    const first = Math.ceil(T0 / step) * step;
    for (let n = 0, t = first; t <= T0 + DUR && n < 5000; t = first + ++n * step) {
      const d = el("div", "tick", fmt(t, step < 1 ? 1 : 0));
      d.style.left = pct(t);
      frag.append(d);
    }
    rulerBody.replaceChildren(frag);
  }

  // -- time: playhead, active items, what is said and shown now ------------------------
  const playhead = $("playhead");
  let nowKey = "";
  function update() {
    const t = player.now();
    playhead.style.left = pct(t);
    $("clock").textContent = `${fmt(t, 2)} / ${fmt(T0 + DUR, 2)}`;
    if (player.paint) player.paint(t);
    const now = [];
    for (const entry of lanes) {
      const on = active(entry, t);
      if (on.length !== entry.on.length || on.some((i, k) => i !== entry.on[k])) {
        for (const i of entry.on) entry.els[i].classList.remove("on");
        for (const i of on) entry.els[i].classList.add("on");
        entry.on = on;
      }
      if (entry.segments) {
        const segOn = active(entry.segments, t);
        for (const k of entry.segOn) entry.segEls[k].classList.remove("on");
        for (const k of segOn) entry.segEls[k].classList.add("on");
        entry.segOn = segOn;
      }
      const texts = entry.segments
        ? active(entry.segments, t).map((i) => entry.segments.items[i][2])
        : entry.keys ? on.map((i) => entry.items[i][2]) : [];
      if (texts.length) now.push([entry.L.label, texts.reverse().join(" · ")]);
    }
    const key = JSON.stringify(now);
    if (key !== nowKey) {
      nowKey = key;
      $("now").replaceChildren(...now.flatMap(([k, v]) => [el("dt", "", k), el("dd", "", v)]));
    }
    if (player.playing()) {
      const x = xOf(t);
      if (x < LAB || x > tl.clientWidth - 20) tl.scrollLeft += x - LAB - 40;
    }
  }

  // -- search ---------------------------------------------------------------------------
  function search(query) {
    const q = norm(query.trim());
    const hits = [];
    for (const entry of lanes) {
      if (!entry.keys) continue;
      entry.keys.forEach((key, i) => {
        const off = q && !key.includes(q) ? 1 : 0;
        if (off !== entry.off[i]) {
          entry.off[i] = off;
          entry.els[i].classList.toggle("off", !!off);
        }
        if (q && !off) hits.push([entry.items[i][0], entry, i]);
      });
      if (entry.segEls) {
        const seen = new Uint8Array(entry.segEls.length);
        entry.off.forEach((off, i) => off || (seen[entry.L.segment[i]] = 1));
        entry.segEls.forEach((d, k) => d.classList.toggle("off", !seen[k]));
      }
    }
    hits.sort((a, b) => a[0] - b[0]);
    $("count").textContent = q ? `${hits.length} match${hits.length === 1 ? "" : "es"}` : "";
    $("hits").replaceChildren(
      ...hits.slice(0, MAX_HITS).map(([t, entry, i]) => {
        const li = el("li");
        const seg = entry.L.segment ? entry.L.segments[entry.L.segment[i]][2] : entry.items[i][2];
        li.append(el("time", "", fmt(t)), `${entry.L.label}: ${seg}`);
        li.dataset.t = t;
        return li;
      }),
    );
  }

  // -- wiring ---------------------------------------------------------------------------
  header();
  player = D.media.kind === "video" || D.media.kind === "audio" ? mediaPlayer() : stillPlayer();
  buildLanes();
  setZoom(1, T0, LAB);
  update();
  inner.addEventListener("click", (e) => {
    const it = e.target.closest(".it");
    if (it) return seek(laneOf.get(it.parentNode).items[+it.dataset.i][0]);
    const seg = e.target.closest(".seg");
    if (seg) return seek(laneOf.get(seg.parentNode).segments.items[+seg.dataset.s][0]);
    const body = e.target.closest(".body");
    if (body) {
      const r = body.getBoundingClientRect();
      seek(T0 + ((e.clientX - r.left) / r.width) * DUR);
    }
  });
  inner.addEventListener("mouseover", (e) => {
    const it = e.target.closest(".it, .seg");
    if (it && !it.title) {
      const entry = laneOf.get(it.parentNode);
      const [s, end, text] = it.dataset.s
        ? entry.segments.items[+it.dataset.s]
        : entry.items[+it.dataset.i];
      it.title = `${fmt(s, 2)}–${fmt(end, 2)}  ${text}`;
    }
  });
  tl.addEventListener(
    "wheel",
    (e) => {
      if (!e.ctrlKey && !e.metaKey) return;
      e.preventDefault();
      const x = e.clientX - tl.getBoundingClientRect().left;
      setZoom(zoom * Math.exp(-e.deltaY * 0.002), tOf(x), x);
    },
    { passive: false },
  );
  $("zoom-in").onclick = () => zoomAround(2);
  $("zoom-out").onclick = () => zoomAround(0.5);
  $("zoom-fit").onclick = () => setZoom(1, T0, LAB);
  window.addEventListener("resize", () => setZoom(zoom, tOf(LAB), LAB));
  $("q").addEventListener("input", (e) => search(e.target.value));
  $("hits").addEventListener("click", (e) => {
    const li = e.target.closest("li");
    if (li) seek(+li.dataset.t);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === " " && !e.target.closest("input, button, video, audio")) {
      e.preventDefault();
      player.toggle();
    }
  });
  window.__vidscope = { seek, now: () => player.now(), search, zoom: (z) => setZoom(z, T0, LAB) };
  // report.html#t=12.5 opens at 12.5 s (what `vidscope search` links to), and so does a
  // later change of the fragment.
  function seekToFragment() {
    const m = /^#t=([0-9]+(?:\.[0-9]*)?)$/.exec(location.hash);
    if (m) seek(Math.min(T0 + DUR, Math.max(T0, +m[1])));
  }
  window.addEventListener("hashchange", seekToFragment);
  seekToFragment();
  void inner.offsetWidth; // layout done: the timeline is on screen
  window.__vidscopeReady = performance.now();
})();
