//! `campaign-service`: the campaign service alone (no coupon service in
//! this process; won coupon prizes go to `coupon_endpoint`). The whole
//! engine is `campaign-engine` (package `engine`). Commands: `campaign::cli`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    campaign::cli::main(
        env!("CARGO_BIN_NAME"),
        "campaign service",
        &[],
        campaign::run,
    )
    .await
}
