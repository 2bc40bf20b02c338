//! The commands: each reads what it needs, calls the engine, prints.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use engine_proto::campaign::v1 as pb;
use tonic::Code;

use crate::{
    args::{Args, Command, SimulateOpts, Transition},
    client::{self, Engine, call},
    error::{CtlError, Outcome},
    plan::{self, Current, Step, kind_name, local_instant, status_name},
    spec::{ChanceRules, ShareRules, VoteRules, WheelSpec},
    state,
};

/// Runs one parsed command line.
pub async fn run(args: Args) -> Result<Outcome, CtlError> {
    let ctx = Ctx {
        endpoint: args.endpoint,
        key_file: args.key_file,
        ca_file: args.ca_file,
    };
    match args.command {
        Command::Apply { file, yes, dry_run } => return apply(&ctx, &file, yes, dry_run).await,
        Command::Check { file } => check(&file)?,
        Command::Show { campaign } => show(&ctx, &campaign).await?,
        Command::Transition { to, campaign } => transition(&ctx, to, &campaign).await?,
        Command::Stats { campaign, csv } => stats(&ctx, &campaign, csv).await?,
        Command::Export { campaign, out } => export(&ctx, Some(&campaign), out).await?,
        Command::AuditLog { out } => export(&ctx, None, out).await?,
        Command::Simulate { campaign, opts } => simulate(&ctx, &campaign, &opts).await?,
        Command::GetCampaigns(query) => get_campaigns(&ctx, &query).await?,
        Command::GetStores(query) => get_stores(&ctx, &query).await?,
        Command::GetRaffles { campaign } => get_raffles(&ctx, &campaign).await?,
        Command::RunRaffle { raffle } => run_raffle(&ctx, &raffle).await?,
        Command::WebhookAdd {
            url,
            types,
            description,
        } => webhook_add(&ctx, &url, &types, &description).await?,
        Command::WebhookList => webhook_list(&ctx).await?,
        Command::WebhookTest { endpoint } => webhook_test(&ctx, &endpoint).await?,
        Command::WebhookRemove { endpoint } => webhook_remove(&ctx, &endpoint).await?,
        Command::Winners { campaign, query } => winners(&ctx, &campaign, &query).await?,
        Command::WinnersCsv {
            campaign,
            query,
            out,
        } => winners_csv(&ctx, &campaign, &query, out.as_deref()).await?,
        Command::Ship { campaign, file } => ship(&ctx, &campaign, &file).await?,
    }
    Ok(Outcome::Done)
}

struct Ctx {
    endpoint: String,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

impl Ctx {
    async fn engine(&self) -> Result<Engine, CtlError> {
        client::warn_if_in_the_clear(&self.endpoint);
        let key = client::api_key(self.key_file.as_deref())?;
        Engine::connect(&self.endpoint, self.ca_file.as_deref(), &key).await
    }

    /// A campaign id, or a campaign file applied to this endpoint before.
    fn campaign_id(&self, arg: &str) -> Result<String, CtlError> {
        let path = Path::new(arg);
        if !path.is_file() {
            return Ok(arg.to_owned());
        }
        let spec = WheelSpec::load(path)?;
        state::lookup(path, &self.endpoint, &spec.key)?.ok_or_else(|| {
            CtlError::State(format!(
                "{arg}: no campaign recorded for key {:?} on {} in {} (apply it first)",
                spec.key,
                self.endpoint,
                state::path_for(path).display()
            ))
        })
    }
}

fn check(file: &Path) -> Result<(), CtlError> {
    let spec = WheelSpec::load(file)?;
    println!(
        "{}: valid ({} prizes, fallback {:?})",
        file.display(),
        spec.slots.len(),
        spec.slots
            .get(spec.fallback as usize)
            .map(|s| s.name.as_str())
            .unwrap_or_default()
    );
    Ok(())
}

/// `INVALID_ARGUMENT` names the engine's field (`slot.weight`); say which
/// field of the file that is (`prizes[2].weight`).
fn rename_field(e: CtlError, from: &str, to: &str) -> CtlError {
    match e {
        CtlError::Rpc {
            what,
            code: Code::InvalidArgument,
            message,
        } => {
            let message = match message.strip_prefix(from) {
                Some(rest) => format!("{to}{rest}"),
                None => message,
            };
            CtlError::Rpc {
                what,
                code: Code::InvalidArgument,
                message,
            }
        }
        other => other,
    }
}

async fn get_campaign(engine: &Engine, id: &str) -> Result<pb::Campaign, CtlError> {
    let req = pb::GetCampaignRequest {
        campaign_id: id.to_owned(),
    };
    call(&format!("GetCampaign {id}"), || {
        let mut c = engine.admin();
        let r = req.clone();
        async move { c.get_campaign(r).await }
    })
    .await
}

async fn transition(ctx: &Ctx, to: Transition, arg: &str) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let before = get_campaign(&engine, &id).await?;
    let target = match to {
        Transition::Publish | Transition::Resume => pb::CampaignStatus::Published,
        Transition::Pause => pb::CampaignStatus::Paused,
        Transition::End => pb::CampaignStatus::Ended,
    };
    // Already there (a repeated command, or a retry of one whose answer was
    // lost): nothing to do.
    if before.status == i32::from(target) {
        println!("campaign {id} is already {}", status_name(before.status));
        return Ok(());
    }
    let req = pb::CampaignTransitionRequest {
        idempotency_key: change_key(&uuid::Uuid::new_v4().simple().to_string(), 0),
        campaign_id: id.clone(),
    };
    let what = format!("{} {id}", to.name());
    let after = call(&what, || {
        let mut a = engine.admin();
        let r = req.clone();
        async move {
            match to {
                Transition::Publish => a.publish_campaign(r).await,
                Transition::Pause => a.pause_campaign(r).await,
                Transition::Resume => a.resume_campaign(r).await,
                Transition::End => a.end_campaign(r).await,
            }
        }
    })
    .await?;
    println!(
        "campaign {id}: {} -> {}",
        status_name(before.status),
        status_name(after.status)
    );
    if let Some(f) = &after.fairness {
        if to == Transition::Publish {
            println!("seed commitment   {}", hex(&f.seed_commitment));
            println!("prize table hash  {}", hex(&f.prize_table_hash));
        }
        if !f.revealed_seed.is_empty() {
            println!("revealed seed     {}", hex(&f.revealed_seed));
        }
    }
    Ok(())
}

