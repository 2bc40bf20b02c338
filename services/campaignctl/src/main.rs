//! `campaignctl`: see the library and README ("campaignctl").

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(argv) = argv else {
        eprintln!("campaignctl: arguments must be UTF-8");
        return ExitCode::from(2);
    };
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
    match runtime.block_on(campaignctl::run(&argv)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campaignctl: {e}");
            if e.exit_code() == 2 {
                eprintln!("(campaignctl --help shows the commands)");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
