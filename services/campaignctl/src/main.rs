//! `campaignctl`: see the library and docs/campaignctl.md.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Help, the version and a bad command line end here (0 or 2).
    let args = campaignctl::args::Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("campaignctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(campaignctl::run(args)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("campaignctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
