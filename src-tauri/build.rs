//! Tauri's build step: reads tauri.conf.json, capabilities/ and the icons, and
//! embeds them. The UI must be built first (`npm --prefix ui run build`), because
//! the app embeds `ui/dist`.

fn main() {
    // Read at run time, not baked in with `env!`: clones that share one
    // target directory (CI's cache) share this script's binary too, and a
    // baked-in path points into whichever clone compiled it first.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dist = std::path::Path::new(&manifest).join("../ui/dist/index.html");
    println!("cargo:rerun-if-changed=../ui/dist");
    if !dist.exists() {
        println!(
            "cargo::error=ui/dist is missing: run `npm --prefix ui ci && npm --prefix ui run build` first"
        );
        return;
    }
    tauri_build::build()
}
