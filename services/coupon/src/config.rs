//! The coupon service's settings: the `[coupon]` section of the settings
//! file (`campaign.toml`), then environment variables (`CAMPAIGN_TILL_*`).
//! The platform's settings keep the section as written
//! (`platform::settings::Settings::sections`); only this module reads it.

use platform::settings::{Settings, SettingsError};
use serde::{Deserialize, Serialize};

/// The section's name in the settings file.
pub const SECTION: &str = "coupon";

/// The till's limits: how fast a POS key may call, and how many unknown
/// codes it may look up before it is locked out for a while.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CouponSettings {
    /// Failed coupon lookups (well-formed codes that match nothing) a till
    /// may make within `till_failure_window_secs` before it is answered
    /// RESOURCE_EXHAUSTED; 0 = no limit. Env: `CAMPAIGN_TILL_FAILURE_LIMIT`.
    pub till_failure_limit: u32,
    /// Env: `CAMPAIGN_TILL_FAILURE_WINDOW_SECS`.
    pub till_failure_window_secs: u32,
    /// Coupon calls per second per till (POS key; token bucket, per
    /// replica), answered RESOURCE_EXHAUSTED above it; 0 = no limit. Env:
    /// `CAMPAIGN_TILL_RATE_PER_SEC`.
    pub till_rate_per_sec: u32,
    /// Burst allowed above that rate. Env: `CAMPAIGN_TILL_RATE_BURST`.
    pub till_rate_burst: u32,
}

impl Default for CouponSettings {
    fn default() -> Self {
        Self {
            till_failure_limit: 20,
            till_failure_window_secs: 600,
            till_rate_per_sec: 50,
            till_rate_burst: 100,
        }
    }
}

impl CouponSettings {
    /// The `[coupon]` section of `settings` over the defaults, then the
    /// environment variables.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let mut s: CouponSettings =
            settings
                .section(SECTION)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    SettingsError::Section(SECTION, e.message().to_owned())
                })?;
        for (k, field) in [
            ("CAMPAIGN_TILL_FAILURE_LIMIT", &mut s.till_failure_limit),
            (
                "CAMPAIGN_TILL_FAILURE_WINDOW_SECS",
                &mut s.till_failure_window_secs,
            ),
            ("CAMPAIGN_TILL_RATE_PER_SEC", &mut s.till_rate_per_sec),
            ("CAMPAIGN_TILL_RATE_BURST", &mut s.till_rate_burst),
        ] {
            if let Some(v) = std::env::var(k).ok().filter(|v| !v.is_empty()) {
                *field = v
                    .trim()
                    .parse()
                    .map_err(|e: std::num::ParseIntError| SettingsError::Env(k, e.to_string()))?;
            }
        }
        Ok(s)
    }

    /// Writes these settings as `settings`' `[coupon]` section (for a
    /// process assembled in code, such as the tests).
    pub fn write_into(&self, settings: &mut Settings) {
        let mut table = toml::Table::new();
        for (k, v) in [
            ("till_failure_limit", self.till_failure_limit),
            ("till_failure_window_secs", self.till_failure_window_secs),
            ("till_rate_per_sec", self.till_rate_per_sec),
            ("till_rate_burst", self.till_rate_burst),
        ] {
            table.insert(k.to_owned(), toml::Value::Integer(i64::from(v)));
        }
        settings.sections.insert(SECTION.to_owned(), table);
    }
}

/// The section as `print-config` shows it.
pub const EXAMPLE: &str = r#"[coupon]                                      # the coupon service (the till)
till_failure_limit = 20                       # failed coupon lookups per till ...
till_failure_window_secs = 600                # ... within this window; 0 = off
till_rate_per_sec = 50                        # coupon calls per second per till; 0 = no limit
till_rate_burst = 100
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn from(text: &str) -> Result<CouponSettings, SettingsError> {
        let settings =
            Settings::from_toml(text).map_err(|e| SettingsError::Section("x", e.to_string()))?;
        CouponSettings::from_settings(&settings)
    }

    #[test]
    fn the_example_is_the_defaults_and_a_section_overrides_them() {
        assert_eq!(from(EXAMPLE).ok(), Some(CouponSettings::default()));
        assert_eq!(from("").ok(), Some(CouponSettings::default()));
        let s = from("[coupon]\ntill_rate_per_sec = 7\n").ok();
        assert_eq!(
            s.map(|s| (s.till_rate_per_sec, s.till_rate_burst)),
            Some((7, 100))
        );
    }

    #[test]
    fn the_old_top_level_keys_still_count_and_unknown_ones_are_refused() {
        let s = from("listen = \"127.0.0.1:1\"\ntill_failure_limit = 3\n").ok();
        assert_eq!(s.map(|s| s.till_failure_limit), Some(3));
        assert!(matches!(
            from("[coupon]\ntill_rate = 7\n"),
            Err(SettingsError::Section(SECTION, _))
        ));
        assert!(Settings::from_toml("no_such_key = 1\n").is_err());
    }

    #[test]
    fn written_settings_read_back() {
        let mut settings = Settings::default();
        let s = CouponSettings {
            till_failure_limit: 0,
            till_rate_per_sec: 0,
            ..CouponSettings::default()
        };
        s.write_into(&mut settings);
        assert_eq!(CouponSettings::from_settings(&settings).ok(), Some(s));
    }
}
