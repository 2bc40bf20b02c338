//! The webhook signature snippets in docs/events.md work: merchants copy
//! them into their receivers, so a snippet that rejects a good signature
//! (or accepts a bad one) breaks every receiver built from it.
//!
//! Each snippet (the fenced block after `<!-- snippet: verify-python -->`
//! and after `<!-- snippet: verify-node -->`) is run with `python3` and
//! `node` against headers made by the engine's own signer
//! (`campaign::domain::webhook::signature`): a good header verifies; a
//! changed body, another secret or a stale timestamp do not; a rotation
//! header (two `v1` values) verifies. A missing interpreter fails the test:
//! it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use campaign::domain::webhook::{new_secret, signature};

const DOCS_SECRET: &str = "whsec_docs_example_secret_000";
const T: i64 = 1_700_000_000;

fn docs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The code of the fenced block right after `<!-- snippet: NAME -->`.
fn snippet(doc: &str, name: &str) -> String {
    let marker = format!("<!-- snippet: {name} -->");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/events.md has no {marker}"));
    let rest = doc[at + marker.len()..].trim_start();
    assert!(
        rest.starts_with("```"),
        "{marker} must be followed by a fenced block"
    );
    let code = &rest[rest.find('\n').expect("the opening fence's line") + 1..];
    let end = code.find("\n```").expect("the closing fence");
    code[..end].to_owned()
}

/// A snippet with a main around it, run by an interpreter.
struct Driver {
    program: &'static str,
    file: PathBuf,
}

impl Driver {
    fn new(program: &'static str, file_name: &str, source: String) -> Self {
        match Command::new(program).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "`{program} --version` failed ({}): docs/events.md's snippets are tested with {program}; install it",
                o.status
            ),
            Err(e) => panic!(
                "cannot run `{program}` ({e}): docs/events.md's snippets are tested with {program}; install it and put it on PATH"
            ),
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "campaign-webhook-docs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join(file_name);
        std::fs::write(&file, source).expect("the driver program written");
        Self { program, file }
    }

    /// `ok` or `bad`: the snippet's verdict on `header` over `body`.
    fn verdict(&self, secret: &str, header: &str, body: &[u8], now: i64) -> String {
        let out = Command::new(self.program)
            .arg(&self.file)
            .arg(secret)
            .arg(header)
            .arg(hex::encode(body))
            .arg(now.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{}` ({e})", self.program));
        assert!(
            out.status.success(),
            "{} {} failed: {}",
            self.program,
            self.file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn check(d: &Driver) {
    let body = r#"{"data":{"prize":{"how_to_claim":"积分将由商家计入您的会员账户","kind":"POINTS"}},"id":"0193a2b4-1c5e-7a00-9b1c-2d3e4f5a6b7c","type":"draw.won.v1"}"#.as_bytes();
    let made = new_secret(&[7u8; 32]);
    let p = d.program;
    for secret in [DOCS_SECRET, made.as_str()] {
        let header = signature(secret, T, body);
        let good = d.verdict(secret, &header, body, T + 10);
        assert_eq!(good, "ok", "{p}: a good signature, {header}");
        let late = d.verdict(secret, &header, body, T + 300);
        assert_eq!(late, "ok", "{p}: 300 s old is still in time");
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        let tampered = d.verdict(secret, &header, &changed, T + 10);
        assert_eq!(tampered, "bad", "{p}: one byte of the body changed");
        let other = format!("{secret}x");
        let wrong_key = d.verdict(&other, &header, body, T + 10);
        assert_eq!(wrong_key, "bad", "{p}: another secret");
        let stale = d.verdict(secret, &header, body, T + 301);
        assert_eq!(stale, "bad", "{p}: 301 s old");
        let ahead = d.verdict(secret, &header, body, T - 301);
        assert_eq!(ahead, "bad", "{p}: 301 s ahead");
        let v1 = header.split_once(",v1=").expect("a v1 value").1;
        let rotation = format!("t={T},v1={},v1={v1}", "0".repeat(64));
        let rotated = d.verdict(secret, &rotation, body, T + 10);
        assert_eq!(rotated, "ok", "{p}: the second of two v1 values matches");
        let no_t = d.verdict(secret, &format!("v1={v1}"), body, T);
        assert_eq!(no_t, "bad", "{p}: a header without t");
    }
}

#[test]
fn the_python_snippet_verifies_the_engines_signatures() {
    let code = snippet(&docs(), "verify-python");
    let main = "\n\nimport sys\nprint(\"ok\" if verify(sys.argv[1], sys.argv[2], \
                bytes.fromhex(sys.argv[3]), int(sys.argv[4])) else \"bad\")\n";
    check(&Driver::new("python3", "verify_driver.py", code + main));
}

#[test]
fn the_node_snippet_verifies_the_engines_signatures() {
    let code = snippet(&docs(), "verify-node");
    let main = "\n\nconst [secret, header, hex, now] = process.argv.slice(2);\n\
                console.log(verify(secret, header, Buffer.from(hex, \"hex\"), Number(now)) ? \"ok\" : \"bad\");\n";
    check(&Driver::new("node", "verify_driver.js", code + main));
}

#[test]
fn the_documented_test_vector_is_the_engines_signature() {
    let header = signature(DOCS_SECRET, T, b"{}");
    assert!(
        docs().contains(&header),
        "docs/events.md's test vector must read {header}"
    );
}
