//! The help a first-time caller asks for: `--help`, `--version` and each
//! command's own help, in both spellings; a bad command line exits 1, never
//! 2 (`apply --dry-run`'s "changes pending").

use super::{assert_exit, run_ctl, text};

#[tokio::test]
async fn help_version_and_per_command_help() {
    let help = run_ctl(&["--help"], None).await;
    assert_exit(&help, 0);
    let out = text(&help.stdout);
    for command in [
        "check", "apply", "show", "publish", "stats", "export", "simulate",
    ] {
        assert!(out.contains(command), "{command} missing from:\n{out}");
    }
    assert!(
        out.contains("--endpoint") && out.contains("--key-file") && out.contains("--ca-file"),
        "{out}"
    );

    let version = run_ctl(&["--version"], None).await;
    assert_exit(&version, 0);
    assert_eq!(
        text(&version.stdout).trim(),
        format!("campaignctl {}", env!("CARGO_PKG_VERSION"))
    );

    // `apply --help` and `help apply` are apply's own help, with the
    // dry run's exit status.
    for argv in [&["apply", "--help"][..], &["help", "apply"]] {
        let o = run_ctl(argv, None).await;
        assert_exit(&o, 0);
        let out = text(&o.stdout);
        assert!(out.contains("Usage: campaignctl apply"), "{argv:?}:\n{out}");
        assert!(out.contains("--dry-run") && out.contains("2 changes pending"));
        assert!(!out.contains("audit-log"), "{argv:?} printed every command");
    }

    // clap's error for a bad command line, exit 1: a typo in a CI job
    // that gates on drift must not read as "changes pending".
    let bad = run_ctl(&["apply", "--dry-rum", "x.toml"], None).await;
    assert_exit(&bad, 1);
    assert!(text(&bad.stderr).contains("--dry-rum"));
}
