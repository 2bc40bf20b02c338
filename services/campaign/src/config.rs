//! The campaign service's settings: the `[campaign]` section of the
//! settings file (`campaign.toml`), then environment variables
//! (`CAMPAIGN_COUPON_ENDPOINT`). The settings every service shares are the
//! platform's (`platform::settings`, re-exported here under their old
//! paths); files from before the section existed, with its keys at the
//! top, are read the same way (`platform::settings::MovedKey`).

use serde::{Deserialize, Serialize};

pub use platform::settings::{Settings, SettingsError, redact_url};

/// The section's name in the settings file.
pub const SECTION: &str = "campaign";

/// What only the campaign service reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignSettings {
    /// Where won coupon and top-up-code prizes are delivered: `self` (the
    /// coupon service on this engine's own listener, the default), a URL
    /// such as `http://10.0.0.5:50051`, or `none` (prizes wait in the
    /// outbox). Env: `CAMPAIGN_COUPON_ENDPOINT`.
    pub coupon_endpoint: String,
    /// Webhooks may call loopback, private and link-local addresses
    /// (tests, on-premises receivers). Off by default: an admin could
    /// otherwise make the engine call its own network (SSRF). Env:
    /// `CAMPAIGN_WEBHOOK_ALLOW_PRIVATE`.
    pub webhook_allow_private: bool,
    /// How long a webhook delivery is retried before it is FAILED and its
    /// endpoint FAILING (hours, from its first attempt).
    pub webhook_retry_hours: u32,
    /// Requests in flight at once to one endpoint.
    pub webhook_concurrency: u32,
    /// The longest wait between two attempts of a delivery (seconds);
    /// the waits double from 10 s up to it. Env:
    /// `CAMPAIGN_WEBHOOK_BACKOFF_CAP_SECS`.
    pub webhook_backoff_cap_secs: u32,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            coupon_endpoint: "self".into(),
            webhook_allow_private: false,
            webhook_retry_hours: 24,
            webhook_concurrency: 16,
            webhook_backoff_cap_secs: 3600,
        }
    }
}

impl CampaignSettings {
    /// The `[campaign]` section of `settings` over the defaults, then the
    /// environment variables.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let mut s: CampaignSettings =
            settings
                .section(SECTION)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    SettingsError::Section(SECTION, e.message().to_owned())
                })?;
        if let Some(v) = std::env::var("CAMPAIGN_COUPON_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
        {
            s.coupon_endpoint = v;
        }
        if let Ok(v) = std::env::var("CAMPAIGN_WEBHOOK_ALLOW_PRIVATE") {
            s.webhook_allow_private = matches!(v.trim(), "1" | "true" | "yes");
        }
        for (var, field) in [
            ("CAMPAIGN_WEBHOOK_RETRY_HOURS", &mut s.webhook_retry_hours),
            (
                "CAMPAIGN_WEBHOOK_BACKOFF_CAP_SECS",
                &mut s.webhook_backoff_cap_secs,
            ),
        ] {
            if let Ok(v) = std::env::var(var) {
                *field = v.trim().parse().map_err(|_| {
                    SettingsError::Section(SECTION, format!("{var}: {v:?} is not a whole number"))
                })?;
            }
        }
        if s.webhook_retry_hours == 0
            || s.webhook_backoff_cap_secs == 0
            || s.webhook_concurrency == 0
            || s.webhook_concurrency > 256
        {
            return Err(SettingsError::Section(
                SECTION,
                "webhook_retry_hours and webhook_backoff_cap_secs must be at least 1, \
                 webhook_concurrency 1..=256"
                    .into(),
            ));
        }
        Ok(s)
    }

    /// Writes these settings as `settings`' `[campaign]` section (for a
    /// process assembled in code, such as the tests).
    pub fn write_into(&self, settings: &mut Settings) {
        let mut table = toml::Table::new();
        table.insert(
            "coupon_endpoint".to_owned(),
            toml::Value::String(self.coupon_endpoint.clone()),
        );
        table.insert(
            "webhook_allow_private".to_owned(),
            toml::Value::Boolean(self.webhook_allow_private),
        );
        table.insert(
            "webhook_retry_hours".to_owned(),
            toml::Value::Integer(self.webhook_retry_hours.into()),
        );
        table.insert(
            "webhook_concurrency".to_owned(),
            toml::Value::Integer(self.webhook_concurrency.into()),
        );
        table.insert(
            "webhook_backoff_cap_secs".to_owned(),
            toml::Value::Integer(self.webhook_backoff_cap_secs.into()),
        );
        settings.sections.insert(SECTION.to_owned(), table);
    }
}

/// The section as `print-config` shows it.
pub const EXAMPLE: &str = r#"[campaign]                                    # the campaign service
coupon_endpoint = "self"                      # or "http://host:port", or "none" (no coupon prizes)
webhook_allow_private = false                 # true: webhooks may call private addresses (SSRF guard off)
webhook_retry_hours = 24                      # a delivery is retried this long, then FAILED
webhook_concurrency = 16                      # requests in flight to one endpoint
webhook_backoff_cap_secs = 3600               # the longest wait between two attempts
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn from(text: &str) -> Result<CampaignSettings, SettingsError> {
        let settings =
            Settings::from_toml(text).map_err(|e| SettingsError::Section("x", e.to_string()))?;
        CampaignSettings::from_settings(&settings)
    }

    #[test]
    fn the_example_is_the_defaults_and_a_section_overrides_them() {
        assert_eq!(from(EXAMPLE).ok(), Some(CampaignSettings::default()));
        assert_eq!(from("").ok(), Some(CampaignSettings::default()));
        let s = from("[campaign]\ncoupon_endpoint = \"none\"\n").ok();
        assert_eq!(s.map(|s| s.coupon_endpoint), Some("none".to_owned()));
    }

    #[test]
    fn the_old_top_level_key_still_counts_and_unknown_ones_are_refused() {
        // Arrange: a file from before the section, with its key at the top.
        let old = "player_rate_per_sec = 5\ncoupon_endpoint = \"http://10.0.0.5:50051\"\n";

        // Act
        let settings = Settings::from_toml(old).expect("an older file parses");
        let s = CampaignSettings::from_settings(&settings).ok();

        // Assert: read as the section's, and the shared key stays shared.
        assert_eq!(
            s.map(|s| s.coupon_endpoint),
            Some("http://10.0.0.5:50051".to_owned())
        );
        assert_eq!(settings.player_rate_per_sec, 5);
        assert_eq!(settings.moved_keys.len(), 1);
        assert!(matches!(
            from("[campaign]\ncoupon_endpoints = \"none\"\n"),
            Err(SettingsError::Section(SECTION, _))
        ));
    }

    #[test]
    fn written_settings_read_back() {
        let mut settings = Settings::default();
        let s = CampaignSettings {
            coupon_endpoint: "none".into(),
            webhook_allow_private: true,
            webhook_retry_hours: 2,
            webhook_concurrency: 3,
            webhook_backoff_cap_secs: 60,
        };
        s.write_into(&mut settings);
        assert_eq!(CampaignSettings::from_settings(&settings).ok(), Some(s));
    }
}
