// The H5 demo wheel: a player token from the engine's development-only
// issuer, the published wheel (GetWheel), a spin (Draw) animated to the
// slot the engine answers, and the forward-to-Moments flow (CreateShare,
// OpenShare when the page was opened through a share link).
"use strict";

(function () {
  const W = window.EngineWeb;
  const $ = (sel) => document.querySelector(sel);
  const params = new URLSearchParams(location.search);
  const campaignId = params.get("campaign") || "";
  const channel = params.get("channel") || "h5-demo";
  const viaShare = params.get("share") || "";
  const openid = params.get("openid") || localStorage.getItem("h5.openid") || "demo-" + W.newKey().slice(0, 8);
  localStorage.setItem("h5.openid", openid);
  const COLORS = ["#fde68a", "#fca5a5", "#fdba74", "#fef3c7", "#fecaca", "#fed7aa"];

  let token = "";
  let tokenExpires = 0;
  let wheel = null;
  let rotation = 0;

  function fail(e) {
    const msg = e && e.codeName ? `${e.codeName}: ${e.message}` : String((e && e.message) || e);
    $("#error").textContent = msg;
  }

  async function playerToken() {
    if (token && Date.now() < tokenExpires - 30000) return token;
    const resp = await fetch("/dev/player-token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ campaign_id: campaignId, openid }),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error || "token issuer answered HTTP " + resp.status);
    token = body.token;
    tokenExpires = body.expires_at_ms;
    return token;
  }

  const call = async (rpc, req) => W.call(rpc, req, await playerToken());

  function drawWheel(slots) {
    const svg = $("#wheel");
    svg.textContent = "";
    const ns = "http://www.w3.org/2000/svg";
    const n = slots.length;
    const r = 100;
    slots.forEach((s, i) => {
      // Sector i spans [i, i+1) * 360/n degrees clockwise from the top.
      const a0 = ((i * 360) / n - 90) * (Math.PI / 180);
      const a1 = (((i + 1) * 360) / n - 90) * (Math.PI / 180);
      const path = document.createElementNS(ns, "path");
      const large = 360 / n > 180 ? 1 : 0;
      path.setAttribute("d", n === 1
        ? `M0,-${r} A${r},${r} 0 1 1 -0.01,-${r} Z`
        : `M0,0 L${r * Math.cos(a0)},${r * Math.sin(a0)} A${r},${r} 0 ${large} 1 ${r * Math.cos(a1)},${r * Math.sin(a1)} Z`);
      path.setAttribute("fill", COLORS[i % COLORS.length]);
      path.setAttribute("stroke", "#7f1d1d");
      svg.appendChild(path);
      const mid = (((i + 0.5) * 360) / n);
      const text = document.createElementNS(ns, "text");
      text.setAttribute("transform", `rotate(${mid}) translate(0,-62) rotate(90)`);
      text.setAttribute("text-anchor", "middle");
      text.setAttribute("dominant-baseline", "middle");
      text.setAttribute("font-size", n > 8 ? 7 : 9);
      text.setAttribute("fill", "#7f1d1d");
      text.textContent = s.name.length > 14 ? s.name.slice(0, 13) + "…" : s.name;
      svg.appendChild(text);
    });
    const hub = document.createElementNS(ns, "circle");
    hub.setAttribute("r", 14);
    hub.setAttribute("fill", "#7f1d1d");
    svg.appendChild(hub);
  }

  // Turns the wheel (clockwise, several turns) so that slot `index` stops
  // under the pointer at the top; resolves when the animation ends.
  function spinTo(index) {
    const n = wheel.slots.length;
    const center = ((index + 0.5) * 360) / n;
    const now = ((rotation % 360) + 360) % 360;
    const extra = (((360 - center - now) % 360) + 360) % 360;
    rotation += 5 * 360 + extra;
    const svg = $("#wheel");
    return new Promise((resolve) => {
      let done = false;
      const finish = () => { if (!done) { done = true; resolve(); } };
      svg.addEventListener("transitionend", finish, { once: true });
      setTimeout(finish, 4000);
      svg.style.transform = `rotate(${rotation}deg)`;
    });
  }

  async function load() {
    if (!campaignId) throw new Error("no campaign: open this page as /h5/?campaign=<campaign id>");
    $("#who").textContent = "player " + openid + " · channel " + channel;
    wheel = await call("GetWheel", { campaign_id: campaignId });
    $("#title").textContent = wheel.name;
    drawWheel(wheel.slots);
    const total = wheel.slots.reduce((s, x) => s + x.weight, 0);
    const odds = $("#odds");
    odds.textContent = "";
    for (const s of wheel.slots) {
      const li = document.createElement("li");
      li.textContent = `${s.name}: ${total ? ((100 * s.weight) / total).toFixed(2) : 0} %`;
      odds.appendChild(li);
    }
    $("#rule").textContent = wheel.fallback_rule;
    $("#commitment").textContent = wheel.fairness ? W.hex(wheel.fairness.seed_commitment) : "";
    $("#chances").textContent = `Up to ${wheel.draws_per_day} spins a day, ${wheel.draws_total} in total.`;
    const running = W.ENUMS.CampaignStatus[wheel.status] === "PUBLISHED";
    $("#spin").disabled = !running;
    $("#share").disabled = false;
    if (!running) $("#error").textContent = "This campaign is " + W.ENUMS.CampaignStatus[wheel.status].toLowerCase() + ".";
    if (viaShare) {
      // Opened through a friend's share: one view for the sharer.
      await call("OpenShare", { idempotency_key: "open-" + viaShare + "-" + openid, token: viaShare, channel });
    }
    document.body.dataset.ready = "1";
  }

  $("#spin").addEventListener("click", async () => {
    const button = $("#spin");
    button.disabled = true;
    $("#error").textContent = "";
    $("#result").textContent = "";
    $("#result").removeAttribute("data-slot");
    try {
      const d = await call("Draw", { idempotency_key: W.newKey(), campaign_id: campaignId, channel });
      await spinTo(d.slot_index);
      const thanks = W.ENUMS.PrizeKind[d.kind] === "THANKS";
      $("#result").textContent = thanks ? d.prize_name : "You won: " + d.prize_name + " 🎉";
      $("#result").dataset.slot = d.slot_index;
      $("#chances").textContent = `Chances left: ${d.remaining_today} today, ${d.remaining_total} in total.`;
      $("#chances").dataset.today = d.remaining_today;
      button.disabled = d.remaining_today <= 0;
    } catch (e) {
      fail(e);
      button.disabled = !(e.code === 14 || e.code === 10);
    }
  });

  $("#share").addEventListener("click", async () => {
    $("#error").textContent = "";
    try {
      const s = await call("CreateShare", {
        idempotency_key: W.newKey(),
        campaign_id: campaignId,
        parent_token: viaShare,
        channel,
      });
      const link = `${location.origin}/h5/?campaign=${encodeURIComponent(campaignId)}&share=${encodeURIComponent(s.token)}&channel=moments`;
      const out = $("#share-result");
      out.textContent = "";
      const a = document.createElement("a");
      a.href = link;
      a.textContent = "Your share link (depth " + s.depth + ")";
      out.appendChild(a);
      out.dataset.token = s.token;
      // In WeChat this would be handed to the JS-SDK's share to Moments.
      if (navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {});
    } catch (e) {
      fail(e);
    }
  });

  load().catch(fail);
})();
