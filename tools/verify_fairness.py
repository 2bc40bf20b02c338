#!/usr/bin/env python3
"""Verify a lucky-wheel campaign from its export, trusting nothing the engine says.

    python3 tools/verify_fairness.py EXPORT.jsonl [--seed HEX]
    python3 tools/verify_fairness.py AUDIT.jsonl          (an ExportAuditLog export)

An audit-trail export is checked as a hash chain: consecutive numbers from 1,
each entry linked to the previous entry's hash, each hash recomputed from the
entry, and the last one equal to the published head.

EXPORT.jsonl is the output of AuditService.ExportCampaign (one JSON object per
line, format "campaign-export/v1", see FAIRNESS.md). The seed is taken from
the export once revealed, or from --seed. The script shares no code with the
engine: Python standard library only. It checks

  * the prize table is canonical JSON and hashes to prize_table_hash;
  * the commitment published at launch is SHA-256("wheel-commit/v1" || seed ||
    prize_table_hash);
  * every draw, in ledger (commit) order: the ledger has no gap, the draw is
    inside the window, its day is the campaign's day in its time zone, the
    player's draw number and daily/total limits, the roll recomputed from the
    seed, the slot it lands on, and the prize given or the fallback and its
    reason, replaying per-user caps, daily release caps and stock;
  * the closing stock equals the replayed stock;
  * every red packet (the lines after the stock line): a group packet's parts
    recomputed from the seed (lucky or equal split), summing to the total,
    each at least 1 cent, each grab given the part of its position, and
    total == granted + released + remaining; a campaign packet's grants
    recomputed from the seed, each the drawn amount except at most the last,
    capped to what was left of the budget;
  * every raffle (the lines after the packets): numbered without gaps, drawn
    after its cut-off, its entrants listed once each in canonical order and
    hashed to entrants_hash, its winners recomputed from the seed (or, for
    the top candidates, the ranking by votes), and a draw raffle's entrants
    recomputed from the draws of its period.

Prints "VALID: ..." and exits 0, or "INVALID: ..." and exits 1.
"""

import hashlib
import hmac
import json
import struct
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

FORMAT = "campaign-export/v1"


