// A minimal gRPC-Web client and protobuf codec for the engine's own pages
// (the console and the H5 demo). Hand-written, no dependencies, no build
// step: it knows only the campaign.v1 and coupon.v1 messages these pages
// use (SCHEMAS below, field numbers copied from proto/campaign/v1/*.proto
// and proto/coupon/v1/coupon.proto) and speaks
// binary gRPC-Web (application/grpc-web+proto) with fetch().
//
// Errors come back as GrpcError {code, codeName, message, field}: `field`
// is the request field an INVALID_ARGUMENT names ("slot.weight: must be
// ..." -> "slot.weight"), so a page can show the message next to it.
"use strict";

(function (global) {
  const CODE_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  ];

  // Each message: field name -> [number, type, "rep" | "opt"]. Types are
  // scalar names or another message's name. Enums travel as numbers.
  const SCHEMAS = {
    PrizeSlotSpec: {
      name: [1, "string"], kind: [2, "enum"], weight: [3, "int64"],
      stock: [4, "int64"], daily_cap: [5, "int64"], per_user_cap: [6, "int64"],
      reference: [7, "string"], amount: [8, "int64"], claim_days: [9, "int64"],
    },
    PrizeSlot: {
      index: [1, "uint32"], spec: [2, "PrizeSlotSpec"], remaining: [3, "int64"],
      won: [4, "int64"],
    },
    Fairness: {
      prize_table_json: [1, "string"], prize_table_hash: [2, "bytes"],
      seed_commitment: [3, "bytes"], published_at_ms: [4, "int64"],
      revealed_seed: [5, "bytes"], version: [6, "uint32"],
    },
    Campaign: {
      campaign_id: [1, "string"], name: [2, "string"], status: [3, "enum"],
      starts_at_ms: [4, "int64"], ends_at_ms: [5, "int64"],
      time_zone: [6, "string"], draws_per_day: [7, "int64"],
      draws_total: [8, "int64"], slots: [9, "PrizeSlot", "rep"],
      fallback_slot: [10, "uint32", "opt"], created_at_ms: [11, "int64"],
      fairness: [12, "Fairness"],
    },
    CreateWheelRequest: {
      idempotency_key: [1, "string"], name: [2, "string"],
      starts_at_ms: [3, "int64"], ends_at_ms: [4, "int64"],
      time_zone: [5, "string"], draws_per_day: [6, "int64"],
      draws_total: [7, "int64"],
    },
    AddPrizeSlotRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      slot: [3, "PrizeSlotSpec"],
    },
    UpdatePrizeSlotRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      index: [3, "uint32"], slot: [4, "PrizeSlotSpec"],
    },
    SetFallbackSlotRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      index: [3, "uint32"],
    },
    CampaignTransitionRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
    },
    GetCampaignRequest: { campaign_id: [1, "string"] },
    ListApiKeysRequest: {},
    ApiKeyInfo: {
      key_id: [1, "string"], role: [2, "enum"], store_id: [3, "string"],
      label: [4, "string"], created_at_ms: [5, "int64"],
      revoked_at_ms: [6, "int64"],
    },
    ListApiKeysResponse: { keys: [1, "ApiKeyInfo", "rep"] },
    GetCampaignStatsRequest: { campaign_id: [1, "string"] },
    PrizeCount: { prize: [1, "string"], count: [2, "int64"] },
    StatsRow: {
      day: [1, "string"], channel: [2, "string"], participants: [3, "int64"],
      new_players: [4, "int64"], draws: [5, "int64"], wins: [6, "int64"],
      wins_by_prize: [7, "PrizeCount", "rep"], shares: [8, "int64"],
      views: [9, "int64"], forwards: [10, "int64"], votes: [11, "int64"],
      coupon_prizes: [12, "int64"], coupon_redemptions: [13, "int64"],
      packet_grabs: [14, "int64"], money_paid_cents: [15, "int64"],
    },
    CampaignStats: {
      campaign_id: [1, "string"], rows: [2, "StatsRow", "rep"],
      totals: [3, "StatsRow"],
    },
    WheelSlot: {
      index: [1, "uint32"], name: [2, "string"], kind: [3, "enum"],
      weight: [4, "int64"],
    },
    Wheel: {
      campaign_id: [1, "string"], name: [2, "string"], status: [3, "enum"],
      starts_at_ms: [4, "int64"], ends_at_ms: [5, "int64"],
      time_zone: [6, "string"], draws_per_day: [7, "int64"],
      draws_total: [8, "int64"], slots: [9, "WheelSlot", "rep"],
      fallback_slot: [10, "uint32"], fallback_rule: [11, "string"],
      fairness: [12, "Fairness"],
    },
    GetWheelRequest: { campaign_id: [1, "string"] },
    DrawRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      channel: [3, "string"],
    },
    DrawResponse: {
      draw_id: [1, "string"], slot_index: [2, "uint32"],
      prize_name: [3, "string"], kind: [4, "enum"],
      rolled_slot_index: [5, "uint32"], fallback_reason: [6, "enum"],
      remaining_today: [7, "int64"], remaining_total: [8, "int64"],
      draw_sequence: [9, "int64"], drawn_at_ms: [11, "int64"],
      table_version: [12, "uint32"],
    },
    CreateShareRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      parent_token: [3, "string"], channel: [4, "string"],
    },
    Share: {
      token: [1, "string"], campaign_id: [2, "string"],
      parent_token: [3, "string"], depth: [4, "uint32"],
      created_at_ms: [5, "int64"],
    },
    OpenShareRequest: {
      idempotency_key: [1, "string"], token: [2, "string"],
      channel: [3, "string"],
    },
    OpenShareResponse: { campaign_id: [1, "string"], counted: [2, "bool"] },

    // campaign.v1 voting (proto/campaign/v1/voting.proto)
    VoteRules: {
      campaign_id: [1, "string"], votes_per_day: [2, "int64"],
      votes_per_candidate_per_day: [3, "int64"], votes_total: [4, "int64"],
      player_registration: [5, "bool"],
    },
    SetVoteRulesRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      votes_per_day: [3, "int64"], votes_per_candidate_per_day: [4, "int64"],
      votes_total: [5, "int64"], player_registration: [6, "bool"],
    },
    Candidate: {
      candidate_id: [1, "string"], campaign_id: [2, "string"], name: [3, "string"],
      description: [4, "string"], status: [5, "enum"], votes: [6, "int64"],
      created_at_ms: [7, "int64"],
    },
    AddCandidateRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      name: [3, "string"], description: [4, "string"],
    },
    ReviewCandidateRequest: {
      idempotency_key: [1, "string"], candidate_id: [2, "string"], approve: [3, "bool"],
    },
    RegisterCandidateRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"],
      name: [3, "string"], description: [4, "string"],
    },
    CastVoteRequest: {
      idempotency_key: [1, "string"], candidate_id: [2, "string"], channel: [3, "string"],
    },
    VoteRecord: {
      vote_id: [1, "string"], campaign_id: [2, "string"], candidate_id: [3, "string"],
      day: [4, "string"], status: [5, "enum"], cast_at_ms: [6, "int64"],
      remaining_today: [7, "int64"], remaining_total: [8, "int64"],
      invalidation_reason: [9, "string"], player_id: [10, "string"],
    },
    GetLeaderboardRequest: { campaign_id: [1, "string"] },
    Leaderboard: { campaign_id: [1, "string"], candidates: [2, "Candidate", "rep"] },

    // campaign.v1 money (proto/campaign/v1/money.proto)
    Budget: {
      campaign_id: [1, "string"], funded_cents: [2, "int64"], available_cents: [3, "int64"],
      reserved_cents: [4, "int64"], granted_cents: [5, "int64"], refunded_cents: [6, "int64"],
      packets: [7, "uint64"],
    },
    FundBudgetRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"], amount_cents: [3, "int64"],
    },
    GetBudgetRequest: { campaign_id: [1, "string"] },
    RedPacket: {
      packet_id: [1, "string"], campaign_id: [2, "string"], kind: [3, "enum"],
      packet_seq: [4, "uint64"], split_mode: [5, "enum"], total_cents: [6, "int64"],
      parts: [7, "uint32"], min_cents: [8, "int64"], max_cents: [9, "int64"],
      grabbed: [10, "uint32"], granted_cents: [11, "int64"], released_cents: [12, "int64"],
      remaining_cents: [13, "int64"], expired: [14, "bool"], expires_at_ms: [15, "int64"],
      created_at_ms: [16, "int64"],
    },
    CreateGroupPacketRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"], total_cents: [3, "int64"],
      parts: [4, "int64"], split_mode: [5, "enum"], expires_in_seconds: [6, "int64"],
    },
    CreateCampaignPacketRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"], min_cents: [3, "int64"],
      max_cents: [4, "int64"], expires_in_seconds: [5, "int64"],
    },
    GetRedPacketRequest: { packet_id: [1, "string"] },
    PacketPart: {
      index: [1, "uint32"], amount_cents: [2, "int64"], player_id: [3, "string"],
      grabbed_at_ms: [4, "int64"],
    },
    RedPacketDetail: { packet: [1, "RedPacket"], parts: [2, "PacketPart", "rep"] },

    // campaign.v1 forward-to-Moments tiers (proto/campaign/v1/sharing.proto)
    ShareTier: {
      metric: [1, "enum"], threshold: [2, "int64"], prize: [3, "PrizeSlotSpec"],
      remaining: [4, "int64"],
    },
    ShareRules: { campaign_id: [1, "string"], enabled: [2, "bool"], tiers: [3, "ShareTier", "rep"] },
    SetShareRulesRequest: {
      idempotency_key: [1, "string"], campaign_id: [2, "string"], enabled: [3, "bool"],
      tiers: [4, "ShareTier", "rep"],
    },
    GetShareRulesRequest: { campaign_id: [1, "string"] },

    // coupon.v1 templates (proto/coupon/v1/coupon.proto)
    CouponTemplate: {
      template_id: [1, "string"], name: [2, "string"], kind: [3, "enum"],
      amount_off_cents: [4, "int64"], percent_off: [5, "uint32"],
      max_discount_cents: [6, "int64"], min_spend_cents: [7, "int64"],
      gift_item: [8, "string"], valid_from_ms: [9, "int64"], valid_until_ms: [10, "int64"],
      valid_days: [11, "uint32"], total_supply: [12, "int64"], issued: [13, "int64"],
      per_user_limit: [14, "uint32"], store_ids: [15, "string", "rep"],
      created_at_ms: [16, "int64"],
    },
    CreateTemplateRequest: {
      idempotency_key: [1, "string"], name: [2, "string"], kind: [3, "enum"],
      amount_off_cents: [4, "int64"], percent_off: [5, "uint32"],
      max_discount_cents: [6, "int64"], min_spend_cents: [7, "int64"],
      gift_item: [8, "string"], valid_from_ms: [9, "int64"], valid_until_ms: [10, "int64"],
      valid_days: [11, "uint32"], total_supply: [12, "int64"],
      per_user_limit: [13, "uint32"], store_ids: [14, "string", "rep"],
    },
    GetTemplateRequest: { template_id: [1, "string"] },
    // Webhooks (docs/events.md).
    WebhookEndpoint: {
      endpoint_id: [1, "string"], url: [2, "string"], description: [3, "string"],
      event_types: [4, "string", "rep"], status: [5, "enum"], disabled_reason: [6, "string"],
      created_at_ms: [7, "int64"], updated_at_ms: [8, "int64"], pending: [9, "uint64"],
      delivered: [10, "uint64"], failed: [11, "uint64"], oldest_pending_at_ms: [12, "int64"],
      last_success_at_ms: [13, "int64"], last_failure_at_ms: [14, "int64"],
      last_status: [15, "uint32"], last_error: [16, "string"],
    },
    CreateWebhookEndpointRequest: {
      idempotency_key: [1, "string"], url: [2, "string"], description: [3, "string"],
      event_types: [4, "string", "rep"], secret: [5, "string"],
    },
    CreateWebhookEndpointResponse: { endpoint: [1, "WebhookEndpoint"], secret: [2, "string"] },
    ListWebhookEndpointsRequest: {},
    ListWebhookEndpointsResponse: { endpoints: [1, "WebhookEndpoint", "rep"] },
    UpdateWebhookEndpointRequest: {
      idempotency_key: [1, "string"], endpoint_id: [2, "string"], url: [3, "string"],
      description: [4, "string"], update_description: [5, "bool"],
      event_types: [6, "string", "rep"], status: [7, "enum"],
    },
    TestWebhookEndpointRequest: { endpoint_id: [1, "string"] },
    TestWebhookEndpointResponse: {
      status: [1, "uint32"], delivered: [2, "bool"], error: [3, "string"], latency_ms: [4, "uint64"],
    },
  };

  // The RPCs the pages call: path, request and answer message.
  const RPCS = {
    ListApiKeys: ["/campaign.v1.AdminService/ListApiKeys", "ListApiKeysRequest", "ListApiKeysResponse"],
    CreateWheel: ["/campaign.v1.AdminService/CreateWheel", "CreateWheelRequest", "Campaign"],
    AddPrizeSlot: ["/campaign.v1.AdminService/AddPrizeSlot", "AddPrizeSlotRequest", "Campaign"],
    UpdatePrizeSlot: ["/campaign.v1.AdminService/UpdatePrizeSlot", "UpdatePrizeSlotRequest", "Campaign"],
    SetFallbackSlot: ["/campaign.v1.AdminService/SetFallbackSlot", "SetFallbackSlotRequest", "Campaign"],
    PublishCampaign: ["/campaign.v1.AdminService/PublishCampaign", "CampaignTransitionRequest", "Campaign"],
    PauseCampaign: ["/campaign.v1.AdminService/PauseCampaign", "CampaignTransitionRequest", "Campaign"],
    ResumeCampaign: ["/campaign.v1.AdminService/ResumeCampaign", "CampaignTransitionRequest", "Campaign"],
    EndCampaign: ["/campaign.v1.AdminService/EndCampaign", "CampaignTransitionRequest", "Campaign"],
    GetCampaign: ["/campaign.v1.AdminService/GetCampaign", "GetCampaignRequest", "Campaign"],
    GetCampaignStats: ["/campaign.v1.StatsService/GetCampaignStats", "GetCampaignStatsRequest", "CampaignStats"],
    GetWheel: ["/campaign.v1.PlayerService/GetWheel", "GetWheelRequest", "Wheel"],
    Draw: ["/campaign.v1.PlayerService/Draw", "DrawRequest", "DrawResponse"],
    CreateShare: ["/campaign.v1.ShareService/CreateShare", "CreateShareRequest", "Share"],
    OpenShare: ["/campaign.v1.ShareService/OpenShare", "OpenShareRequest", "OpenShareResponse"],
    SetVoteRules: ["/campaign.v1.VoteAdminService/SetVoteRules", "SetVoteRulesRequest", "VoteRules"],
    AddCandidate: ["/campaign.v1.VoteAdminService/AddCandidate", "AddCandidateRequest", "Candidate"],
    ReviewCandidate: ["/campaign.v1.VoteAdminService/ReviewCandidate", "ReviewCandidateRequest", "Candidate"],
    RegisterCandidate: ["/campaign.v1.VoteService/RegisterCandidate", "RegisterCandidateRequest", "Candidate"],
    CastVote: ["/campaign.v1.VoteService/CastVote", "CastVoteRequest", "VoteRecord"],
    GetLeaderboard: ["/campaign.v1.VoteService/GetLeaderboard", "GetLeaderboardRequest", "Leaderboard"],
    FundBudget: ["/campaign.v1.MoneyService/FundBudget", "FundBudgetRequest", "Budget"],
    GetBudget: ["/campaign.v1.MoneyService/GetBudget", "GetBudgetRequest", "Budget"],
    CreateGroupPacket: ["/campaign.v1.MoneyService/CreateGroupPacket", "CreateGroupPacketRequest", "RedPacket"],
    CreateCampaignPacket: ["/campaign.v1.MoneyService/CreateCampaignPacket", "CreateCampaignPacketRequest", "RedPacket"],
    GetRedPacket: ["/campaign.v1.MoneyService/GetRedPacket", "GetRedPacketRequest", "RedPacketDetail"],
    SetShareRules: ["/campaign.v1.ShareAdminService/SetShareRules", "SetShareRulesRequest", "ShareRules"],
    GetShareRules: ["/campaign.v1.ShareAdminService/GetShareRules", "GetShareRulesRequest", "ShareRules"],
    CreateTemplate: ["/coupon.v1.CouponAdminService/CreateTemplate", "CreateTemplateRequest", "CouponTemplate"],
    GetTemplate: ["/coupon.v1.CouponAdminService/GetTemplate", "GetTemplateRequest", "CouponTemplate"],
    CreateWebhookEndpoint: ["/campaign.v1.WebhookAdminService/CreateWebhookEndpoint", "CreateWebhookEndpointRequest", "CreateWebhookEndpointResponse"],
    ListWebhookEndpoints: ["/campaign.v1.WebhookAdminService/ListWebhookEndpoints", "ListWebhookEndpointsRequest", "ListWebhookEndpointsResponse"],
    UpdateWebhookEndpoint: ["/campaign.v1.WebhookAdminService/UpdateWebhookEndpoint", "UpdateWebhookEndpointRequest", "WebhookEndpoint"],
    TestWebhookEndpoint: ["/campaign.v1.WebhookAdminService/TestWebhookEndpoint", "TestWebhookEndpointRequest", "TestWebhookEndpointResponse"],
  };

  const VARINT = new Set(["int64", "uint64", "uint32", "int32", "enum", "bool"]);

  // ---- encoding ----
  function pushVarint(out, value) {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
  }

  function pushBytes(out, fieldNo, bytes) {
    pushVarint(out, (fieldNo << 3) | 2);
    pushVarint(out, bytes.length);
    for (const b of bytes) out.push(b);
  }

  function isDefault(type, v) {
    if (v === undefined || v === null) return true;
    if (VARINT.has(type) || type === "double") return v === 0 || v === false || v === "";
    if (type === "string") return v === "";
    if (type === "bytes") return v.length === 0;
    return false;
  }

  function encodeInto(out, typeName, msg) {
    const schema = SCHEMAS[typeName];
    if (!schema) throw new Error("unknown message " + typeName);
    for (const [name, [no, type, mode]] of Object.entries(schema)) {
      const value = msg[name];
      const values = mode === "rep" ? (value || []) : [value];
      for (const v of values) {
        if (mode !== "rep" && mode !== "opt" && isDefault(type, v)) continue;
        if (v === undefined || v === null) continue;
        if (VARINT.has(type)) {
          pushVarint(out, no << 3);
          pushVarint(out, type === "bool" ? (v ? 1 : 0) : Math.trunc(Number(v)));
        } else if (type === "double") {
          pushVarint(out, (no << 3) | 1);
          const b = new Uint8Array(8);
          new DataView(b.buffer).setFloat64(0, Number(v), true);
          for (const x of b) out.push(x);
        } else if (type === "string") {
          pushBytes(out, no, new TextEncoder().encode(String(v)));
        } else if (type === "bytes") {
          pushBytes(out, no, v);
        } else {
          const inner = [];
          encodeInto(inner, type, v);
          pushBytes(out, no, inner);
        }
      }
    }
    return out;
  }

  function encode(typeName, msg) {
    return Uint8Array.from(encodeInto([], typeName, msg || {}));
  }

  // ---- decoding ----
  function defaults(typeName) {
    const obj = {};
    for (const [name, [, type, mode]] of Object.entries(SCHEMAS[typeName])) {
      if (mode === "rep") obj[name] = [];
      else if (mode === "opt") obj[name] = null;
      else if (type === "string") obj[name] = "";
      else if (type === "bytes") obj[name] = new Uint8Array(0);
      else if (type === "bool") obj[name] = false;
      else if (VARINT.has(type) || type === "double") obj[name] = 0;
      else obj[name] = null;
    }
    return obj;
  }

  function decode(typeName, bytes) {
    const schema = SCHEMAS[typeName];
    const byNo = {};
    for (const [name, spec] of Object.entries(schema)) byNo[spec[0]] = [name, ...spec];
    const obj = defaults(typeName);
    let at = 0;
    const varint = () => {
      let v = 0n, shift = 0n;
      for (;;) {
        if (at >= bytes.length) throw new Error("truncated message");
        const b = bytes[at++];
        v |= BigInt(b & 0x7f) << shift;
        if (b < 0x80) return v;
        shift += 7n;
      }
    };
    const scalar = (type, raw) => {
      if (type === "bool") return raw !== 0n;
      if (type === "int64" || type === "int32" || type === "enum") return Number(BigInt.asIntN(64, raw));
      return Number(raw);
    };
    while (at < bytes.length) {
      const tag = Number(varint());
      const no = tag >>> 3, wire = tag & 7;
      const field = byNo[no];
      let value;
      if (wire === 0) value = varint();
      else if (wire === 1) { value = bytes.subarray(at, at + 8); at += 8; }
      else if (wire === 5) { value = bytes.subarray(at, at + 4); at += 4; }
      else if (wire === 2) {
        const len = Number(varint());
        value = bytes.subarray(at, at + len);
        at += len;
      } else throw new Error("unsupported wire type " + wire);
      if (!field) continue; // a field these pages do not use
      const [name, , type, mode] = field;
      let out;
      if (wire === 0) out = scalar(type, value);
      else if (wire === 1 && type === "double") out = new DataView(value.buffer, value.byteOffset, 8).getFloat64(0, true);
      else if (type === "string") out = new TextDecoder().decode(value);
      else if (type === "bytes") out = Uint8Array.from(value);
      else if (SCHEMAS[type]) out = decode(type, value);
      else if (wire === 2 && VARINT.has(type)) {
        // A packed repeated scalar.
        const inner = decode.packed(type, value, scalar);
        obj[name].push(...inner);
        continue;
      } else continue;
      if (mode === "rep") obj[name].push(out);
      else obj[name] = out;
    }
    return obj;
  }
  decode.packed = (type, bytes, scalar) => {
    const out = [];
    let at = 0;
    while (at < bytes.length) {
      let v = 0n, shift = 0n;
      for (;;) {
        const b = bytes[at++];
        v |= BigInt(b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7n;
      }
      out.push(scalar(type, v));
    }
    return out;
  };

  // ---- gRPC-Web ----
  class GrpcError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
      this.codeName = CODE_NAMES[code] || "UNKNOWN";
      // "slot.weight: must be between ..." names the field.
      const m = /^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*|\[\d+\])*): /.exec(message);
      this.field = code === 3 && m ? m[1] : null;
    }
  }

  function percentDecode(s) {
    try { return decodeURIComponent(s); } catch (_) { return s; }
  }

  function parseTrailers(text) {
    const out = {};
    for (const line of text.split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return out;
  }

  // Calls `rpc` (a name in RPCS) with `request`; resolves to the decoded
  // answer or rejects with a GrpcError.
  async function call(rpc, request, credential) {
    const [path, reqType, resType] = RPCS[rpc];
    const payload = encode(reqType, request);
    const body = new Uint8Array(5 + payload.length);
    new DataView(body.buffer).setUint32(1, payload.length);
    body.set(payload, 5);
    const headers = {
      "content-type": "application/grpc-web+proto",
      "x-grpc-web": "1",
      "x-user-agent": "campaign-engine-web/1",
    };
    if (credential) headers.authorization = "Bearer " + credential;
    let resp;
    try {
      resp = await fetch(path, { method: "POST", headers, body });
    } catch (e) {
      throw new GrpcError(14, "the engine cannot be reached: " + e.message);
    }
    if (!resp.ok) throw new GrpcError(14, "HTTP " + resp.status + " from the engine");
    let status = resp.headers.get("grpc-status");
    let message = resp.headers.get("grpc-message") || "";
    const bytes = new Uint8Array(await resp.arrayBuffer());
    let answer = null;
    for (let at = 0; at + 5 <= bytes.length;) {
      const flag = bytes[at];
      const len = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
      const data = bytes.subarray(at + 5, at + 5 + len);
      if (flag & 0x80) {
        const t = parseTrailers(new TextDecoder().decode(data));
        if (t["grpc-status"] !== undefined) status = t["grpc-status"];
        if (t["grpc-message"] !== undefined) message = t["grpc-message"];
      } else if (answer === null) {
        answer = decode(resType, data);
      }
      at += 5 + len;
    }
    const code = status === null ? 2 : Number(status);
    if (code !== 0) throw new GrpcError(code, percentDecode(message) || CODE_NAMES[code]);
    return answer || defaults(resType);
  }

  function newKey() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k-" + Date.now() + "-" + Math.random().toString(16).slice(2);
  }

  function hex(bytes) {
    return Array.from(bytes || [], (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const ENUMS = {
    CampaignStatus: ["UNSPECIFIED", "DRAFT", "PUBLISHED", "PAUSED", "ENDED"],
    PrizeKind: ["UNSPECIFIED", "COUPON", "PHYSICAL", "TOPUP_CODE", "POINTS", "CASH", "THANKS"],
    FallbackReason: ["NONE", "OUT_OF_STOCK", "DAILY_CAP", "USER_CAP"],
    CandidateStatus: ["UNSPECIFIED", "PENDING", "APPROVED", "REJECTED"],
    SplitMode: ["UNSPECIFIED", "LUCKY", "EQUAL"],
    PacketKind: ["UNSPECIFIED", "GROUP", "CAMPAIGN"],
    ShareMetric: ["UNSPECIFIED", "SHARES", "VIEWERS", "FORWARDS"],
    DiscountKind: ["UNSPECIFIED", "AMOUNT_OFF", "PERCENT_OFF", "SPEND_THRESHOLD", "GIFT_ITEM"],
    WebhookStatus: ["UNSPECIFIED", "ENABLED", "DISABLED", "FAILING"],
  };

  global.EngineWeb = { call, encode, decode, GrpcError, newKey, hex, ENUMS, SCHEMAS, RPCS };
})(typeof window !== "undefined" ? window : globalThis);
