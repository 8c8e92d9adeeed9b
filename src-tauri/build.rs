//! Tauri's build step: reads tauri.conf.json, capabilities/ and the icons, and
//! embeds them. The UI must be built first (`npm --prefix ui run build`), because
//! the app embeds `ui/dist`.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist/index.html");
    println!("cargo:rerun-if-changed=../ui/dist");
    if !dist.exists() {
        println!(
            "cargo::error=ui/dist is missing: run `npm --prefix ui ci && npm --prefix ui run build` first"
        );
        return;
    }
    tauri_build::build()
}
