//! A database URL fit for logs and errors: its credentials replaced.

/// Query parameters of a database URL whose values are credentials (the
/// forms sqlx's PostgreSQL options accept).
const SECRET_PARAMS: [&str; 2] = ["password", "sslpassword"];

/// The database URL without its credentials: the password of the
/// user-info (`user:***@`) and the values of `password=` and
/// `sslpassword=` query parameters (`***`).
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &base[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_form_of_a_database_url_is_redacted() {
        for (url, shown) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://u@h/db?password=pw&sslmode=require",
                "postgres://u@h/db?password=***&sslmode=require",
            ),
            (
                "postgres://h/db?user=u&PASSWORD=pw",
                "postgres://h/db?user=u&PASSWORD=***",
            ),
            (
                "postgresql://u:a%40b@h:5432/db?sslpassword=pw&sslkey=/k.pem",
                "postgresql://u:***@h:5432/db?sslpassword=***&sslkey=/k.pem",
            ),
            ("sqlite:x.db?mode=rwc", "sqlite:x.db?mode=rwc"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            for secret in ["pw", "a%40b"] {
                assert!(!redact_url(url).contains(&format!("={secret}")), "{url}");
            }
        }
    }
}
