// Migrations and templates are embedded at compile time (refinery and
// include_str!); rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
}
