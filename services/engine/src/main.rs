//! `campaign-engine`: the whole engine on its embedded default, campaign and
//! coupon services on one listener, with the prize outbox delivering to
//! this same process (`engine::run_engine`). Commands and settings:
//! `platform::cli`, README.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::cli::main(
        env!("CARGO_BIN_NAME"),
        "campaign engine",
        &engine::SECTIONS,
        |settings, listener, shutdown, clock| {
            engine::run_engine(settings, listener, shutdown, clock)
        },
    )
    .await
}
