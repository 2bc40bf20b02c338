// The marketing console: an admin API key, then wheels, voting, red
// packets and the budget, forward-to-Moments tiers and coupon templates
// for the open campaign. Every call is a
// gRPC-Web call to this engine (web/lib/grpc-web.js); nothing is decided
// here that the engine does not decide: a refused request shows the
// engine's own message next to the field it names.
"use strict";

(function () {
  const W = window.EngineWeb;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const STATUS = W.ENUMS.CampaignStatus;
  const KIND = W.ENUMS.PrizeKind;
  const REFRESH_MS = 2000;

  let apiKey = sessionStorage.getItem("console.apiKey") || "";
  let current = null; // the open campaign (decoded Campaign)
  let timer = null;

  const call = (rpc, req) => W.call(rpc, req, apiKey);

  // ---- errors next to fields ----
  function clearErrors(form) {
    $$(".err", form).forEach((e) => (e.textContent = ""));
    $$(".invalid", form).forEach((e) => e.classList.remove("invalid"));
  }

  // Shows `err` next to the field it names in `form`, else in the form's
  // general error line.
  function showError(form, err) {
    const text = err.codeName ? `${err.codeName}: ${err.message}` : String(err.message || err);
    const slot = err.field && form && $(`[data-err="${err.field}"]`, form);
    if (slot) {
      slot.textContent = err.message;
      const input = $(`[data-field="${err.field}"]`, form);
      if (input) { input.classList.add("invalid"); input.focus(); }
      return;
    }
    const general = form && $(".form-err", form);
    (general || $("#actions-err")).textContent = text;
  }

  // ---- sign in ----
  async function signIn(key) {
    apiKey = key;
    await call("ListApiKeys", {});
    sessionStorage.setItem("console.apiKey", key);
    $("#sign-in").hidden = true;
    $("#main").hidden = false;
    $("#sign-out").hidden = false;
    $("#who").textContent = "admin key " + key.slice(0, 20) + "…";
    renderList();
    const fromHash = location.hash.slice(1);
    if (fromHash) openCampaign(fromHash);
    else showCreate();
  }

  $("#sign-in-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    clearErrors(form);
    try {
      await signIn($("#api-key").value.trim());
    } catch (e) {
      apiKey = "";
      $('[data-err="api_key"]', form).textContent =
        e.code === 16 ? "not a valid API key" : e.code === 7 ? "this key is not an admin key" : e.message;
    }
  });

  $("#sign-out").addEventListener("click", () => {
    sessionStorage.removeItem("console.apiKey");
    location.hash = "";
    location.reload();
  });

  // ---- campaigns this browser knows ----
  function known() {
    try { return JSON.parse(localStorage.getItem("console.campaigns") || "[]"); } catch (_) { return []; }
  }
  function remember(c) {
    const list = known().filter((x) => x.id !== c.campaign_id);
    list.unshift({ id: c.campaign_id, name: c.name });
    localStorage.setItem("console.campaigns", JSON.stringify(list.slice(0, 30)));
    renderList();
  }
  function renderList() {
    const ul = $("#campaign-list");
    ul.textContent = "";
    for (const c of known()) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.textContent = c.name;
      a.title = c.id;
      a.addEventListener("click", () => openCampaign(c.id));
      li.appendChild(a);
      ul.appendChild(li);
    }
  }

  $("#open-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    openCampaign($("#open-id").value.trim(), ev.target);
  });
  $("#new-wheel").addEventListener("click", showCreate);


  // ---- create ----
  function localInput(ms) {
    const d = new Date(ms - new Date().getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }
  function showCreate() {
    stopRefresh();
    current = null;
    $("#campaign").hidden = true;
    $("#create").hidden = false;
    const f = $("#create-form");
    if (!f.starts_at_ms.value) f.starts_at_ms.value = localInput(Date.now() - 60000);
    if (!f.ends_at_ms.value) f.ends_at_ms.value = localInput(Date.now() + 7 * 86400000);
  }
  const ms = (v) => (v ? new Date(v).getTime() : 0);
  const int = (v) => (v === "" || v === undefined ? 0 : Math.trunc(Number(v)) || 0);

  $("#create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    clearErrors(f);
    try {
      const c = await call("CreateWheel", {
        idempotency_key: W.newKey(),
        name: f.name.value,
        starts_at_ms: ms(f.starts_at_ms.value),
        ends_at_ms: ms(f.ends_at_ms.value),
        time_zone: f.time_zone.value.trim(),
        draws_per_day: int(f.draws_per_day.value),
        draws_total: int(f.draws_total.value),
      });
      remember(c);
      show(c);
    } catch (e) {
      showError(f, e);
    }
  });

  // ---- one campaign ----
  async function openCampaign(id, form) {
    try {
      const c = await call("GetCampaign", { campaign_id: id });
      remember(c);
      show(c);
    } catch (e) {
      if (form) { clearErrors(form); showError(form, e); }
      else $("#actions-err").textContent = `${e.codeName}: ${e.message}`;
    }
  }

  function show(c) {
    current = c;
    location.hash = c.campaign_id;
    $("#create").hidden = true;
    $("#campaign").hidden = false;
    $("#actions-err").textContent = "";
    render(c);
    showPanels();
    startRefresh();
  }

  function fmtTime(t) {
    return t ? new Date(t).toLocaleString() : "—";
  }

  function render(c) {
    const status = STATUS[c.status] || "UNSPECIFIED";
    $("#c-name").textContent = c.name;
    const badge = $("#c-status");
    badge.textContent = status;
    badge.className = "badge " + status;
    $("#campaign").dataset.status = status;
    $("#c-id").textContent = c.campaign_id;
    $("#c-window").textContent = `${fmtTime(c.starts_at_ms)} → ${fmtTime(c.ends_at_ms)} (${c.time_zone})`;
    $("#c-limits").textContent = `${c.draws_per_day} draws/day, ${c.draws_total} in total`;
    $("#h5-link").href = "/h5/?campaign=" + encodeURIComponent(c.campaign_id);
    const can = {
      PublishCampaign: status === "DRAFT",
      PauseCampaign: status === "PUBLISHED",
      ResumeCampaign: status === "PAUSED",
      EndCampaign: status === "PUBLISHED" || status === "PAUSED",
    };
    for (const b of $$("#actions button")) b.disabled = !can[b.dataset.action];
    const draft = status === "DRAFT";
    $("#slot-form").hidden = !draft;
    $("#fallback-form").hidden = !draft;
    renderSlots(c, draft);
    renderFairness(c);
    renderStock(c);
  }

  function renderSlots(c, draft) {
    const total = c.slots.reduce((s, x) => s + (x.spec ? x.spec.weight : 0), 0);
    const tbody = $("#slots tbody");
    tbody.textContent = "";
    for (const s of c.slots) {
      const spec = s.spec || {};
      const thanks = KIND[spec.kind] === "THANKS";
      const tr = document.createElement("tr");
      tr.dataset.slot = s.index;
      const odds = total > 0 ? ((100 * spec.weight) / total).toFixed(2) + " %" : "—";
      const cells = [
        s.index + (c.fallback_slot === s.index ? " (fallback)" : ""), spec.name, KIND[spec.kind],
        spec.weight, odds, thanks ? "—" : s.won + s.remaining, thanks ? "—" : s.remaining,
        thanks ? "—" : s.won, spec.daily_cap || "none", spec.per_user_cap || "none", spec.amount || "",
      ];
      const names = ["index", "name", "kind", "weight", "odds", "stock", "remaining", "won", "daily_cap", "per_user_cap", "amount"];
      cells.forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = v;
        td.className = names[i];
        tr.appendChild(td);
      });
      const td = document.createElement("td");
      if (draft) {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.textContent = "Edit";
        edit.addEventListener("click", () => editSlot(s));
        td.appendChild(edit);
      }
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    const sel = $("#fallback-form select");
    const keep = sel.value;
    sel.textContent = "";
    for (const s of c.slots) {
      if (KIND[s.spec.kind] !== "THANKS") continue;
      const o = document.createElement("option");
      o.value = s.index;
      o.textContent = `${s.index}: ${s.spec.name}`;
      sel.appendChild(o);
    }
    if (c.fallback_slot !== null) sel.value = String(c.fallback_slot);
    else if (keep) sel.value = keep;
    $("#fallback-rule").textContent =
      c.fallback_slot === null
        ? "No fallback slot yet: choose a THANKS slot before publishing."
        : "A roll that lands on a prize that is out of stock, over its daily cap, or over the player's cap gives the fallback slot.";
  }

  function editSlot(s) {
    const f = $("#slot-form");
    clearErrors(f);
    f.index.value = s.index;
    for (const k of ["name", "kind", "weight", "stock", "daily_cap", "per_user_cap", "amount", "reference", "claim_days"]) {
      f[k].value = s.spec[k];
    }
    $("#slot-form-title").textContent = `Edit prize ${s.index}`;
    $("#slot-submit").textContent = "Save prize";
    $("#slot-cancel").hidden = false;
  }
  function resetSlotForm() {
    const f = $("#slot-form");
    f.index.value = "";
    f.name.value = "";
    $("#slot-form-title").textContent = "Add a prize";
    $("#slot-submit").textContent = "Add prize";
    $("#slot-cancel").hidden = true;
  }
  $("#slot-cancel").addEventListener("click", resetSlotForm);

  $("#slot-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    clearErrors(f);
    const slot = {
      name: f.name.value,
      kind: int(f.kind.value),
      weight: int(f.weight.value),
      stock: int(f.stock.value),
      daily_cap: int(f.daily_cap.value),
      per_user_cap: int(f.per_user_cap.value),
      amount: int(f.amount.value),
      reference: f.reference.value.trim(),
      claim_days: int(f.claim_days.value),
    };
    try {
      const base = { idempotency_key: W.newKey(), campaign_id: current.campaign_id, slot };
      const c = f.index.value === ""
        ? await call("AddPrizeSlot", base)
        : await call("UpdatePrizeSlot", { ...base, index: int(f.index.value) });
      resetSlotForm();
      render((current = c));
    } catch (e) {
      showError(f, e);
    }
  });

  $("#fallback-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    clearErrors(f);
    try {
      const c = await call("SetFallbackSlot", {
        idempotency_key: W.newKey(),
        campaign_id: current.campaign_id,
        index: int(f.index.value),
      });
      render((current = c));
    } catch (e) {
      showError(f, e);
    }
  });

  for (const b of $$("#actions button")) {
    b.addEventListener("click", async () => {
      $("#actions-err").textContent = "";
      try {
        const c = await call(b.dataset.action, { idempotency_key: W.newKey(), campaign_id: current.campaign_id });
        render((current = c));
      } catch (e) {
        $("#actions-err").textContent = `${e.codeName}: ${e.message}`;
      }
    });
  }

  function renderFairness(c) {
    const dl = $("#fairness");
    dl.textContent = "";
    const f = c.fairness;
    const rows = f && f.published_at_ms
      ? [
          ["Prize table version", f.version],
          ["Published at", fmtTime(f.published_at_ms)],
          ["Prize table SHA-256", W.hex(f.prize_table_hash)],
          ["Seed commitment", W.hex(f.seed_commitment)],
          ["Revealed seed", f.revealed_seed.length ? W.hex(f.revealed_seed) : "hidden until the campaign ends"],
          ["Prize table (as hashed)", f.prize_table_json],
        ]
      : [["Commitment", "made at publish"]];
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dd.dataset.name = k;
      dl.append(dt, dd);
    }
  }

  // ---- charts (inline SVG) ----
  const SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Horizontal bars: rows of {label, parts: [{value, color, name}]}.
  function barChart(container, rows, legend) {
    const width = 640, rowH = 26, labelW = 170, top = legend ? 22 : 4;
    const max = Math.max(1, ...rows.map((r) => r.parts.reduce((s, p) => s + p.value, 0)));
    const svg = el("svg", { width, height: top + rows.length * rowH + 4, role: "img" });
    if (legend) {
      legend.forEach((l, i) => {
        svg.appendChild(el("rect", { x: labelW + i * 120, y: 4, width: 12, height: 12, fill: l.color }));
        svg.appendChild(el("text", { x: labelW + i * 120 + 16, y: 14, "font-size": 12 }, l.name));
      });
    }
    rows.forEach((r, i) => {
      const y = top + i * rowH;
      svg.appendChild(el("text", { x: 0, y: y + 16, "font-size": 12 }, r.label));
      let x = labelW;
      for (const p of r.parts) {
        const w = ((width - labelW - 60) * p.value) / max;
        const rect = el("rect", { x, y: y + 3, width: Math.max(0, w), height: rowH - 8, fill: p.color });
        rect.appendChild(el("title", {}, `${p.name}: ${p.value}`));
        svg.appendChild(rect);
        x += w;
      }
      svg.appendChild(el("text", { x: x + 4, y: y + 16, "font-size": 12, class: "value" },
        r.parts.map((p) => p.value).join(" / ")));
    });
    container.textContent = "";
    container.appendChild(svg);
  }

  function renderStock(c) {
    const rows = c.slots
      .filter((s) => KIND[s.spec.kind] !== "THANKS")
      .map((s) => ({
        label: `${s.index}: ${s.spec.name}`,
        parts: [
          { value: s.remaining, color: "#16a34a", name: "remaining" },
          { value: s.won, color: "#9ca3af", name: "won" },
        ],
      }));
    barChart($("#stock-chart"), rows, [
      { name: "remaining", color: "#16a34a" },
      { name: "won", color: "#9ca3af" },
    ]);
    $$("#stock-chart .value").forEach((t, i) => (t.dataset.slot = c.slots.filter((s) => KIND[s.spec.kind] !== "THANKS")[i].index));
    $("#refreshed").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function renderStats(stats) {
    const byDay = new Map(), byChannel = new Map();
    for (const r of stats.rows) {
      const d = byDay.get(r.day) || { draws: 0, wins: 0 };
      d.draws += r.draws; d.wins += r.wins;
      byDay.set(r.day, d);
      const ch = r.channel || "(none)";
      const c = byChannel.get(ch) || { draws: 0, wins: 0, participants: 0 };
      c.draws += r.draws; c.wins += r.wins; c.participants += r.participants;
      byChannel.set(ch, c);
    }
    const legend = [{ name: "draws", color: "#2563eb" }, { name: "wins", color: "#f59e0b" }];
    const parts = (v) => [
      { value: v.draws, color: "#2563eb", name: "draws" },
      { value: v.wins, color: "#f59e0b", name: "wins" },
    ];
    barChart($("#day-chart"), [...byDay].map(([label, v]) => ({ label, parts: parts(v) })), legend);
    barChart($("#channel-chart"), [...byChannel].map(([label, v]) => ({ label, parts: parts(v) })), legend);
    const tbody = $("#stats-table tbody");
    tbody.textContent = "";
    const all = stats.totals ? [...stats.rows, { ...stats.totals, day: "total", channel: "*" }] : stats.rows;
    for (const r of all) {
      const tr = document.createElement("tr");
      for (const v of [r.day, r.channel || "(none)", r.participants, r.new_players, r.draws, r.wins, r.shares, r.views, r.forwards]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    $("#stats-table").dataset.draws = stats.totals ? stats.totals.draws : 0;
  }

  // ---- the other activities of the open campaign ----
  // Helpers shared by the panels below.
  const cents = (v) => `¥${(v / 100).toFixed(2)} (${v} cents)`;
  function fill(tbody, rows) {
    tbody.textContent = "";
    for (const { cells, names, data, extra } of rows) {
      const tr = document.createElement("tr");
      for (const [k, v] of Object.entries(data || {})) tr.dataset[k] = v;
      cells.forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = v;
        if (names) td.className = names[i];
        tr.appendChild(td);
      });
      if (extra) { const td = document.createElement("td"); td.appendChild(extra); tr.appendChild(td); }
      tbody.appendChild(tr);
    }
  }
  function definitions(dl, rows) {
    dl.textContent = "";
    for (const [k, v, name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dd.dataset.name = name;
      if (value !== undefined) dd.dataset.value = value;
      dl.append(dt, dd);
    }
  }
  // Per-campaign memory in this browser (there is no read RPC for these).
  const memKey = (what) => `console.${what}.${current.campaign_id}`;
  function recall(what, fallback) {
    try { return JSON.parse(localStorage.getItem(memKey(what))) ?? fallback; } catch (_) { return fallback; }
  }
  function keep(what, value) { localStorage.setItem(memKey(what), JSON.stringify(value)); }

  // Submits a panel form: clears its errors, runs `fn`, shows a refusal next
  // to the field it names (or in the form's error line).
  function onSubmit(sel, fn) {
    $(sel).addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      clearErrors(f);
      try {
        await fn(f, ev.submitter);
      } catch (e) {
        showError(f, e);
      }
    });
  }

  for (const a of $$("#jump a")) {
    a.addEventListener("click", () => $("#" + a.dataset.jump).scrollIntoView({ behavior: "smooth" }));
  }

  // -- voting --
  function renderVoteRules(r) {
    $("#vote-rules").textContent = r
      ? `Rules in force: ${r.votes_per_day} votes per player per day, ${r.votes_per_candidate_per_day} per candidate per day, ` +
        `${r.votes_total} in total; player registration ${r.player_registration ? "on" : "off"}.`
      : "No vote rules set from this browser yet (the engine has no read call for them).";
    if (r) $("#vote-rules").dataset.perDay = r.votes_per_day;
  }
  onSubmit("#vote-rules-form", async (f) => {
    const r = await call("SetVoteRules", {
      idempotency_key: W.newKey(),
      campaign_id: current.campaign_id,
      votes_per_day: int(f.votes_per_day.value),
      votes_per_candidate_per_day: int(f.votes_per_candidate_per_day.value),
      votes_total: int(f.votes_total.value),
      player_registration: f.player_registration.checked,
    });
    keep("voteRules", r);
    renderVoteRules(r);
  });
  onSubmit("#candidate-form", async (f) => {
    await call("AddCandidate", {
      idempotency_key: W.newKey(),
      campaign_id: current.campaign_id,
      name: f.name.value,
      description: f.description.value,
    });
    f.name.value = "";
    f.description.value = "";
    refreshLeaderboard();
  });
  onSubmit("#review-form", async (f, submitter) => {
    const approve = !submitter || submitter.name !== "reject";
    const c = await call("ReviewCandidate", {
      idempotency_key: W.newKey(),
      candidate_id: f.candidate_id.value.trim(),
      approve,
    });
    const out = $("#review-result");
    out.textContent = `${c.name}: ${W.ENUMS.CandidateStatus[c.status]}`;
    out.dataset.status = W.ENUMS.CandidateStatus[c.status];
    refreshLeaderboard();
  });
  function renderLeaderboard(board) {
    const rows = board.candidates.map((c, i) => ({
      cells: [i + 1, c.name, c.votes, c.candidate_id],
      names: ["rank", "name", "votes", "id"],
      data: { candidate: c.candidate_id },
    }));
    fill($("#leaderboard tbody"), rows);
    barChart($("#leaderboard-chart"), board.candidates.map((c) => ({
      label: c.name.length > 24 ? c.name.slice(0, 23) + "…" : c.name,
      parts: [{ value: c.votes, color: "#7c3aed", name: "votes" }],
    })));
    $("#leaderboard").dataset.count = board.candidates.length;
    $("#leaderboard-refreshed").textContent = "updated " + new Date().toLocaleTimeString();
  }
  async function refreshLeaderboard() {
    if (!current) return;
    const id = current.campaign_id;
    try {
      const board = await call("GetLeaderboard", { campaign_id: id });
      if (current && current.campaign_id === id) { renderLeaderboard(board); $("#leaderboard-err").textContent = ""; }
    } catch (e) {
      $("#leaderboard-err").textContent = `${e.codeName}: ${e.message}`;
    }
  }

  // -- budget and red packets --
  function renderBudget(b) {
    const rows = [
      ["Funded", "funded_cents"], ["Available", "available_cents"], ["Reserved", "reserved_cents"],
      ["Granted", "granted_cents"], ["Refunded", "refunded_cents"],
    ].map(([k, f]) => [k, b ? cents(b[f]) : "—", f.replace("_cents", ""), b ? b[f] : 0]);
    rows.push(["Packets", b ? b.packets : 0, "packets", b ? b.packets : 0]);
    definitions($("#budget"), rows);
    $("#budget-refreshed").textContent = b ? "updated " + new Date().toLocaleTimeString() : "not funded yet";
  }
  async function refreshBudget() {
    if (!current) return;
    const id = current.campaign_id;
    try {
      const b = await call("GetBudget", { campaign_id: id });
      if (current && current.campaign_id === id) { renderBudget(b); $("#budget-err").textContent = ""; }
    } catch (e) {
      if (e.code === 5) { renderBudget(null); $("#budget-err").textContent = ""; } // no budget before the first funding
      else $("#budget-err").textContent = `${e.codeName}: ${e.message}`;
    }
  }
  onSubmit("#fund-form", async (f) => {
    const b = await call("FundBudget", {
      idempotency_key: W.newKey(), campaign_id: current.campaign_id, amount_cents: int(f.amount_cents.value),
    });
    renderBudget(b);
  });
  function rememberPacket(p) {
    const list = recall("packets", []).filter((x) => x.packet_id !== p.packet_id);
    list.unshift(p);
    keep("packets", list.slice(0, 20));
    renderPackets(list);
  }
  function renderPackets(list) {
    const PK = W.ENUMS.PacketKind, SM = W.ENUMS.SplitMode;
    fill($("#packets tbody"), list.map((p) => {
      const group = PK[p.kind] === "GROUP";
      return {
        cells: [
          p.packet_seq, PK[p.kind], group ? SM[p.split_mode] : "—", group ? p.total_cents : "budget",
          group ? p.parts : "—", group ? "—" : `${p.min_cents}..${p.max_cents}`, p.grabbed, p.granted_cents,
          group ? p.remaining_cents : "—", p.expired ? "expired" : fmtTime(p.expires_at_ms), p.packet_id,
        ],
        names: ["seq", "kind", "split", "total", "parts", "range", "grabbed", "granted", "remaining", "expires", "id"],
        data: { packet: p.packet_id },
      };
    }));
  }
  async function refreshPackets() {
    if (!current) return;
    const id = current.campaign_id;
    const list = recall("packets", []);
    if (!list.length) return;
    try {
      const fresh = await Promise.all(list.slice(0, 10).map((p) => call("GetRedPacket", { packet_id: p.packet_id })));
      if (!current || current.campaign_id !== id) return;
      const byId = new Map(fresh.map((d) => [d.packet.packet_id, d.packet]));
      const merged = list.map((p) => byId.get(p.packet_id) || p);
      keep("packets", merged);
      renderPackets(merged);
    } catch (_) { /* the budget line shows engine trouble */ }
  }
  onSubmit("#group-packet-form", async (f) => {
    const p = await call("CreateGroupPacket", {
      idempotency_key: W.newKey(),
      campaign_id: current.campaign_id,
      total_cents: int(f.total_cents.value),
      parts: int(f.parts.value),
      split_mode: int(f.split_mode.value),
      expires_in_seconds: int(f.expires_in_seconds.value),
    });
    rememberPacket(p);
    refreshBudget();
  });
  onSubmit("#campaign-packet-form", async (f) => {
    const p = await call("CreateCampaignPacket", {
      idempotency_key: W.newKey(),
      campaign_id: current.campaign_id,
      min_cents: int(f.min_cents.value),
      max_cents: int(f.max_cents.value),
      expires_in_seconds: int(f.expires_in_seconds.value),
    });
    rememberPacket(p);
    refreshBudget();
  });

  // -- forward-to-Moments tiers --
  let shareRules = null;
  const tierSpec = (t) => ({ metric: t.metric, threshold: t.threshold, prize: t.prize });
  function renderShareRules(r) {
    shareRules = r;
    $("#share-enabled-form").enabled.checked = r.enabled;
    $("#share-state").textContent = `Share-gated rewards are ${r.enabled ? "ON" : "OFF"}; ${r.tiers.length} tier(s).`;
    $("#share-state").dataset.enabled = r.enabled ? "1" : "0";
    fill($("#share-tiers tbody"), r.tiers.map((t, i) => {
      const p = t.prize || {};
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => setShareRules(r.enabled, r.tiers.filter((_, j) => j !== i).map(tierSpec), $("#share-enabled-form")));
      return {
        cells: [i, W.ENUMS.ShareMetric[t.metric], t.threshold, p.name, KIND[p.kind], p.stock, t.remaining, p.amount || "", p.reference || ""],
        names: ["index", "metric", "threshold", "name", "kind", "stock", "remaining", "amount", "reference"],
        data: { tier: i },
        extra: remove,
      };
    }));
    $("#share-tiers").dataset.count = r.tiers.length;
  }
  async function setShareRules(enabled, tiers, form) {
    clearErrors(form);
    try {
      const r = await call("SetShareRules", { idempotency_key: W.newKey(), campaign_id: current.campaign_id, enabled, tiers });
      renderShareRules(r);
      return true;
    } catch (e) {
      showError(form, e);
      return false;
    }
  }
  async function loadShareRules() {
    if (!current) return;
    const id = current.campaign_id;
    const form = $("#share-enabled-form");
    clearErrors(form);
    try {
      const r = await call("GetShareRules", { campaign_id: id });
      if (current && current.campaign_id === id) renderShareRules(r);
    } catch (e) {
      showError(form, e);
    }
  }
  $("#share-reload").addEventListener("click", loadShareRules);
  $("#share-enabled-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const tiers = shareRules ? shareRules.tiers.map(tierSpec) : [];
    setShareRules(ev.target.enabled.checked, tiers, ev.target);
  });
  $("#tier-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const tier = {
      metric: int(f.metric.value),
      threshold: int(f.threshold.value),
      prize: {
        name: f.name.value,
        kind: int(f.kind.value),
        stock: int(f.stock.value),
        amount: int(f.amount.value),
        reference: f.reference.value.trim(),
        claim_days: int(f.claim_days.value),
      },
    };
    const tiers = shareRules ? shareRules.tiers.map(tierSpec) : [];
    const enabled = $("#share-enabled-form").enabled.checked;
    if (await setShareRules(enabled, [...tiers, tier], f)) f.name.value = "";
  });

  // -- coupon templates --
  let shownTemplate = null;
  function knownTemplates() {
    try { return JSON.parse(localStorage.getItem("console.templates") || "[]"); } catch (_) { return []; }
  }
  function renderTemplateList() {
    const ul = $("#template-list");
    ul.textContent = "";
    for (const t of knownTemplates()) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.textContent = t.name;
      a.title = t.id;
      a.addEventListener("click", () => openTemplate(t.id));
      li.appendChild(a);
      ul.appendChild(li);
    }
  }
  function renderTemplate(t) {
    shownTemplate = t;
    const list = knownTemplates().filter((x) => x.id !== t.template_id);
    list.unshift({ id: t.template_id, name: t.name });
    localStorage.setItem("console.templates", JSON.stringify(list.slice(0, 30)));
    renderTemplateList();
    const DK = W.ENUMS.DiscountKind;
    const kind = DK[t.kind];
    const discount = {
      AMOUNT_OFF: `${cents(t.amount_off_cents)} off`,
      PERCENT_OFF: `${t.percent_off}% off` + (t.max_discount_cents ? `, at most ${cents(t.max_discount_cents)}` : ""),
      SPEND_THRESHOLD: `${cents(t.amount_off_cents)} off an order of at least ${cents(t.min_spend_cents)}`,
      GIFT_ITEM: `a free ${t.gift_item}`,
    }[kind] || "—";
    const validity = t.valid_days ? `${t.valid_days} days from issue` : `${fmtTime(t.valid_from_ms)} → ${fmtTime(t.valid_until_ms)}`;
    definitions($("#template"), [
      ["Template id", t.template_id, "template_id"],
      ["Name", t.name, "name"],
      ["Kind", kind, "kind"],
      ["Discount", discount, "discount"],
      ["Least spend", t.min_spend_cents ? cents(t.min_spend_cents) : "none", "min_spend"],
      ["Valid", validity, "validity"],
      ["Issued", `${t.issued} of ${t.total_supply}`, "issued", t.issued],
      ["Per player", t.per_user_limit || "no limit", "per_user_limit"],
      ["Stores", t.store_ids.length ? t.store_ids.join(", ") : "every store", "stores"],
      ["Created", fmtTime(t.created_at_ms), "created"],
    ]);
    $("#template-use").hidden = false;
  }
  async function openTemplate(id, form) {
    const f = form || $("#template-open-form");
    clearErrors(f);
    try {
      renderTemplate(await call("GetTemplate", { template_id: id }));
    } catch (e) {
      showError(f, e);
    }
  }
  onSubmit("#template-form", async (f) => {
    const t = await call("CreateTemplate", {
      idempotency_key: W.newKey(),
      name: f.name.value,
      kind: int(f.kind.value),
      amount_off_cents: int(f.amount_off_cents.value),
      percent_off: int(f.percent_off.value),
      max_discount_cents: int(f.max_discount_cents.value),
      min_spend_cents: int(f.min_spend_cents.value),
      gift_item: f.gift_item.value,
      valid_from_ms: ms(f.valid_from_ms.value),
      valid_until_ms: ms(f.valid_until_ms.value),
      valid_days: int(f.valid_days.value),
      total_supply: int(f.total_supply.value),
      per_user_limit: int(f.per_user_limit.value),
      store_ids: f.store_ids.value.split(",").map((x) => x.trim()).filter(Boolean),
    });
    // Show what the engine keeps, read back.
    await openTemplate(t.template_id);
  });
  $("#template-open-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    openTemplate(ev.target.template_id.value.trim(), ev.target);
  });
  $("#template-use").addEventListener("click", () => {
    if (!shownTemplate) return;
    const f = $("#slot-form");
    if (f.hidden) {
      $("#actions-err").textContent = "Prizes can be added only while the wheel is a draft.";
      return;
    }
    resetSlotForm();
    f.name.value = shownTemplate.name;
    f.kind.value = "1";
    f.reference.value = shownTemplate.template_id;
    f.scrollIntoView({ behavior: "smooth" });
  });

  // Loads the panels' state for a newly opened campaign.
  function showPanels() {
    renderVoteRules(recall("voteRules", null));
    renderPackets(recall("packets", []));
    renderBudget(null);
    renderTemplateList();
    fill($("#share-tiers tbody"), []);
    loadShareRules();
  }

  // ---- live refresh ----
  async function refresh() {
    if (!current) return;
    const id = current.campaign_id;
    try {
      const c = await call("GetCampaign", { campaign_id: id });
      if (!current || current.campaign_id !== id) return;
      current = c;
      // Keep the forms as they are; refresh the live parts.
      render(c);
    } catch (e) {
      $("#actions-err").textContent = `${e.codeName}: ${e.message}`;
    }
    try {
      const stats = await call("GetCampaignStats", { campaign_id: id });
      if (current && current.campaign_id === id) { renderStats(stats); $("#stats-err").textContent = ""; }
    } catch (e) {
      $("#stats-err").textContent = `${e.codeName}: ${e.message}`;
    }
    await Promise.all([refreshLeaderboard(), refreshBudget(), refreshPackets()]);
  }
  function startRefresh() {
    stopRefresh();
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
  }
  function stopRefresh() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  // ---- start ----
  if (apiKey) {
    signIn(apiKey).catch(() => {
      sessionStorage.removeItem("console.apiKey");
      apiKey = "";
    });
  }
})();
