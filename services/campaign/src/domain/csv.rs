//! CSV for spreadsheets a merchant's staff open (the statistics, the
//! shipping list): RFC 4180 quoting, a UTF-8 byte order mark so Excel
//! reads Chinese text as UTF-8, cells that a spreadsheet would run as a
//! formula defused, and the masks that hide a winner's personal data from
//! an auditor. Written by hand: a field is a dozen lines, and the `csv`
//! crate neither defuses formulas nor masks.

/// The UTF-8 byte order mark that starts a file Excel must read as UTF-8.
pub const BOM: &str = "\u{feff}";

/// A CSV field, quoted when it holds a comma, quote or line break; a
/// leading `= + - @`, tab or carriage return is prefixed with `'` so
/// spreadsheets show it instead of running it (OWASP's CSV injection
/// advice).
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One CSV line (with its line break) of these fields.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = fields
        .iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    out
}

/// A name with all but its first character hidden: `张三丰` -> `张**`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count().max(1);
            format!("{first}{}", "*".repeat(rest))
        }
    }
}

/// A phone number with its middle hidden: `13812345678` -> `138****5678`;
/// one too short to keep anything is all stars.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// An address cut to its first six characters (the province and city, in
/// a Chinese address): `浙江省杭州市西湖区文三路1号` -> `浙江省杭州市***`.
pub fn mask_address(address: &str) -> String {
    let kept: String = address.chars().take(6).collect();
    if kept.chars().count() < address.chars().count() {
        format!("{kept}***")
    } else {
        "***".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_quote_and_defuse() {
        assert_eq!(field("poster"), "poster");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        for bad in ["=cmd()", "+1", "-1+1", "@SUM(A1)", "\tx"] {
            assert!(field(bad).starts_with('\''), "{bad}");
        }
        assert_eq!(field("=1,2"), "\"'=1,2\"");
        assert_eq!(field("杭州,西湖"), "\"杭州,西湖\"");
        assert_eq!(line(&["a", "b,c"]), "a,\"b,c\"\r\n");
    }

    #[test]
    fn masks_keep_only_what_an_auditor_may_see() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李"), "李*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+86 138 1234 5678"), "+86****5678");
        assert_eq!(mask_phone("12345"), "****");
        assert_eq!(
            mask_address("浙江省杭州市西湖区文三路1号"),
            "浙江省杭州市***"
        );
        assert_eq!(mask_address("杭州"), "***");
        for secret in ["13812345678", "浙江省杭州市西湖区文三路1号", "张三丰"] {
            for masked in [mask_name(secret), mask_phone(secret), mask_address(secret)] {
                assert_ne!(masked, secret);
            }
        }
    }
}
