//! The command line, hand-parsed (`--flag value` or `--flag=value`; flags
//! may come before or after the command).

use std::path::PathBuf;

use crate::error::CtlError;

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

pub const USAGE: &str = "\
usage: campaignctl [--endpoint URL] [--key-file PATH] COMMAND ...

commands:
  check FILE                 validate a campaign file (no engine call)
  apply FILE [--yes] [--dry-run]
                             create or update the campaign FILE describes;
                             a live campaign changes only with --yes
  show CAMPAIGN              the campaign, its prizes and live stock
  publish|pause|resume|end CAMPAIGN
  stats CAMPAIGN [--csv]     statistics by day and channel
  export CAMPAIGN [--out FILE]
                             the auditor's export (JSON lines)
  audit-log [--out FILE]     the merchant's audit trail (JSON lines)
  simulate CAMPAIGN --players N [--days N] [--draws N] [--runs N] [--seed N]
                             forecast stock burn for an audience

CAMPAIGN is a campaign id or a campaign file applied before (its id is in
the state file beside it).

--endpoint  the engine (default http://127.0.0.1:50051)
--key-file  a file holding an admin or auditor API key; otherwise the
            environment variable CAMPAIGN_API_KEY

exit codes: 0 ok, 1 error, 2 usage";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Publish,
    Pause,
    Resume,
    End,
}

