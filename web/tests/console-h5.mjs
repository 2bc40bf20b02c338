// Browser tests of the console and the H5 demo against a real engine, in
// Debian's headless Chromium driven by playwright-core. Run by
// scripts/browser-test.sh, which starts the engine and sets ENGINE_URL and
// ADMIN_KEY. Steps run in order (each builds on the one before); after a
// failure the rest are counted as failed. Last line:
// "browser tests: N passed, N failed".
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.env.ENGINE_URL;
const adminKey = process.env.ADMIN_KEY;
const shots = process.env.SCREENSHOT_DIR || "";
if (!base || !adminKey) {
  console.error("ENGINE_URL and ADMIN_KEY must be set (scripts/browser-test.sh does)");
  process.exit(2);
}

const results = [];
let broken = false;
async function step(name, fn) {
  if (broken) {
    results.push([name, false]);
    console.log(`not run (an earlier step failed): ${name}`);
    return;
  }
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok: ${name}`);
  } catch (e) {
    broken = true;
    results.push([name, false]);
    console.log(`FAILED: ${name}\n  ${String(e && e.stack || e).split("\n").slice(0, 6).join("\n  ")}`);
  }
}
function expect(cond, what) {
  if (!cond) throw new Error("expected " + what);
}

const profile = mkdtempSync(join(tmpdir(), "campaign-chromium-"));
// A fresh profile (--user-data-dir) each run, through Playwright's
// persistent context, which passes it to Chromium.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
context.setDefaultTimeout(15000);
const console_ = await context.newPage();
const pageErrors = [];
console_.on("pageerror", (e) => pageErrors.push("console: " + e.message));
let campaignId = "";
let templateId = "";

try {
  await step("console: signs in with the admin API key", async () => {
    await console_.goto(base + "/console/");
    await console_.fill("#api-key", "cek_wrong");
    await console_.click("#sign-in-form button[type=submit]");
    await console_.waitForSelector('[data-err="api_key"]:not(:empty)');
    await console_.fill("#api-key", adminKey);
    await console_.click("#sign-in-form button[type=submit]");
    await console_.waitForSelector("#create-form", { state: "visible" });
  });

  await step("console: a bad field shows the engine's message next to it", async () => {
    const f = "#create-form";
    await console_.fill(`${f} [name=name]`, "Browser wheel");
    await console_.fill(`${f} [name=draws_per_day]`, "5");
    await console_.fill(`${f} [name=draws_total]`, "2");
    await console_.click(`${f} button[type=submit]`);
    const err = await console_.waitForSelector(`${f} [data-err="draws_total"]:not(:empty)`);
    const text = await err.textContent();
    expect(text.startsWith("draws_total: must be between draws_per_day"), `the engine's message, got ${JSON.stringify(text)}`);
    expect(await console_.$eval(`${f} [name=draws_total]`, (e) => e.classList.contains("invalid")), "the field marked");
  });

  await step("console: creates a wheel", async () => {
    await console_.fill("#create-form [name=draws_total]", "10");
    await console_.click("#create-form button[type=submit]");
    await console_.waitForSelector("#campaign", { state: "visible" });
    expect((await console_.textContent("#c-status")) === "DRAFT", "a draft");
    campaignId = (await console_.textContent("#c-id")).trim();
    expect(/^[0-9a-f-]{36}$/.test(campaignId), "a campaign id, got " + campaignId);
  });

  await step("console: sets prizes, odds, stock and caps (a bad weight named)", async () => {
    const f = "#slot-form";
    await console_.fill(`${f} [name=name]`, "Tea set");
    await console_.selectOption(`${f} [name=kind]`, "2");
    await console_.fill(`${f} [name=weight]`, "-1");
    await console_.fill(`${f} [name=stock]`, "5");
    await console_.fill(`${f} [name=daily_cap]`, "3");
    await console_.fill(`${f} [name=per_user_cap]`, "2");
    await console_.click("#slot-submit");
    const err = await console_.waitForSelector(`${f} [data-err="slot.weight"]:not(:empty)`);
    expect((await err.textContent()).startsWith("slot.weight: must be between 0 and"), "the weight's message");
    await console_.fill(`${f} [name=weight]`, "1");
    await console_.click("#slot-submit");
    await console_.waitForSelector('#slots tr[data-slot="0"]');
    await console_.fill(`${f} [name=name]`, "Thanks for taking part");
    await console_.selectOption(`${f} [name=kind]`, "6");
    await console_.fill(`${f} [name=weight]`, "0");
    await console_.fill(`${f} [name=stock]`, "0");
    await console_.fill(`${f} [name=daily_cap]`, "0");
    await console_.fill(`${f} [name=per_user_cap]`, "0");
    await console_.click("#slot-submit");
    await console_.waitForSelector('#slots tr[data-slot="1"]');
    await console_.selectOption("#fallback-form select", "1");
    await console_.click("#fallback-form button[type=submit]");
    await console_.waitForFunction(() => document.querySelector('#slots tr[data-slot="1"] td.index').textContent.includes("fallback"));
    expect((await console_.textContent('#slots tr[data-slot="0"] td.remaining')) === "5", "stock 5");
    expect((await console_.textContent('#slots tr[data-slot="0"] td.daily_cap')) === "3", "daily cap 3");
  });

  await step("console: publishes; the odds and the fairness commitment are shown", async () => {
    await console_.click('#actions button[data-action="PublishCampaign"]');
    await console_.waitForFunction(() => document.querySelector("#c-status").textContent === "PUBLISHED");
    expect((await console_.textContent('#slots tr[data-slot="0"] td.odds')) === "100.00 %", "odds 100 %");
    const commitment = await console_.textContent('#fairness dd[data-name="Seed commitment"]');
    expect(/^[0-9a-f]{64}$/.test(commitment), "a 32-byte commitment, got " + commitment);
    if (shots) await console_.screenshot({ path: join(shots, "console-published.png"), fullPage: true });
  });

  const h5 = await context.newPage();
  h5.on("pageerror", (e) => pageErrors.push("h5: " + e.message));
  await step("h5: the player spins and the wheel stops at the engine's slot", async () => {
    await h5.goto(`${base}/h5/?campaign=${campaignId}&openid=browser-player&channel=poster-1`);
    await h5.waitForSelector("body[data-ready='1']");
    await h5.click("#spin");
    await h5.waitForSelector("#result[data-slot]", { timeout: 20000 });
    expect((await h5.getAttribute("#result", "data-slot")) === "0", "slot 0");
    expect((await h5.textContent("#result")).includes("Tea set"), "the prize named");
    expect((await h5.getAttribute("#chances", "data-today")) === "4", "4 chances left today");
    const turned = await h5.$eval("#wheel", (e) => e.style.transform);
    expect(/rotate\((\d+(\.\d+)?)deg\)/.test(turned) && parseFloat(turned.slice(7)) > 360, "the wheel turned: " + turned);
  });

  await step("h5: share to Moments creates a share link", async () => {
    await h5.click("#share");
    const link = await h5.waitForSelector("#share-result a");
    const href = await link.getAttribute("href");
    expect(href.includes("share=") && href.includes(campaignId), "a share link, got " + href);
    if (shots) await h5.screenshot({ path: join(shots, "h5-spun.png"), fullPage: true });
  });

  await step("console: the stock goes down and the statistics count the draw", async () => {
    await console_.bringToFront();
    await console_.waitForFunction(
      () => document.querySelector('#slots tr[data-slot="0"] td.remaining').textContent === "4",
      null, { timeout: 15000 });
    expect((await console_.textContent('#slots tr[data-slot="0"] td.won')) === "1", "one won");
    await console_.waitForFunction(() => document.querySelector("#stats-table").dataset.draws === "1", null, { timeout: 15000 });
    const channels = await console_.textContent("#channel-chart");
    expect(channels.includes("poster-1"), "the channel in the chart");
    const stock = await console_.textContent("#stock-chart");
    expect(stock.includes("4 / 1"), "the stock chart shows 4 left, 1 won: " + stock);
    if (shots) await console_.screenshot({ path: join(shots, "console-after-spin.png"), fullPage: true });
  });

  await step("console: coupons: a bad supply named, then a template created and read back", async () => {
    const f = "#template-form";
    await console_.fill(`${f} [name=name]`, "5 yuan off tea");
    await console_.fill(`${f} [name=total_supply]`, "0");
    await console_.click(`${f} button[type=submit]`);
    const err = await console_.waitForSelector(`${f} [data-err="total_supply"]:not(:empty)`);
    const text = await err.textContent();
    expect(text.startsWith("total_supply: must be 1..="), `the engine's message, got ${JSON.stringify(text)}`);
    expect(await console_.$eval(`${f} [name=total_supply]`, (e) => e.classList.contains("invalid")), "the field marked");
    await console_.fill(`${f} [name=total_supply]`, "100");
    await console_.click(`${f} button[type=submit]`);
    await console_.waitForSelector('#template dd[data-name="template_id"]');
    templateId = await console_.textContent('#template dd[data-name="template_id"]');
    expect(/^[0-9a-f-]{36}$/.test(templateId), "a template id, got " + templateId);
    expect((await console_.textContent('#template dd[data-name="kind"]')) === "AMOUNT_OFF", "kind AMOUNT_OFF");
    expect((await console_.textContent('#template dd[data-name="issued"]')) === "0 of 100", "0 of 100 issued");
    expect((await console_.textContent('#template dd[data-name="validity"]')) === "30 days from issue", "30 days");
    expect((await console_.textContent("#template-list")).includes("5 yuan off tea"), "listed");
  });

  await step("console: voting: rules (a bad cap named), two candidates on the leaderboard", async () => {
    const f = "#vote-rules-form";
    await console_.fill(`${f} [name=votes_per_day]`, "3");
    await console_.fill(`${f} [name=votes_per_candidate_per_day]`, "5");
    await console_.fill(`${f} [name=votes_total]`, "10");
    await console_.check(`${f} [name=player_registration]`);
    await console_.click(`${f} button[type=submit]`);
    const err = await console_.waitForSelector(`${f} [data-err="votes_per_candidate_per_day"]:not(:empty)`);
    const text = await err.textContent();
    expect(text === "votes_per_candidate_per_day: cannot exceed votes_per_day", `the engine's message, got ${JSON.stringify(text)}`);
    await console_.fill(`${f} [name=votes_per_candidate_per_day]`, "1");
    await console_.click(`${f} button[type=submit]`);
    await console_.waitForSelector('#vote-rules[data-per-day="3"]');
    expect((await console_.textContent("#vote-rules")).includes("player registration on"), "registration on");
    for (const name of ["Alice's cake", "Bob's pie"]) {
      await console_.fill("#candidate-form [name=name]", name);
      await console_.click("#candidate-form button[type=submit]");
      await console_.waitForFunction((n) => [...document.querySelectorAll("#leaderboard td.name")].some((td) => td.textContent === n), name);
    }
    expect((await console_.getAttribute("#leaderboard", "data-count")) === "2", "two candidates");
    const chart = await console_.textContent("#leaderboard-chart");
    expect(chart.includes("Alice's cake") && chart.includes("Bob's pie"), "both in the chart: " + chart);
  });

  await step("h5 player registers and votes; the console approves and the leaderboard counts", async () => {
    const bob = await console_.evaluate(() => [...document.querySelectorAll("#leaderboard tbody tr")]
      .find((tr) => tr.querySelector("td.name").textContent === "Bob's pie").dataset.candidate);
    const out = await h5.evaluate(async ({ campaignId, bob }) => {
      const W = window.EngineWeb;
      try {
        const resp = await fetch("/dev/player-token", {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ campaign_id: campaignId, openid: "browser-voter" }),
        });
        const { token } = await resp.json();
        const c = await W.call("RegisterCandidate", {
          idempotency_key: W.newKey(), campaign_id: campaignId, name: "Carol's tart", description: "from the H5 page",
        }, token);
        const v = await W.call("CastVote", { idempotency_key: W.newKey(), candidate_id: bob, channel: "h5-demo" }, token);
        return { candidate: c.candidate_id, status: c.status, vote: v.status };
      } catch (e) {
        return { error: `${e.codeName}: ${e.message}` };
      }
    }, { campaignId, bob });
    expect(!out.error, "the player's calls answered: " + out.error);
    expect(out.status === 1 && out.vote === 1, "a PENDING candidate and an ACCEPTED vote: " + JSON.stringify(out));
    await console_.bringToFront();
    await console_.waitForFunction(() => document.querySelector("#leaderboard td.name").textContent === "Bob's pie", null, { timeout: 15000 });
    expect((await console_.textContent("#leaderboard tbody tr:first-child td.votes")) === "1", "Bob first with 1 vote");
    expect((await console_.getAttribute("#leaderboard", "data-count")) === "2", "pending candidate not on the board");
    await console_.fill("#review-form [name=candidate_id]", out.candidate);
    await console_.click('#review-form button[name="approve"]');
    await console_.waitForSelector('#review-result[data-status="APPROVED"]');
    expect((await console_.textContent("#review-result")).startsWith("Carol's tart"), "the candidate named");
    await console_.waitForSelector('#leaderboard[data-count="3"]');
    if (shots) await console_.screenshot({ path: join(shots, "console-voting.png"), fullPage: true });
  });

  await step("console: red packets: fund (a bad amount named), group and campaign packets reserve and show", async () => {
    await console_.fill("#fund-form [name=amount_cents]", "0");
    await console_.click("#fund-form button[type=submit]");
    const err = await console_.waitForSelector('#fund-form [data-err="amount_cents"]:not(:empty)');
    expect((await err.textContent()).startsWith("amount_cents: must be 1..="), "the amount's message");
    await console_.fill("#fund-form [name=amount_cents]", "10000");
    await console_.click("#fund-form button[type=submit]");
    await console_.waitForSelector('#budget dd[data-name="funded"][data-value="10000"]');
    expect((await console_.getAttribute('#budget dd[data-name="available"]', "data-value")) === "10000", "all available");
    const g = "#group-packet-form";
    await console_.fill(`${g} [name=total_cents]`, "3");
    await console_.fill(`${g} [name=parts]`, "5");
    await console_.click(`${g} button[type=submit]`);
    const perr = await console_.waitForSelector(`${g} [data-err="total_cents"]:not(:empty)`);
    expect((await perr.textContent()).startsWith("total_cents: 3 cents cannot give 5 parts"), "the total's message");
    await console_.fill(`${g} [name=total_cents]`, "3000");
    await console_.selectOption(`${g} [name=split_mode]`, "1");
    await console_.click(`${g} button[type=submit]`);
    await console_.waitForSelector('#budget dd[data-name="reserved"][data-value="3000"]');
    expect((await console_.getAttribute('#budget dd[data-name="available"]', "data-value")) === "7000", "7000 left");
    expect((await console_.textContent("#packets tbody tr:first-child td.kind")) === "GROUP", "a group packet listed");
    expect((await console_.textContent("#packets tbody tr:first-child td.split")) === "LUCKY", "lucky");
    expect((await console_.textContent("#packets tbody tr:first-child td.remaining")) === "3000", "3000 remaining");
    await console_.click("#campaign-packet-form button[type=submit]");
    await console_.waitForFunction(() => document.querySelectorAll("#packets tbody tr").length === 2);
    expect((await console_.textContent("#packets tbody tr:first-child td.kind")) === "CAMPAIGN", "a campaign packet listed");
    expect((await console_.textContent("#packets tbody tr:first-child td.range")) === "10..100", "its range");
    await console_.waitForSelector('#budget dd[data-name="packets"][data-value="2"]');
  });

  await step("console: forward-to-Moments: a bad threshold named, a tier set and read back", async () => {
    const f = "#tier-form";
    await console_.selectOption(`${f} [name=metric]`, "2");
    await console_.fill(`${f} [name=threshold]`, "0");
    await console_.fill(`${f} [name=name]`, "Tea coupon");
    await console_.selectOption(`${f} [name=kind]`, "1");
    await console_.fill(`${f} [name=stock]`, "10");
    await console_.fill(`${f} [name=reference]`, templateId);
    await console_.click(`${f} button[type=submit]`);
    const err = await console_.waitForSelector(`${f} [data-err="tiers.threshold"]:not(:empty)`);
    expect((await err.textContent()).startsWith("tiers.threshold: must be 1..="), "the threshold's message");
    await console_.fill(`${f} [name=threshold]`, "3");
    await console_.click(`${f} button[type=submit]`);
    await console_.waitForSelector('#share-tiers[data-count="1"]');
    await console_.check("#share-enabled-form [name=enabled]");
    await console_.click("#share-enabled-form button[type=submit]");
    await console_.waitForSelector('#share-state[data-enabled="1"]');
    // Read back from the engine (GetShareRules).
    await console_.$eval("#share-tiers tbody", (t) => (t.textContent = ""));
    await console_.click("#share-reload");
    await console_.waitForSelector('#share-tiers tr[data-tier="0"]');
    const cell = (n) => console_.textContent(`#share-tiers tr[data-tier="0"] td.${n}`);
    expect((await cell("metric")) === "VIEWERS", "metric VIEWERS");
    expect((await cell("threshold")) === "3", "threshold 3");
    expect((await cell("kind")) === "COUPON", "a coupon prize");
    expect((await cell("remaining")) === "10", "10 in stock");
    expect((await cell("reference")) === templateId, "the template referenced");
    expect((await console_.textContent("#share-state")).includes("ON"), "rewards on");
    if (shots) await console_.screenshot({ path: join(shots, "console-panels.png"), fullPage: true });
  });

  await step("console: webhooks: a bad URL named, an endpoint added (secret once) and listed", async () => {
    await console_.click("#show-webhooks");
    const f = "#webhook-form";
    await console_.fill(`${f} [name=url]`, "ftp://crm.example.invalid/");
    await console_.click(`${f} button[type=submit]`);
    await console_.waitForSelector(`${f} [data-err="url"]:not(:empty)`);
    await console_.fill(`${f} [name=url]`, "https://192.0.2.10/hooks");
    await console_.fill(`${f} [name=event_types]`, "draw.won.v1, tier.reached.v1");
    await console_.click(`${f} button[type=submit]`);
    await console_.waitForSelector("#webhook-secret:not([hidden])");
    const secret = await console_.textContent("#webhook-secret-value");
    if (!secret.startsWith("whsec_")) throw new Error("secret shown: " + secret);
    await console_.waitForSelector("#webhook-list tbody tr");
    const row = await console_.textContent("#webhook-list tbody tr");
    if (!row.includes("https://192.0.2.10/hooks") || !row.includes("draw.won.v1")) {
      throw new Error("endpoint row: " + row);
    }
    if (row.includes(secret)) throw new Error("the list shows the secret");
  });

  await step("console: pauses and ends; the seed is revealed", async () => {
    await console_.click('#actions button[data-action="PauseCampaign"]');
    await console_.waitForFunction(() => document.querySelector("#c-status").textContent === "PAUSED");
    await console_.click('#actions button[data-action="EndCampaign"]');
    await console_.waitForFunction(() => document.querySelector("#c-status").textContent === "ENDED");
    const seed = await console_.textContent('#fairness dd[data-name="Revealed seed"]');
    expect(/^[0-9a-f]{64}$/.test(seed), "the revealed seed, got " + seed);
  });

  await step("no script errors on the pages", async () => {
    expect(pageErrors.length === 0, "no page errors: " + pageErrors.join("; "));
  });
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`browser tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