mod apply;
mod lists;
mod raffles;
mod report;
mod webhooks;

use apply::*;
pub use lists::{CampaignQuery, StoreQuery, WinnerQuery};
use lists::{get_campaigns, get_stores, ship, winners, winners_csv};
use raffles::{get_raffles, run_raffle};
use report::*;
use webhooks::{webhook_add, webhook_list, webhook_remove, webhook_test};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_fields_are_renamed_to_the_file_s() {
        let e = rename_field(
            client::rpc_error(
                "x",
                &tonic::Status::invalid_argument("slot.weight: must be between 0 and 1000000"),
            ),
            "slot",
            "prizes[2]",
        );
        assert!(
            e.to_string()
                .ends_with("prizes[2].weight: must be between 0 and 1000000"),
            "{e}"
        );
        let other = rename_field(
            client::rpc_error("x", &tonic::Status::not_found("slot.weight")),
            "slot",
            "prizes[2]",
        );
        assert!(other.to_string().ends_with("slot.weight"), "{other}");
    }

    #[test]
    fn keys_of_adds_and_revisions_name_what_they_change() {
        let spec = WheelSpec::parse(
            "key = \"k\"\nname = \"W\"\nstarts_at = \"2026-11-25T12:00:00Z\"\n\
             ends_at = \"2026-12-25T12:00:00Z\"\ndraws_per_day = 1\ndraws_total = 1\n\
             fallback = \"T\"\n[[prizes]]\nname = \"P\"\nkind = \"points\"\nweight = 1\n\
             stock = 1\npoints = 1\n[[prizes]]\nname = \"T\"\nkind = \"thanks\"\nweight = 1\n",
        )
        .expect("valid");
        let c = pb::Campaign {
            campaign_id: "c".into(),
            ..Default::default()
        };
        let add = Step::AddSlot(spec.slots[1].clone());
        let k = step_key("run1", 0, &c, &spec, &add);
        assert!(k.starts_with("campaignctl-add-c-1-"), "{k}");
        assert_eq!(
            k,
            step_key("run2", 5, &c, &spec, &add),
            "the same in every run"
        );
        let mut other = spec.slots[1].clone();
        other.weight = 2;
        assert_ne!(k, step_key("run1", 0, &c, &spec, &Step::AddSlot(other)));
        let revise = Step::Revise(spec.slots.clone());
        let mut v2 = c.clone();
        v2.fairness = Some(pb::Fairness {
            version: 2,
            ..Default::default()
        });
        let k1 = step_key("run1", 0, &c, &spec, &revise);
        assert_eq!(k1, step_key("run2", 0, &c, &spec, &revise));
        assert_ne!(
            k1,
            step_key("run1", 0, &v2, &spec, &revise),
            "one key per version"
        );
        assert!(k1.len() <= 128);
        let fallback = Step::SetFallback(1);
        assert_ne!(
            step_key("run1", 0, &c, &spec, &fallback),
            step_key("run2", 0, &c, &spec, &fallback)
        );
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["day", "draws"],
            &[
                vec!["2026-11-26".into(), "7".into()],
                vec!["total".into(), "12".into()],
            ],
        );
        assert_eq!(t, "day         draws\n2026-11-26      7\ntotal          12");
    }
}
