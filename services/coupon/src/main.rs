//! `coupon-service`: the coupon service alone. Set the same
//! `CAMPAIGN_DELIVERY_SECRET` here and on the campaign service that
//! delivers prizes to it. Commands: `platform::cli`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::cli::main(
        env!("CARGO_BIN_NAME"),
        "coupon service",
        &[coupon::config::EXAMPLE],
        |settings, listener, shutdown, clock| {
            coupon::run_alone(settings, listener, shutdown, clock)
        },
    )
    .await
}