impl Transition {
    pub fn name(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::End => "end",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateOpts {
    pub players_per_day: u32,
    pub days: u32,
    pub draws_per_player_per_day: u32,
    pub runs: u32,
    pub rng_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Check {
        file: PathBuf,
    },
    Apply {
        file: PathBuf,
        yes: bool,
        dry_run: bool,
    },
    Show {
        campaign: String,
    },
    Transition {
        to: Transition,
        campaign: String,
    },
    Stats {
        campaign: String,
        csv: bool,
    },
    Export {
        campaign: String,
        out: Option<PathBuf>,
    },
    AuditLog {
        out: Option<PathBuf>,
    },
    Simulate {
        campaign: String,
        opts: SimulateOpts,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub endpoint: String,
    pub key_file: Option<PathBuf>,
    pub command: Command,
}

fn usage(msg: impl Into<String>) -> CtlError {
    CtlError::Usage(msg.into())
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Args, CtlError> {
    const VALUED: [&str; 8] = [
        "--endpoint",
        "--key-file",
        "--out",
        "--players",
        "--days",
        "--draws",
        "--runs",
        "--seed",
    ];
    const SWITCHES: [&str; 4] = ["--yes", "--dry-run", "--csv", "--help"];
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "-h" {
            flags.push(("--help".into(), None));
        } else if let Some(stripped) = a.strip_prefix("--") {
            let (name, inline) = match stripped.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_owned())),
                None => (a.clone(), None),
            };
            if VALUED.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| usage(format!("{name} needs a value")))?,
                };
                flags.push((name, Some(value)));
            } else if SWITCHES.contains(&name.as_str()) && inline.is_none() {
                flags.push((name, None));
            } else {
                return Err(usage(format!("unknown option {a}")));
            }
        } else {
            words.push(a.clone());
        }
    }
    let take = |name: &str| -> Option<String> {
        flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let has = |name: &str| flags.iter().any(|(n, _)| n == name);
    let endpoint = take("--endpoint")
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(usage(format!(
            "--endpoint must be an http:// or https:// URL, got {endpoint:?}"
        )));
    }
    let key_file = take("--key-file").map(PathBuf::from);
    let number = |name: &str, default: u64| -> Result<u64, CtlError> {
        take(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| usage(format!("{name} must be a whole number, got {v:?}")))
        })
    };
    let u32_number = |name: &str, default: u32| -> Result<u32, CtlError> {
        u32::try_from(number(name, u64::from(default))?)
            .map_err(|_| usage(format!("{name} is too large")))
    };

    let (cmd, rest) = match words.split_first() {
        _ if has("--help") => ("help", &[][..]),
        None => return Err(usage("a command is required")),
        Some((c, rest)) => (c.as_str(), rest),
    };
    // Flags a command takes; any other is a usage error.
    let allowed: &[&str] = match cmd {
        "apply" => &["--yes", "--dry-run"],
        "stats" => &["--csv"],
        "export" | "audit-log" => &["--out"],
        "simulate" => &["--players", "--days", "--draws", "--runs", "--seed"],
        _ => &[],
    };
    for (name, _) in &flags {
        if !["--endpoint", "--key-file", "--help"].contains(&name.as_str())
            && !allowed.contains(&name.as_str())
        {
            return Err(usage(format!("{cmd} does not take {name}")));
        }
    }
    let one = |what: &str| -> Result<String, CtlError> {
        match rest {
            [x] => Ok(x.clone()),
            [] => Err(usage(format!("{cmd} needs {what}"))),
            _ => Err(usage(format!("{cmd} takes one {what}"))),
        }
    };
    let command = match cmd {
        "help" => Command::Help,
        "check" => Command::Check {
            file: one("FILE")?.into(),
        },
        "apply" => Command::Apply {
            file: one("FILE")?.into(),
            yes: has("--yes"),
            dry_run: has("--dry-run"),
        },
        "show" => Command::Show {
            campaign: one("CAMPAIGN")?,
        },
        "publish" | "pause" | "resume" | "end" => Command::Transition {
            to: match cmd {
                "publish" => Transition::Publish,
                "pause" => Transition::Pause,
                "resume" => Transition::Resume,
                _ => Transition::End,
            },
            campaign: one("CAMPAIGN")?,
        },
        "stats" => Command::Stats {
            campaign: one("CAMPAIGN")?,
            csv: has("--csv"),
        },
        "export" => Command::Export {
            campaign: one("CAMPAIGN")?,
            out: take("--out").map(PathBuf::from),
        },
        "audit-log" => {
            if !rest.is_empty() {
                return Err(usage("audit-log takes no arguments"));
            }
            Command::AuditLog {
                out: take("--out").map(PathBuf::from),
            }
        }
        "simulate" => {
            let campaign = one("CAMPAIGN")?;
            let players_per_day = u32_number("--players", 0)?;
            if players_per_day == 0 {
                return Err(usage("simulate needs --players N (players per day, > 0)"));
            }
            Command::Simulate {
                campaign,
                opts: SimulateOpts {
                    players_per_day,
                    days: u32_number("--days", 0)?,
                    draws_per_player_per_day: u32_number("--draws", 0)?,
                    runs: u32_number("--runs", 0)?,
                    rng_seed: number("--seed", 1)?,
                },
            }
        }
        other => return Err(usage(format!("unknown command {other:?}"))),
    };
    Ok(Args {
        endpoint,
        key_file,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, CtlError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_flags_in_any_order() {
        let a = args("apply wheel.toml --yes --endpoint=http://h:1/").expect("ok");
        assert_eq!(a.endpoint, "http://h:1");
        assert_eq!(
            a.command,
            Command::Apply {
                file: "wheel.toml".into(),
                yes: true,
                dry_run: false
            }
        );
        let a = args("--key-file k stats c1 --csv").expect("ok");
        assert_eq!(a.key_file, Some(PathBuf::from("k")));
        assert_eq!(a.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(
            a.command,
            Command::Stats {
                campaign: "c1".into(),
                csv: true
            }
        );
        let a = args("simulate c --players 100 --runs 5").expect("ok");
        assert!(matches!(a.command, Command::Simulate { opts, .. }
            if opts.players_per_day == 100 && opts.runs == 5 && opts.days == 0));
    }

    #[test]
    fn usage_errors_exit_2() {
        for bad in [
            "",
            "apply",
            "apply a b",
            "frobnicate x",
            "stats c --yes",
            "apply f --nope",
            "export c --out",
            "simulate c",
            "simulate c --players x",
            "show c --endpoint ftp://x",
        ] {
            let e = args(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
        assert_eq!(args("--help").expect("help").command, Command::Help);
    }
}
