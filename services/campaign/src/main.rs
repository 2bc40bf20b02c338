//! `campaign-service`: the campaign service alone (no coupon service in
//! this process; won coupon prizes go to `coupon_endpoint`). The whole
//! engine is `campaign-engine` (package `engine`). Commands:
//! `platform::cli`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::cli::main(
        env!("CARGO_BIN_NAME"),
        "campaign service",
        &[campaign::config::EXAMPLE],
        campaign::run,
    )
    .await
}
