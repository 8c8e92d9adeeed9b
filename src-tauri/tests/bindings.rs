//! The UI's TypeScript bindings (`ui/src/bindings/`) are generated from the
//! Rust types; this regenerates them and fails when the committed ones differ.
//! `PARLEY_UPDATE_BINDINGS=1 cargo test -p parley-desktop --test bindings`
//! rewrites them.

// A test: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, fs, path::Path};

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn committed_bindings_match_the_rust_types() {
    let fresh = tempfile::tempdir().unwrap();
    parley_desktop::bindings::export(fresh.path()).unwrap();
    let generated = read_dir(fresh.path());
    assert!(generated.contains_key("ClientEvent.ts"));
    assert!(generated.contains_key("commands.ts"));
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
    if std::env::var("PARLEY_UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
        let _ = fs::remove_dir_all(&committed_dir);
        fs::create_dir_all(&committed_dir).unwrap();
        for (name, text) in &generated {
            fs::write(committed_dir.join(name), text).unwrap();
        }
        return;
    }
    let committed = read_dir(&committed_dir);
    let stale: Vec<&String> = generated
        .iter()
        .filter(|(name, text)| committed.get(*name) != Some(*text))
        .map(|(name, _)| name)
        .chain(committed.keys().filter(|n| !generated.contains_key(*n)))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is out of date ({stale:?}); run \
         `PARLEY_UPDATE_BINDINGS=1 cargo test -p parley-desktop --test bindings`"
    );
}
