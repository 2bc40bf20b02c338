//! `webhooks add/list/test/remove`: the merchant's webhook endpoints
//! (docs/events.md "Webhooks").

use super::*;

fn status_name(v: i32) -> &'static str {
    match pb::WebhookStatus::try_from(v) {
        Ok(pb::WebhookStatus::Enabled) => "enabled",
        Ok(pb::WebhookStatus::Disabled) => "disabled",
        Ok(pb::WebhookStatus::Failing) => "FAILING",
        _ => "unknown",
    }
}

/// `webhooks add URL [--type T]... [--description D]`: prints the
/// endpoint and its secret, which is shown this once.
pub(super) async fn webhook_add(
    ctx: &Ctx,
    url: &str,
    types: &[String],
    description: &str,
) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let req = pb::CreateWebhookEndpointRequest {
        // One key for this run: a retry after a lost answer makes no second
        // endpoint.
        idempotency_key: format!("campaignctl-webhook-{}", uuid::Uuid::now_v7()),
        url: url.to_owned(),
        description: description.to_owned(),
        event_types: types.to_vec(),
        secret: String::new(),
    };
    let made = call("CreateWebhookEndpoint", || {
        let mut a = engine.webhooks();
        let r = req.clone();
        async move { a.create_webhook_endpoint(r).await }
    })
    .await?;
    let e = made.endpoint.unwrap_or_default();
    println!("endpoint {} -> {}", e.endpoint_id, e.url);
    println!("types:   {}", e.event_types.join(", "));
    if made.secret.is_empty() {
        println!("secret:  (shown only when first made)");
    } else {
        println!("secret:  {}", made.secret);
        println!("         keep it now: it is shown this once (docs/events.md \"The signature\")");
    }
    Ok(())
}

/// `webhooks list`: every endpoint with its delivery health.
pub(super) async fn webhook_list(ctx: &Ctx) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let all = call("ListWebhookEndpoints", || {
        let mut a = engine.webhooks();
        async move {
            a.list_webhook_endpoints(pb::ListWebhookEndpointsRequest {})
                .await
        }
    })
    .await?;
    if all.endpoints.is_empty() {
        println!("no webhook endpoints");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .endpoints
        .iter()
        .map(|e| {
            let status = if e.disabled_reason.is_empty() {
                status_name(e.status).to_owned()
            } else {
                format!("{} ({})", status_name(e.status), e.disabled_reason)
            };
            let last = if e.last_error.is_empty() {
                String::new()
            } else {
                e.last_error.clone()
            };
            vec![
                e.endpoint_id.clone(),
                e.url.clone(),
                status,
                e.delivered.to_string(),
                e.pending.to_string(),
                e.failed.to_string(),
                last,
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "endpoint",
                "url",
                "status",
                "delivered",
                "pending",
                "failed",
                "last error"
            ],
            &rows
        )
    );
    Ok(())
}

/// `webhooks test ENDPOINT`: one signed `webhook.ping.v1`, now.
pub(super) async fn webhook_test(ctx: &Ctx, endpoint: &str) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let req = pb::TestWebhookEndpointRequest {
        endpoint_id: endpoint.to_owned(),
    };
    let r = call("TestWebhookEndpoint", || {
        let mut a = engine.webhooks();
        let r = req.clone();
        async move { a.test_webhook_endpoint(r).await }
    })
    .await?;
    if r.delivered {
        println!("delivered: HTTP {} in {} ms", r.status, r.latency_ms);
        Ok(())
    } else {
        Err(CtlError::State(format!(
            "the test event was not delivered ({} ms): {}",
            r.latency_ms, r.error
        )))
    }
}

/// `webhooks remove ENDPOINT`: deletes it and its deliveries.
pub(super) async fn webhook_remove(ctx: &Ctx, endpoint: &str) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let req = pb::DeleteWebhookEndpointRequest {
        idempotency_key: change_key(&format!("remove-webhook-{endpoint}"), 0),
        endpoint_id: endpoint.to_owned(),
    };
    let gone = call("DeleteWebhookEndpoint", || {
        let mut a = engine.webhooks();
        let r = req.clone();
        async move { a.delete_webhook_endpoint(r).await }
    })
    .await?;
    println!("removed {} -> {}", gone.endpoint_id, gone.url);
    Ok(())
}