class Invalid(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Invalid(msg)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def draw_roll(seed, campaign_uuid_bytes, draw_seq, player, total_weight):
    """HMAC-SHA-256 rejection sampling onto [0, total_weight) (FAIRNESS.md)."""
    if total_weight == 0:
        return 0
    max64 = 2**64 - 1
    zone = max64 - (max64 % total_weight)
    p = player.encode("utf-8")
    counter = 0
    while True:
        msg = (
            b"wheel-roll/v1"
            + campaign_uuid_bytes
            + struct.pack(">Q", draw_seq)
            + struct.pack(">I", len(p))
            + p
            + struct.pack(">I", counter)
        )
        x = struct.unpack(">Q", hmac.new(seed, msg, hashlib.sha256).digest()[:8])[0]
        if x < zone:
            return x % total_weight
        counter += 1


class MoneyRng:
    """HMAC-SHA-256(seed, message || block) as four big-endian u64 per block."""

    def __init__(self, seed, message):
        self.seed, self.message, self.block, self.words = seed, message, 0, []

    def next_u64(self):
        if not self.words:
            d = hmac.new(self.seed, self.message + struct.pack(">Q", self.block), hashlib.sha256).digest()
            self.words = [struct.unpack(">Q", d[i * 8 : i * 8 + 8])[0] for i in range(4)]
            self.block += 1
        return self.words.pop(0)

    def below(self, n):
        if n == 0:
            return 0
        max64 = 2**64 - 1
        zone = max64 - (max64 % n)
        while True:
            x = self.next_u64()
            if x < zone:
                return x % n


def distinct_sorted(rng, upto, count):
    """Floyd's sampling: `count` distinct values of 1..=upto, sorted."""
    chosen = set()
    for j in range(upto - count + 1, upto + 1):
        t = 1 + rng.below(j)
        chosen.add(j if t in chosen else t)
    return sorted(chosen)


def split(seed, campaign_uuid_bytes, packet_seq, total, parts, mode):
    tag = {"lucky": 1, "equal": 2}[mode]
    msg = (
        b"redpacket-split/v1"
        + campaign_uuid_bytes
        + struct.pack(">Q", packet_seq)
        + struct.pack(">q", total)
        + struct.pack(">I", parts)
        + bytes([tag])
    )
    rng = MoneyRng(seed, msg)
    if mode == "lucky":
        cuts = distinct_sorted(rng, total - 1, parts - 1) + [total]
        out, last = [], 0
        for c in cuts:
            out.append(c - last)
            last = c
        return out
    out = [total // parts] * parts
    for p in distinct_sorted(rng, parts, total % parts):
        out[p - 1] += 1
    return out


def grant(seed, campaign_uuid_bytes, packet_seq, pseudonym, lo, hi):
    p = pseudonym.encode("utf-8")
    msg = b"redpacket-grant/v1" + campaign_uuid_bytes + struct.pack(">Q", packet_seq) + struct.pack(">I", len(p)) + p
    return lo + MoneyRng(seed, msg).below(hi - lo + 1)


def verify_packet(k, seed, campaign_uuid_bytes):
    name = f"packet {k['packet_seq']}"
    grabs = k["grabs"]
    check([g["grab_seq"] for g in grabs] == list(range(1, len(grabs) + 1)), f"{name}: grab numbers have gaps")
    check(all(g["amount_cents"] >= 1 for g in grabs), f"{name}: a grab of less than a cent")
    granted = sum(g["amount_cents"] for g in grabs)
    check(granted == k["granted_cents"], f"{name}: grabs sum to {granted}, the packet says {k['granted_cents']}")
    if k["kind"] == "group":
        parts = split(seed, campaign_uuid_bytes, k["packet_seq"], k["total_cents"], k["parts"], k["split_mode"])
        check(parts == k["parts_cents"], f"{name}: the parts do not recompute from the seed")
        check(sum(parts) == k["total_cents"] and min(parts) >= 1, f"{name}: the parts do not split the total")
        for g in grabs:
            check(g["amount_cents"] == parts[g["grab_seq"] - 1], f"{name}: grab {g['grab_seq']} was not given its part")
        check(
            k["total_cents"] == k["granted_cents"] + k["released_cents"] + k["remaining_cents"],
            f"{name}: total != granted + released + remaining",
        )
    else:
        for n, g in enumerate(grabs, start=1):
            want = grant(seed, campaign_uuid_bytes, k["packet_seq"], g["player_pseudonym"], k["min_cents"], k["max_cents"])
            capped = g["amount_cents"] < want and n == len(grabs)
            check(g["amount_cents"] == want or capped, f"{name}: grab {n} is {g['amount_cents']}, the seed gives {want}")
    return len(grabs)


def entrants_hash(entrants):
    """SHA-256("raffle-entrants/v1" || per entrant: u32be len || id || u32be len || owner || u64be weight)."""
    h = hashlib.sha256(b"raffle-entrants/v1")
    for e in entrants:
        for s in (e["id"], e["owner"]):
            b = s.encode("utf-8")
            h.update(struct.pack(">I", len(b)) + b)
        h.update(struct.pack(">Q", e["weight"]))
    return h.digest()


def raffle_pick(seed, campaign_uuid_bytes, raffle_seq, ehash, weights, n):
    """Weighted draws without replacement, by the plain walk of FAIRNESS.md §9."""
    rng = MoneyRng(seed, b"raffle-pick/v1" + campaign_uuid_bytes + struct.pack(">Q", raffle_seq) + ehash)
    left, out, total = list(weights), [], sum(weights)
    while len(out) < n and total > 0:
        x, acc = rng.below(total), 0
        for i, w in enumerate(left):
            acc += w
            if acc > x:
                break
        total -= left[i]
        left[i] = 0
        out.append(i)
    return out


def join_raffle_entrants(lines):
    """Each raffle line followed by its `entrant_lines` raffle_entrants lines
    (parts 1, 2, ...): the raffle with its whole entrant list."""
    out, i = [], 0
    while i < len(lines):
        r = dict(lines[i])
        check(r.get("type") == "raffle", f"raffle entrants without their raffle (line {r.get('raffle_seq')})")
        parts = lines[i + 1 : i + 1 + r["entrant_lines"]]
        check(len(parts) == r["entrant_lines"], f"raffle {r['raffle_seq']}: entrant lines missing")
        r["entrants"] = []
        for n, p in enumerate(parts, start=1):
            check(
                p.get("type") == "raffle_entrants" and p["raffle_seq"] == r["raffle_seq"] and p["part"] == n,
                f"raffle {r['raffle_seq']}: entrant line {n} missing or out of order",
            )
            r["entrants"].extend(p["entrants"])
        out.append(r)
        i += 1 + r["entrant_lines"]
    return out


def verify_raffles(raffles, seed, campaign_uuid_bytes, draws):
    """Raffles (FAIRNESS.md §9): numbering, entrant list and hash, the pick
    recomputed from the seed (or the top candidates' ranking), and a draw
    raffle's entrants recomputed from the draws."""
    winners = 0
    for n, r in enumerate(raffles, start=1):
        name = f"raffle {r.get('raffle_seq')}"
        check(r["raffle_seq"] == n, f"{name}: raffle numbers have gaps (a raffle is missing or moved)")
        check(r["from_ms"] < r["until_ms"], f"{name}: its period ends before it starts")
        check(1 <= r["winners"] <= 1000, f"{name}: {r['winners']} winners")
        if r["status"] == "open":
            check(not r["entrants"] and not r["drawn"], f"{name}: open, yet it has entrants or winners")
            continue
        check(r["status"] == "drawn", f"{name}: unknown status {r['status']!r}")
        check(r["drawn_at_ms"] >= r["until_ms"], f"{name}: drawn before its cut-off")
        entrants = [{"id": e[0], "owner": e[1], "weight": e[2]} for e in r["entrants"]]
        weights = [e["weight"] for e in entrants]
        ids = [e["id"] for e in entrants]
        check(len(entrants) == r["entrant_count"], f"{name}: {len(entrants)} entrants listed, the raffle says {r['entrant_count']}")
        check(sum(weights) == r["ticket_count"], f"{name}: the tickets do not add up to ticket_count")
        check(len(set(ids)) == len(ids), f"{name}: an entrant is listed twice")
        h = entrants_hash(entrants)
        check(h.hex() == r["entrants_hash"], f"{name}: the entrant list does not hash to entrants_hash")
        if r["source"] == "top_candidates":
            keys = [(-w, i) for w, i in zip(weights, ids)]
            check(keys == sorted(keys), f"{name}: the candidates are not ranked by votes, then id")
            picked = list(range(min(r["winners"], len(entrants))))
        else:
            check(ids == sorted(ids), f"{name}: the entrants are not in pseudonym order")
            check(all(e["owner"] == "" for e in entrants), f"{name}: a player entrant with an owner")
            if r["tickets"]:
                check(all(w >= 1 for w in weights), f"{name}: an entrant without a ticket")
            else:
                check(all(w == 1 for w in weights), f"{name}: an entrant counted more than once without tickets")
            picked = raffle_pick(seed, campaign_uuid_bytes, r["raffle_seq"], h, weights, r["winners"])
        got = [(w["rank"], w["position"]) for w in r["drawn"]]
        check(got == [(k + 1, p) for k, p in enumerate(picked)], f"{name}: the winners do not recompute from the seed")
        for w in r["drawn"]:
            e = entrants[w["position"]]
            check(w["entrant"] == e["id"] and w["owner"] == e["owner"], f"{name}: winner {w['rank']} is not the entrant at its position")
        if r["source"] == "draw":
            counted = {}
            for d in draws:
                if r["from_ms"] <= d["drawn_at_ms"] < r["until_ms"]:
                    counted[d["player"]] = counted.get(d["player"], 0) + 1
            want = [[p, "", c if r["tickets"] else 1] for p, c in sorted(counted.items())]
            check(want == r["entrants"], f"{name}: the entrants are not the players who drew in its period")
        winners += len(picked)
    return winners


def slot_for_roll(weights, roll):
    acc = 0
    for i, w in enumerate(weights):
        acc += w
        if roll < acc:
            return i
    raise Invalid(f"roll {roll} is outside the total weight {acc}")


def verify(lines, seed_hex=None):
    check(lines, "empty export")
    head = lines[0]
    check(head.get("type") == "campaign", "the first line is not the campaign")
    check(head.get("format") == FORMAT, f"unknown format {head.get('format')!r}")
    packets, chances, raffles = [], [], []
    while lines and lines[-1].get("type") in ("raffle", "raffle_entrants"):
        raffles.insert(0, lines.pop())
    raffles = join_raffle_entrants(raffles)
    while lines and lines[-1].get("type") == "packet":
        packets.insert(0, lines.pop())
    while lines and lines[-1].get("type") == "chance":
        chances.insert(0, lines.pop())
    # Extra draws earned by sharing, tiers and votes raise that day's limit
    # and the total (granted only ever grows, so the final grants bound
    # every draw).
    extra_day, extra_total = {}, {}
    for c in chances:
        check(c["granted"] >= 0, "a negative extra-draw grant")
        extra_day[(c["player_pseudonym"], c["day"])] = c["granted"]
        extra_total[c["player_pseudonym"]] = extra_total.get(c["player_pseudonym"], 0) + c["granted"]
    check(lines[-1].get("type") == "stock", "the export does not end with the stock line (and packets)")
    draws = lines[1:-1]
    check(all(d.get("type") == "draw" for d in draws), "a line between the first and last is not a draw")

    # Prize tables (one per version) and their commitments to the one seed.
    seed_hex = seed_hex or head.get("seed")
    check(seed_hex, "the seed is not revealed yet (campaign still running); pass --seed")
    seed = bytes.fromhex(seed_hex)
    check(len(seed) == 32, "the seed is not 32 bytes")
    versions = head.get("versions") or []
    check(versions, "no prize table")
    tables = []
    for n, v in enumerate(versions, start=1):
        table_json = v["prize_table_json"]
        table_hash = hashlib.sha256(table_json.encode("utf-8")).digest()
        check(table_hash.hex() == v["prize_table_hash"], f"version {n}: the prize table does not hash to prize_table_hash")
        table = json.loads(table_json)
        check(canonical(table) == table_json, f"version {n}: the prize table is not in canonical form")
        if table.get("format") == "campaign-table/v1":
            # A campaign without a wheel commits its seed to its window and
            # activities (FAIRNESS.md §3): one version, no draws, no slots.
            check(len(versions) == 1 and v["version"] == 1 == table.get("version"), "a campaign without a wheel has one version")
            check(table["campaign_id"] == head["campaign_id"], "the campaign table names another campaign")
            check("wheel" not in table["activities"], "a campaign table with a wheel")
            # Activities are only ever added (voting, red packets and
            # sharing may join after publish): every committed one is held.
            held = head.get("activities", table["activities"])
            check(set(table["activities"]) <= set(held), "a committed activity is missing from the export's activities")
            commitment = hashlib.sha256(b"wheel-commit/v1" + seed + table_hash).hexdigest()
            check(commitment == v["seed_commitment"], "the seed does not match the published commitment")
            check(v["first_ledger_seq"] == 1, "version 1 does not apply from the first draw")
            check(not draws, "draws in a campaign without a wheel")
            check(lines[-1]["draws"] == 0 and not lines[-1]["slots"], "stock in a campaign without a wheel")
            grabs = sum(verify_packet(k, seed, uuid.UUID(head["campaign_id"]).bytes) for k in packets)
            check(not packets or "packet" in held, "red packets in a campaign without the red-packet activity")
            won = verify_raffles(raffles, seed, uuid.UUID(head["campaign_id"]).bytes, [])
            return f"no wheel ({', '.join(table['activities'])}); commitment verified; {len(packets)} red packets and {grabs} grabs recomputed; {len(raffles)} raffles and {won} winners recomputed"
        check(table.get("format") == "prize-table/v1", "unknown prize table format")
        check(table.get("version") == n == v["version"], f"version {n}: numbered {v['version']} / {table.get('version')}")
        check(table["campaign_id"] == head["campaign_id"], f"version {n}: the prize table names another campaign")
        commitment = hashlib.sha256(b"wheel-commit/v1" + seed + table_hash).hexdigest()
        check(commitment == v["seed_commitment"], f"version {n}: the seed does not match the published commitment")
        if tables:
            same = lambda t: {k: x for k, x in t.items() if k not in ("slots", "version")}
            check(same(table) == same(tables[0]), f"version {n}: changes more than the slots")
            check(len(table["slots"]) == len(tables[0]["slots"]), f"version {n}: changes the number of slots")
            check(v["first_ledger_seq"] >= versions[n - 2]["first_ledger_seq"], f"version {n}: applies before the version it replaces")
        else:
            check(v["first_ledger_seq"] == 1, "version 1 does not apply from the first draw")
        tables.append(table)

    def load(table):
        slots = sorted(table["slots"], key=lambda s: s["index"])
        check([s["index"] for s in slots] == list(range(len(slots))), "slot indexes are not 0..n-1")
        fb = table["fallback_slot"]
        check(0 <= fb < len(slots) and slots[fb]["kind"] == "thanks", "the fallback is not a THANKS slot")
        return slots, [s["weight"] for s in slots], fb

    table = tables[0]
    slots, weights, fallback = load(table)
    total_weight = sum(weights)
    tz = ZoneInfo(table["time_zone"])
    cid = uuid.UUID(table["campaign_id"]).bytes
    current = 1

    # Replay in ledger order.
    remaining = {s["index"]: s["stock"] for s in slots}
    won = {s["index"]: 0 for s in slots}
    released, user_won, player_total, player_day = {}, {}, {}, {}
    seen_ids = set()
    given = fallbacks = 0
    for n, d in enumerate(draws, start=1):
        where = f"draw {d.get('draw_id')} (ledger {d.get('ledger_seq')})"
        check(d["ledger_seq"] == n, f"{where}: ledger sequence {d['ledger_seq']} where {n} was due (a draw is missing or moved)")
        check(d["draw_id"] not in seen_ids, f"{where}: duplicate draw id")
        # A new prize-table version applies from its first ledger sequence on;
        # stock becomes the new total minus what was already won.
        while current < len(versions) and d["ledger_seq"] >= versions[current]["first_ledger_seq"]:
            slots, weights, fallback = load(tables[current])
            total_weight = sum(weights)
            current += 1
            for s_ in slots:
                remaining[s_["index"]] = s_["stock"] - won[s_["index"]]
                check(remaining[s_["index"]] >= 0, f"version {current}: slot {s_['index']} stock below what was won")
        check(d["table_version"] == current, f"{where}: used prize table version {d['table_version']}, version {current} applied")
        seen_ids.add(d["draw_id"])
        at = d["drawn_at_ms"]
        check(table["starts_at_ms"] <= at < table["ends_at_ms"], f"{where}: outside the campaign window")
        day = datetime.fromtimestamp(at // 1000, tz).date().isoformat()
        check(day == d["day"], f"{where}: day {d['day']} but the campaign's day was {day}")
        player = d["player"]
        player_total[player] = player_total.get(player, 0) + 1
        check(d["draw_seq"] == player_total[player], f"{where}: player draw number {d['draw_seq']}, expected {player_total[player]}")
        check(player_total[player] <= table["draws_total"] + extra_total.get(player, 0), f"{where}: over the player's total draws")
        player_day[(player, day)] = player_day.get((player, day), 0) + 1
        check(player_day[(player, day)] <= table["draws_per_day"] + extra_day.get((player, day), 0), f"{where}: over the player's draws that day")

        roll = draw_roll(seed, cid, d["draw_seq"], player, total_weight)
        check(roll == d["roll"], f"{where}: roll {d['roll']} but the seed gives {roll}")
        rolled = slot_for_roll(weights, roll)
        check(rolled == d["rolled_slot"], f"{where}: rolled slot {d['rolled_slot']} but the roll lands on {rolled}")
        s = slots[rolled]
        reason = "none"
        if s["kind"] != "thanks":
            i = rolled
            if s["per_user_cap"] and user_won.get((i, player), 0) >= s["per_user_cap"]:
                reason = "user_cap"
            elif s["daily_cap"] and released.get((i, day), 0) >= s["daily_cap"]:
                reason = "daily_cap"
            elif remaining[i] <= 0:
                reason = "out_of_stock"
            else:
                user_won[(i, player)] = user_won.get((i, player), 0) + 1
                released[(i, day)] = released.get((i, day), 0) + 1
                remaining[i] -= 1
                won[i] += 1
                given += 1
        expect_slot = rolled if reason == "none" else fallback
        check(d["fallback_reason"] == reason, f"{where}: fallback reason {d['fallback_reason']!r}, the replay says {reason!r}")
        check(d["awarded_slot"] == expect_slot, f"{where}: prize slot {d['awarded_slot']}, the replay gives {expect_slot}")
        if reason != "none":
            fallbacks += 1

    # Versions published after the last draw still set the closing stock.
    while current < len(versions):
        slots, weights, fallback = load(tables[current])
        current += 1
        for s_ in slots:
            remaining[s_["index"]] = s_["stock"] - won[s_["index"]]
    stock = lines[-1]
    check(stock["draws"] == len(draws), f"the stock line counts {stock['draws']} draws, the export has {len(draws)}")
    final = {s["index"]: s["remaining"] for s in stock["slots"]}
    for i, r in remaining.items():
        check(final.get(i) == r, f"slot {i}: stock {final.get(i)} left, the replay leaves {r}")
        check(r >= 0, f"slot {i}: negative stock")
    grabs = sum(verify_packet(k, seed, uuid.UUID(head["campaign_id"]).bytes) for k in packets)
    money = f"; {len(packets)} red packets and {grabs} grabs recomputed" if packets else ""
    if raffles:
        won = verify_raffles(raffles, seed, uuid.UUID(head["campaign_id"]).bytes, draws)
        money += f"; {len(raffles)} raffles and {won} winners recomputed"
    return f"{len(draws)} draws, {given} prizes given, {fallbacks} fallbacks; commitment, prize table and stock verified{money}"


def verify_audit(lines):
    check(lines and lines[-1].get("type") == "audit_head", "the export does not end with the audit_head line")
    entries = lines[:-1]
    prev = bytes(32)
    for n, e in enumerate(entries, start=1):
        check(e.get("type") == "audit", f"line {n} is not an audit entry")
        check(e["seq"] == n, f"entry {e['seq']} where {n} was due (an entry is missing or moved)")
        check(bytes.fromhex(e["prev_hash"]) == prev, f"entry {n} does not link to the entry before it")
        detail = json.loads(e["detail"])
        check(canonical(detail) == e["detail"], f"entry {n}: detail is not canonical JSON")
        body = canonical({
            "action": e["action"], "actor": e["actor"], "at": e["at_ms"],
            "campaign_id": e["campaign_id"], "detail": detail, "seq": e["seq"],
        })
        h = hashlib.sha256(b"audit-entry/v1" + prev + body.encode("utf-8")).digest()
        check(h.hex() == e["entry_hash"], f"entry {n} ({e['action']}) was altered: its hash does not match")
        prev = h
    head = lines[-1]
    check(head["seq"] == len(entries), f"the head says {head['seq']} entries, the export has {len(entries)}")
    check(head["hash"] == (prev.hex() if entries else None), "the last entry is not the published head")
    return f"{len(entries)} audit entries, hash chain intact up to the head"


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    seed = None
    if "--seed" in argv:
        seed = argv[argv.index("--seed") + 1]
    with open(argv[1], encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    try:
        audit = bool(lines) and lines[0].get("type") in ("audit", "audit_head")
        print("VALID:", verify_audit(lines) if audit else verify(lines, seed))
        return 0
    except (Invalid, KeyError, ValueError, TypeError) as e:
        print("INVALID:", e if isinstance(e, Invalid) else f"malformed export ({type(e).__name__}: {e})")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
