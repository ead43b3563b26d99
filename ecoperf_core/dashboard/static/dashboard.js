// ecoperf dashboard: fetch the page's figures and tables, draw them with Plotly, and refresh
// when the WebSocket feed reports an event. No build step: plain browser JavaScript.
"use strict";

(function () {
  const body = document.body;
  const page = body.dataset.page;
  const prefix = body.dataset.prefix;
  const TOKEN_KEY = "ecoperfToken";

  // The token arrives once in the URL fragment (never sent to a server or its logs) and is kept
  // for the tab in sessionStorage.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = !message;
  }

  function askToken() {
    const form = document.getElementById("token-form");
    form.hidden = false;
    form.onsubmit = (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
      location.reload();
    };
  }

  async function fetchData(url) {
    const headers = token() ? { Authorization: "Bearer " + token() } : {};
    url = url || `${prefix}/dashboard/data/${page === "overview" ? "overview" : page}${location.search}`;
    const response = await fetch(url, { headers });
    if (response.status === 401) {
      askToken();
      throw new Error("a bearer token with role read is needed to see the dashboard");
    }
    const payload = await response.json();
    if (!response.ok) throw new Error(payload.detail || response.statusText);
    return payload;
  }

  // -- tables -----------------------------------------------------------------------------------
  function cell(value) {
    if (value === null || value === undefined) return "–";
    if (Array.isArray(value)) return value.map(cell).join(", ");
    if (typeof value === "object") return JSON.stringify(value);
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
    return String(value);
  }

  const STATUS_CLASS = {
    ok: "ok", warn: "warn", bad: "bad", critical: "bad", warning: "warn",
    ready: "ok", blocked: "bad", fail: "bad", pass: "ok", passed: "ok", failed: "bad",
    block_deployment: "bad", proceed: "ok",
  };

  // A cell {link, params, text} is an anchor to another dashboard page (trace, root cause).
  function linkTo(value) {
    const a = document.createElement("a");
    a.href = `${prefix}/dashboard/${value.link}?${new URLSearchParams(value.params || {})}`;
    a.textContent = value.text;
    a.className = "page-link";
    a.onclick = (ev) => ev.stopPropagation(); // not the row's evidence toggle
    return a;
  }

  function renderTable(el, rows) {
    el.textContent = "";
    if (!rows || rows.length === 0) {
      el.innerHTML = '<p class="hint">nothing to show</p>';
      return;
    }
    const columns = Object.keys(rows[0]).filter((c) => c !== "evidence");
    const hasEvidence = "evidence" in rows[0];
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement("th");
      th.textContent = c;
      head.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const row of rows) {
      const tr = tbody.insertRow();
      for (const c of columns) {
        const td = tr.insertCell();
        if (row[c] && typeof row[c] === "object" && row[c].link) td.appendChild(linkTo(row[c]));
        else td.textContent = cell(row[c]);
        const cls = STATUS_CLASS[row[c]];
        if (cls && ["status", "severity", "verdict", "outcome", "health"].includes(c)) td.className = cls;
      }
      if (hasEvidence) {
        tr.className = "expandable";
        const detail = tbody.insertRow();
        detail.hidden = true;
        detail.className = "evidence";
        const td = detail.insertCell();
        td.colSpan = columns.length;
        const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(row.evidence, null, 2);
        td.appendChild(pre);
        tr.onclick = () => { detail.hidden = !detail.hidden; };
      }
    }
    el.appendChild(table);
  }

  // -- charts -----------------------------------------------------------------------------------
  const CONFIG = { responsive: true, displaylogo: false };

  async function draw(payload) {
    document.getElementById("as-of").textContent =
      `data as of ${payload.asOf || "–"} · published ${String(payload.builtAt || "–").slice(0, 19)}`;
    const jobs = [];
    for (const el of document.querySelectorAll("[data-figure]")) {
      const figure = (payload.figures || {})[el.dataset.figure];
      if (!figure) { el.hidden = true; continue; }
      el.hidden = false;
      const job = (el.dataset.rendered ? Plotly.react : Plotly.newPlot)(el, figure.data, figure.layout, CONFIG)
        .then(() => { el.dataset.rendered = "1"; });
      jobs.push(job);
    }
    for (const el of document.querySelectorAll("[data-table]:not([data-late])")) {
      renderTable(el, (payload.tables || {})[el.dataset.table]);
    }
    await Promise.all(jobs);
  }

  // -- page controls ----------------------------------------------------------------------------
  function setupComponent(payload) {
    const form = document.getElementById("entity-form");
    const kind = form.elements.kind;
    const id = form.elements.id;
    const fill = (k, selected) => {
      id.textContent = "";
      for (const e of (payload.entities || {})[k] || []) {
        const opt = document.createElement("option");
        opt.value = e; opt.textContent = e; opt.selected = e === selected;
        id.appendChild(opt);
      }
    };
    kind.value = payload.kind;
    fill(payload.kind, payload.id);
    kind.onchange = () => fill(kind.value, null);
    document.getElementById("entity-title").textContent = `${payload.kind} ${payload.id}`;
  }

  function setupDecisions() {
    const form = document.getElementById("decision-filters");
    const params = new URLSearchParams(location.search);
    for (const name of ["engine", "subject", "outcome", "limit"]) {
      if (params.get(name)) form.elements[name].value = params.get(name);
    }
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const next = new URLSearchParams();
      for (const name of ["engine", "subject", "outcome", "limit"]) {
        const v = form.elements[name].value.trim();
        if (v) next.set(name, v);
      }
      history.pushState(null, "", `${location.pathname}?${next}`);
      refresh();
    };
  }

  // The deep-dive's example traces come from the warehouse (a second request), after the charts.
  async function loadExamples(payload) {
    const query = new URLSearchParams({ kind: payload.kind, id: payload.id });
    const examples = await fetchData(`${prefix}/dashboard/data/examples?${query}`);
    const w = examples.window;
    document.getElementById("examples-window").textContent =
      w ? `${w.from} – ${w.to}: ${w.reason}` : "no slow window";
    renderTable(document.querySelector('[data-table="examples"]'), examples.tables.examples);
    body.dataset.examples = "1";
  }

  // The trace and root-cause pages: their forms load the page again with the new query.
  function setupQueryForm(formId, names, title) {
    const form = document.getElementById(formId);
    const params = new URLSearchParams(location.search);
    for (const name of names) {
      if (params.get(name)) form.elements[name].value = params.get(name);
    }
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const next = new URLSearchParams();
      for (const name of names) {
        const v = form.elements[name].value.trim();
        if (v) next.set(name, v);
      }
      location.href = `${location.pathname}?${next}`;
    };
    return (text) => { document.getElementById(title).textContent = text; };
  }

  let firstLoad = true;
  async function refresh() {
    if (page === "trace" && !new URLSearchParams(location.search).get("id")) {
      // Nothing to fetch yet: a trace id comes from the form or a deep-dive's example traces.
      setTraceTitle("give a trace id, or open one from a deep-dive's example traces");
      body.dataset.rendered = "1";
      return;
    }
    try {
      const payload = await fetchData();
      showError("");
      if (firstLoad && page === "component") setupComponent(payload);
      if (page === "why") {
        setWhyTitle(`${payload.candidates} candidates compared; window ` +
          `${payload.window.from} – ${payload.window.to}`);
        const form = document.getElementById("why-form");
        if (!form.elements.entity.value) form.elements.entity.value = payload.entity;
        if (!form.elements.at.value) form.elements.at.value = payload.at;
      }
      if (page === "trace") {
        setTraceTitle(`started ${payload.start} · ${payload.durationMs} ms`);
      }
      // Replay the feed's last few events on the first connection (context for the page).
      if (lastId === null && payload.feedLastId) {
        lastId = Math.max(0, payload.feedLastId - REPLAY);
        replayUntil = payload.feedLastId;
      }
      await draw(payload);
      if (page === "component") await loadExamples(payload);
      firstLoad = false;
      body.dataset.rendered = "1";
    } catch (err) {
      showError(String(err.message || err));
      body.dataset.rendered = "error";
    }
  }

  // -- live feed --------------------------------------------------------------------------------
  const REPLAY = 10;
  let lastId = null;
  let refreshTimer = null;
  let replayUntil = 0; // events up to this id are history the page's data already holds
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams();
    if (token()) query.set("token", token());
    if (lastId !== null) query.set("since", String(lastId));
    const ws = new WebSocket(`${scheme}://${location.host}${prefix}/realtime?${query}`);
    const state = document.getElementById("live-state");
    ws.onopen = () => { state.textContent = "live"; state.className = "ok"; };
    ws.onmessage = (msg) => {
      const event = JSON.parse(msg.data);
      if (typeof event.id !== "number") return;
      lastId = event.id;
      const replayed = event.id <= replayUntil;
      const data = event.data || {};
      const li = document.createElement("li");
      li.textContent = `#${event.id} ${event.type}: ${data.engine || ""} ${data.subject || ""} ` +
        `${data.previousOutcome ? data.previousOutcome + " → " : ""}${data.outcome || ""}`;
      const list = document.getElementById("live");
      list.prepend(li);
      while (list.children.length > 20) list.lastChild.remove();
      if (replayed) {
        li.className = "hint"; // history: already in the data the page drew
        return;
      }
      body.dataset.liveEvents = String(Number(body.dataset.liveEvents || 0) + 1);
      // Decisions land in the warehouse first; the publish flow then republishes the model.
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refresh, 2000);
    };
    ws.onclose = () => {
      state.textContent = "reconnecting"; state.className = "warn";
      setTimeout(connect, 3000);
    };
  }

  if (page === "decisions") setupDecisions();
  const setWhyTitle = page === "why" ? setupQueryForm("why-form", ["entity", "at", "metric"], "why-title") : null;
  const setTraceTitle = page === "trace" ? setupQueryForm("trace-form", ["id"], "trace-title") : null;
  refresh().then(connect);
  // The model is republished every minute by the publish flow even without events.
  setInterval(refresh, 60000);
})();
