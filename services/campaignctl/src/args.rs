//! The command line, parsed with clap: `--flag value` or `--flag=value`;
//! the global flags may come before or after the command. `--help`,
//! `--version`, `help COMMAND` and `COMMAND --help` print the help; a bad
//! command line exits 1 with clap's message (not clap's usual 2, which
//! `apply --dry-run` keeps for "changes pending").

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, error::ErrorKind};
use engine_proto::campaign::v1 as pb;

pub use crate::commands::{CampaignQuery, StoreQuery, WinnerQuery};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

const ABOUT: &str = "Lucky-wheel campaigns as TOML files, applied to the engine over gRPC; \
publish, pause, stats and the auditor's exports";

const AFTER_HELP: &str = "\
CAMPAIGN is a campaign id or a campaign file applied before (its id is in
the state file beside it).

The API key comes from --key-file PATH, otherwise from the environment
variable CAMPAIGN_API_KEY; it is never printed. An https:// endpoint is
verified against the system's root certificates, or only against --ca-file.
A plain http:// endpoint that is not loopback sends the key in the clear
(campaignctl warns).

Exit status: 0 ok, 1 error (a bad command line too, with clap's message on
stderr); `apply --dry-run` exits 2 when changes are pending (the diff on
stdout) and 0 when there are none, so 2 means nothing else.";

const APPLY_HELP: &str = "\
Creates the campaign FILE describes (DRAFT), or brings the campaign to the
file: only the difference is sent, and with none it prints `no changes`.
A PUBLISHED or PAUSED wheel's prizes change only as a new version of the
prize table: apply prints the diff and exits 1 unless run with --yes.

Exit status: 0 applied or no changes, 1 error. With --dry-run (terraform's
-detailed-exitcode): 0 no changes, 2 changes pending (printed), 1 error.";

/// How campaignctl exits on what clap stopped at: 0 for help and the
/// version, 1 for a bad command line (clap itself would use 2, which is
/// `apply --dry-run`'s "changes pending", so CI gating on drift cannot
/// mistake a typo for drift).
pub fn exit_code(e: &clap::Error) -> i32 {
    if e.use_stderr() { 1 } else { 0 }
}

/// The heading of the options every command takes.
const ENGINE: &str = "Engine options";

