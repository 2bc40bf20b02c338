// The console's webhook card (docs/events.md): the merchant's endpoints
// with their delivery health, added (the secret shown once), tested and
// enabled or disabled. Its own file: console.js holds the campaign pages.
// Every call is a gRPC-Web call to this engine with the signed-in key.
"use strict";

(function () {
  const W = window.EngineWeb;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const call = (rpc, req) => W.call(rpc, req, sessionStorage.getItem("console.apiKey") || "");

  function clearErrors(form) {
    $$(".err", form).forEach((e) => (e.textContent = ""));
    $$(".invalid", form).forEach((e) => e.classList.remove("invalid"));
  }

  // The engine's message next to the field it names, else on the form.
  function showError(form, err) {
    const slot = err.field && $(`[data-err="${err.field}"]`, form);
    if (slot) {
      slot.textContent = err.message;
      const input = $(`[data-field="${err.field}"]`, form);
      if (input) input.classList.add("invalid");
      return;
    }
    $(".form-err", form).textContent = err.codeName ? `${err.codeName}: ${err.message}` : String(err.message || err);
  }

  const HOOK_STATUS = W.ENUMS.WebhookStatus;
  const HOOK_LABEL = { ENABLED: "正常 enabled", DISABLED: "已停用 disabled", FAILING: "投递失败 failing" };
  let hookTimer = null;

  async function renderWebhooks() {
    const body = $("#webhook-list tbody");
    try {
      const r = await call("ListWebhookEndpoints", {});
      body.textContent = "";
      for (const e of r.endpoints || []) {
        const tr = document.createElement("tr");
        const status = HOOK_STATUS[e.status] || "UNSPECIFIED";
        const cells = [
          e.url,
          (e.event_types || []).join(", "),
          (HOOK_LABEL[status] || status) + (e.disabled_reason ? ` (${e.disabled_reason})` : ""),
          String(e.delivered || 0), String(e.pending || 0), String(e.failed || 0),
          e.last_error || "",
        ];
        for (const text of cells) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        }
        tr.dataset.status = status;
        const actions = document.createElement("td");
        const test = document.createElement("button");
        test.type = "button";
        test.textContent = "测试 Test";
        test.addEventListener("click", async () => {
          try {
            const t = await call("TestWebhookEndpoint", { endpoint_id: e.endpoint_id });
            $("#webhooks-err").textContent = t.delivered
              ? `测试已送达 delivered: HTTP ${t.status}, ${t.latency_ms} ms`
              : `测试未送达 not delivered: ${t.error}`;
          } catch (err) { $("#webhooks-err").textContent = err.message; }
        });
        const toggle = document.createElement("button");
        toggle.type = "button";
        const enable = status === "DISABLED";
        toggle.textContent = enable ? "启用 Enable" : "停用 Disable";
        toggle.addEventListener("click", async () => {
          try {
            await call("UpdateWebhookEndpoint", {
              idempotency_key: W.newKey(), endpoint_id: e.endpoint_id,
              status: enable ? HOOK_STATUS.indexOf("ENABLED") : HOOK_STATUS.indexOf("DISABLED"),
            });
            renderWebhooks();
          } catch (err) { $("#webhooks-err").textContent = err.message; }
        });
        actions.append(test, toggle);
        tr.appendChild(actions);
        body.appendChild(tr);
      }
      $("#webhooks-refreshed").textContent = "更新于 " + new Date().toLocaleTimeString();
    } catch (err) {
      $("#webhooks-err").textContent = err.codeName ? `${err.codeName}: ${err.message}` : String(err.message || err);
    }
  }

  $("#show-webhooks").addEventListener("click", () => {
    const card = $("#webhooks");
    card.hidden = !card.hidden;
    clearInterval(hookTimer);
    if (!card.hidden) {
      renderWebhooks();
      hookTimer = setInterval(renderWebhooks, 5000);
    }
  });

  $("#webhook-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    clearErrors(form);
    const types = form.event_types.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      const r = await call("CreateWebhookEndpoint", {
        idempotency_key: W.newKey(), url: form.url.value.trim(),
        description: form.description.value.trim(), event_types: types,
      });
      $("#webhook-secret-value").textContent = r.secret;
      $("#webhook-secret").hidden = false;
      form.reset();
      renderWebhooks();
    } catch (err) {
      showError(form, err);
    }
  });

  $("#webhook-secret-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("#webhook-secret-value").textContent); } catch (_) { /* no clipboard: select and copy by hand */ }
  });
})();
