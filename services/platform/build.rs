// `sqlx::migrate!` embeds the migration files when this crate compiles;
// without this, a migration added to the directory would not be embedded
// until something else made cargo rebuild the crate (sqlx's documented
// remedy).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