#[derive(Debug, Parser)]
#[command(name = "campaignctl", version, about = ABOUT, after_help = AFTER_HELP)]
#[command(arg_required_else_help = true)]
struct Cli {
    /// The engine's gRPC endpoint (http:// or https://)
    #[arg(long, global = true, value_name = "URL", default_value = DEFAULT_ENDPOINT,
        value_parser = endpoint, help_heading = ENGINE)]
    endpoint: String,
    /// A file holding an admin or auditor API key [default: $CAMPAIGN_API_KEY]
    #[arg(long, global = true, value_name = "PATH", help_heading = ENGINE)]
    key_file: Option<PathBuf>,
    /// PEM file of the CA(s) an https:// endpoint's certificate is verified
    /// against, instead of the system's roots
    #[arg(long, global = true, value_name = "PATH", help_heading = ENGINE)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Validate a campaign file (no engine call)
    Check {
        /// The campaign file (TOML)
        file: PathBuf,
    },
    /// Create or update the campaign FILE describes
    #[command(long_about = APPLY_HELP)]
    Apply {
        /// The campaign file (TOML); its state file is written beside it
        file: PathBuf,
        /// Apply changes to a live (PUBLISHED or PAUSED) campaign
        #[arg(long)]
        yes: bool,
        /// Print the changes and apply nothing; exit 2 if there are any
        #[arg(long)]
        dry_run: bool,
    },
    /// The campaign, its prizes and live stock
    Show {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// Publish a DRAFT campaign
    Publish {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// Pause a PUBLISHED campaign
    Pause {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// Resume a PAUSED campaign
    Resume {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// End a campaign (and reveal its fairness seed)
    End {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// Statistics by day and channel
    Stats {
        #[arg(help = CAMPAIGN)]
        campaign: String,
        /// CSV instead of a table
        #[arg(long)]
        csv: bool,
    },
    /// The auditor's export (JSON lines)
    Export {
        #[arg(help = CAMPAIGN)]
        campaign: String,
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The merchant's audit trail (JSON lines)
    AuditLog {
        /// Write to FILE instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the merchant's campaigns, newest first (`get campaigns`), its
    /// stores (`get stores`) or a campaign's raffles (`get raffles`)
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// A campaign's winners, newest first, with their fulfilment state
    Winners {
        #[arg(help = CAMPAIGN)]
        campaign: String,
        /// Only these states (repeatable): granted, won, claimed, shipped, expired
        #[arg(long = "state", value_name = "STATE", value_parser = award_status)]
        states: Vec<pb::AwardStatus>,
        /// Only prizes of this wheel slot
        #[arg(long, value_name = "INDEX")]
        slot: Option<u32>,
        /// Only prizes won on this day of the campaign (YYYY-MM-DD)
        #[arg(long, value_name = "DATE", default_value = "")]
        day: String,
        /// Only prizes won in this store (its code, e.g. SH-001)
        #[arg(long, value_name = "STORE", default_value = "")]
        store: String,
        /// The shipping list as CSV (ExportWinners: UTF-8 with a BOM, for
        /// Excel), byte for byte, instead of a table
        #[arg(long)]
        csv: bool,
        /// With --csv: write to FILE instead of standard output
        #[arg(long, value_name = "FILE", requires = "csv")]
        out: Option<PathBuf>,
    },
    /// The merchant's webhook endpoints: add, list, test, remove
    Webhooks {
        #[command(subcommand)]
        what: WebhookCmd,
    },
    /// Draw a raffle now (after its cut-off), or show the winners it has
    RunRaffle {
        /// The raffle's id (`get raffles CAMPAIGN` lists them)
        raffle: String,
    },
    /// Ship physical prizes from a courier's CSV file (award_id,tracking_number)
    Ship {
        #[arg(help = CAMPAIGN)]
        campaign: String,
        /// The file: one `award_id,tracking_number` a line, a header allowed
        file: PathBuf,
    },
    /// Forecast stock burn for an audience
    Simulate {
        #[arg(help = CAMPAIGN)]
        campaign: String,
        #[command(flatten)]
        opts: SimulateOpts,
    },
}

const CAMPAIGN: &str = "A campaign id, or a campaign file applied before";

#[derive(Debug, Subcommand)]
enum WebhookCmd {
    /// Register an endpoint; prints its signing secret, this once
    Add {
        /// Where events are POSTed (https://...)
        url: String,
        /// Only this event type (repeatable), e.g. draw.won.v1; none: every type
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// What it is for (shown in `webhooks list`)
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
    },
    /// Every endpoint with its delivery health
    List,
    /// Send one signed test event (webhook.ping.v1) now; fails if not delivered
    Test {
        /// The endpoint's id (`webhooks list`); not `endpoint`, the
        /// engine's global flag
        #[arg(value_name = "ENDPOINT")]
        id: String,
    },
    /// Delete an endpoint and its deliveries (the events stay)
    Remove {
        /// The endpoint's id (`webhooks list`)
        #[arg(value_name = "ENDPOINT")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum GetWhat {
    /// The merchant's campaigns, filtered
    Campaigns {
        /// Only these states (repeatable): draft, published, paused, ended
        #[arg(long = "status", value_name = "STATUS", value_parser = campaign_status)]
        statuses: Vec<pb::CampaignStatus>,
        /// Only campaigns holding this activity: wheel, vote, red_packet, share
        #[arg(long, value_name = "KIND", value_parser = activity_kind)]
        activity: Option<pb::ActivityKind>,
        /// Only names starting with this text
        #[arg(long, value_name = "TEXT", default_value = "")]
        name_prefix: String,
    },
    /// A campaign's raffles, in the order they were made
    Raffles {
        #[arg(help = CAMPAIGN)]
        campaign: String,
    },
    /// The merchant's stores, in code order
    Stores {
        /// Only stores in this status: open, closed
        #[arg(long, value_name = "STATUS", value_parser = store_status)]
        status: Option<pb::StoreStatus>,
        /// Only stores in exactly this city
        #[arg(long, value_name = "CITY", default_value = "")]
        city: String,
    },
}

fn store_status(s: &str) -> Result<pb::StoreStatus, String> {
    pb::StoreStatus::from_str_name(&format!("STORE_STATUS_{}", s.to_ascii_uppercase()))
        .filter(|v| *v != pb::StoreStatus::Unspecified)
        .ok_or_else(|| format!("{s:?} is not open or closed"))
}

fn campaign_status(s: &str) -> Result<pb::CampaignStatus, String> {
    pb::CampaignStatus::from_str_name(&format!("CAMPAIGN_STATUS_{}", s.to_ascii_uppercase()))
        .filter(|v| *v != pb::CampaignStatus::Unspecified)
        .ok_or_else(|| format!("{s:?} is not draft, published, paused or ended"))
}

fn award_status(s: &str) -> Result<pb::AwardStatus, String> {
    pb::AwardStatus::from_str_name(&format!("AWARD_STATUS_{}", s.to_ascii_uppercase()))
        .filter(|v| *v != pb::AwardStatus::Unspecified)
        .ok_or_else(|| format!("{s:?} is not granted, won, claimed, shipped or expired"))
}

fn activity_kind(s: &str) -> Result<pb::ActivityKind, String> {
    pb::ActivityKind::from_str_name(&format!("ACTIVITY_KIND_{}", s.to_ascii_uppercase()))
        .filter(|v| *v != pb::ActivityKind::Unspecified)
        .ok_or_else(|| format!("{s:?} is not wheel, vote, red_packet or share"))
}

/// `--endpoint`: an http:// or https:// URL, without a trailing slash.
fn endpoint(s: &str) -> Result<String, String> {
    let e = s.trim_end_matches('/');
    if e.starts_with("http://") || e.starts_with("https://") {
        Ok(e.to_owned())
    } else {
        Err(format!("must be an http:// or https:// URL, got {s:?}"))
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct SimulateOpts {
    /// Distinct players who spin every day (> 0)
    #[arg(long = "players", value_name = "N", required = true,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub players_per_day: u32,
    /// Days to simulate [default: the campaign's window]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub days: u32,
    /// Spins per player per day [default: the campaign's draws per day]
    #[arg(
        long = "draws",
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub draws_per_player_per_day: u32,
    /// Simulated runs [default: 100]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub runs: u32,
    /// Random seed: the same seed gives the same report
    #[arg(long = "seed", value_name = "N", default_value_t = 1)]
    pub rng_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
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
    GetCampaigns(CampaignQuery),
    GetStores(StoreQuery),
    GetRaffles {
        campaign: String,
    },
    RunRaffle {
        raffle: String,
    },
    WebhookAdd {
        url: String,
        types: Vec<String>,
        description: String,
    },
    WebhookList,
    WebhookTest {
        endpoint: String,
    },
    WebhookRemove {
        endpoint: String,
    },
    Ship {
        campaign: String,
        file: PathBuf,
    },
    Winners {
        campaign: String,
        query: WinnerQuery,
    },
    /// `winners --csv [--out FILE]`
    WinnersCsv {
        campaign: String,
        query: WinnerQuery,
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub endpoint: String,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub command: Command,
}

impl Args {
    /// Parses `std::env::args`; prints help, the version or a usage error
    /// and exits ([`exit_code`]) when that is what they ask for.
    pub fn parse() -> Self {
        Self::try_parse_from(std::env::args_os()).unwrap_or_else(|e| {
            // Printing to a closed pipe is no reason to change the status.
            let _ = e.print();
            std::process::exit(exit_code(&e))
        })
    }

    /// Parses `argv`, the program name first.
    pub fn try_parse_from<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::from_arg_matches(&Cli::command().try_get_matches_from(argv)?)?;
        if cli.ca_file.is_some() && !cli.endpoint.starts_with("https://") {
            return Err(Cli::command().error(
                ErrorKind::ArgumentConflict,
                format!(
                    "--ca-file verifies an https:// endpoint; {} is plain http",
                    cli.endpoint
                ),
            ));
        }
        let transition = |to, campaign| Command::Transition { to, campaign };
        let command = match cli.command {
            Cmd::Check { file } => Command::Check { file },
            Cmd::Apply { file, yes, dry_run } => Command::Apply { file, yes, dry_run },
            Cmd::Show { campaign } => Command::Show { campaign },
            Cmd::Publish { campaign: c } => transition(Transition::Publish, c),
            Cmd::Pause { campaign: c } => transition(Transition::Pause, c),
            Cmd::Resume { campaign: c } => transition(Transition::Resume, c),
            Cmd::End { campaign: c } => transition(Transition::End, c),
            Cmd::Stats { campaign, csv } => Command::Stats { campaign, csv },
            Cmd::Export { campaign, out } => Command::Export { campaign, out },
            Cmd::AuditLog { out } => Command::AuditLog { out },
            Cmd::Simulate { campaign, opts } => Command::Simulate { campaign, opts },
            Cmd::Get {
                what:
                    GetWhat::Campaigns {
                        statuses,
                        activity,
                        name_prefix,
                    },
            } => Command::GetCampaigns(CampaignQuery {
                statuses,
                activity,
                name_prefix,
            }),
            Cmd::Get {
                what: GetWhat::Stores { status, city },
            } => Command::GetStores(StoreQuery { status, city }),
            Cmd::Get {
                what: GetWhat::Raffles { campaign },
            } => Command::GetRaffles { campaign },
            Cmd::RunRaffle { raffle } => Command::RunRaffle { raffle },
            Cmd::Webhooks { what } => match what {
                WebhookCmd::Add {
                    url,
                    types,
                    description,
                } => Command::WebhookAdd {
                    url,
                    types,
                    description,
                },
                WebhookCmd::List => Command::WebhookList,
                WebhookCmd::Test { id } => Command::WebhookTest { endpoint: id },
                WebhookCmd::Remove { id } => Command::WebhookRemove { endpoint: id },
            },
            Cmd::Ship { campaign, file } => Command::Ship { campaign, file },
            Cmd::Winners {
                campaign,
                states,
                slot,
                day,
                store,
                csv,
                out,
            } => {
                let query = WinnerQuery {
                    statuses: states,
                    slot,
                    day,
                    store,
                };
                if csv {
                    Command::WinnersCsv {
                        campaign,
                        query,
                        out,
                    }
                } else {
                    Command::Winners { campaign, query }
                }
            }
        };
        Ok(Self {
            endpoint: cli.endpoint,
            key_file: cli.key_file,
            ca_file: cli.ca_file,
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("campaignctl").chain(s.split_whitespace()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
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
            if opts.players_per_day == 100 && opts.runs == 5 && opts.days == 0
                && opts.rng_seed == 1));
        let a =
            args("get campaigns --status draft --status ended --activity red_packet").expect("ok");
        assert_eq!(
            a.command,
            Command::GetCampaigns(CampaignQuery {
                statuses: vec![pb::CampaignStatus::Draft, pb::CampaignStatus::Ended],
                activity: Some(pb::ActivityKind::RedPacket),
                name_prefix: String::new(),
            })
        );
        let a = args("get stores --status closed --city 上海").expect("ok");
        assert_eq!(
            a.command,
            Command::GetStores(StoreQuery {
                status: Some(pb::StoreStatus::Closed),
                city: "上海".into(),
            })
        );
        let a = args("get raffles c").expect("ok");
        assert_eq!(
            a.command,
            Command::GetRaffles {
                campaign: "c".into()
            }
        );
        let a = args("run-raffle r").expect("ok");
        assert_eq!(a.command, Command::RunRaffle { raffle: "r".into() });
        let a = args(
            "webhooks add https://crm.example.invalid/h --type draw.won.v1 --type vote.cast.v1",
        )
        .expect("ok");
        assert_eq!(
            a.command,
            Command::WebhookAdd {
                url: "https://crm.example.invalid/h".into(),
                types: vec!["draw.won.v1".into(), "vote.cast.v1".into()],
                description: String::new(),
            }
        );
        assert_eq!(
            args("webhooks list").expect("ok").command,
            Command::WebhookList
        );
        assert_eq!(
            args("webhooks test e").expect("ok").command,
            Command::WebhookTest {
                endpoint: "e".into()
            }
        );
        let a = args("winners c --state won --slot 2 --day 2026-12-07").expect("ok");
        assert_eq!(
            a.command,
            Command::Winners {
                campaign: "c".into(),
                query: WinnerQuery {
                    statuses: vec![pb::AwardStatus::Won],
                    slot: Some(2),
                    day: "2026-12-07".into(),
                    store: String::new(),
                },
            }
        );
        let a = args("winners c --csv --state shipped --store SH-001 --out list.csv").expect("ok");
        assert_eq!(
            a.command,
            Command::WinnersCsv {
                campaign: "c".into(),
                query: WinnerQuery {
                    statuses: vec![pb::AwardStatus::Shipped],
                    slot: None,
                    day: String::new(),
                    store: "SH-001".into(),
                },
                out: Some(PathBuf::from("list.csv")),
            }
        );
        let a = args("winners c --csv").expect("ok");
        assert!(matches!(a.command, Command::WinnersCsv { out: None, .. }));
        let a = args("pause c --endpoint https://e.example --ca-file ca.pem").expect("ok");
        assert_eq!(a.ca_file, Some(PathBuf::from("ca.pem")));
        assert_eq!(
            a.command,
            Command::Transition {
                to: Transition::Pause,
                campaign: "c".into()
            }
        );
    }

    #[test]
    fn usage_errors_exit_1() {
        for bad in [
            "",
            "apply",
            "apply a b",
            "frobnicate x",
            "stats c --yes",
            "apply f --nope",
            "export c --out",
            "audit-log x",
            "simulate c",
            "simulate c --players 0",
            "simulate c --players x",
            "get",
            "get nothing",
            "get campaigns --status lost",
            "get campaigns --activity dance",
            "get stores --status shut",
            "winners",
            "winners c --state gone",
            "winners c --out list.csv",
            "winners c --csv --out",
            "show c --endpoint ftp://x",
            "show c --ca-file ca.pem",
        ] {
            let e = args(bad).expect_err(bad);
            assert_eq!(exit_code(&e), 1, "{bad}: {e}");
        }
    }

    #[test]
    fn help_and_version_exit_0() {
        for ask in [
            "--help",
            "-h",
            "help",
            "apply --help",
            "help apply",
            "--version",
        ] {
            let e = args(ask).expect_err(ask);
            assert_eq!(exit_code(&e), 0, "{ask}: {e}");
        }
        let help = args("help apply").expect_err("help").render().to_string();
        assert!(
            help.contains("--dry-run") && help.contains("2 changes pending"),
            "{help}"
        );
    }
}
