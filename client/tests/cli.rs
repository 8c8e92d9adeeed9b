//! The `parley` binary end to end against a real in-process server: sign-in
//! (prompted and `--code`), profiles, contacts by QR image, messages with
//! replies, reactions, attachments and read receipts, search, `listen`, device
//! linking both ways, revocation, and the error paths and exit codes.
//!
//! Sessions live in each profile's 0600 `session` file (`PARLEY_KEYRING=off`):
//! this machine has no OS keyring.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Poll loops on plain test threads (no tokio runtime here) pause between tries.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::{json, Value};
use std::{path::Path, time::Duration};

/// Ana (signed in through the stdin prompt, with an avatar) and Ben (signed in
/// with `--code`), connected by Ben scanning Ana's contact QR image.
struct Pair {
    ts: TestServer,
    tmp: tempfile::TempDir,
    ana: Parley,
    ben: Parley,
    ana_id: String,
    ben_id: String,
}

/// The bodies of `parley history CONTACT`, oldest first.
fn bodies(who: &Parley, contact: &str) -> Vec<String> {
    let h = who.json(&["history", contact]);
    h.as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

fn pair() -> Pair {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = Parley::new(&ts, tmp.path().join("ana"));
    let ben = Parley::new(&ts, tmp.path().join("ben"));

    // Ana: no --code, so the CLI asks the server for one and reads it from stdin.
    let seen = ts.code_count(ANA);
    let mut login = ana.spawn(&["login", ANA]);
    let code = ts.wait_code(ANA, seen);
    login.write_stdin(&format!("{code}\n"));
    let status = login.wait(WAIT);
    let out = login.next_line(Duration::from_secs(5)).unwrap_or_default();
    assert!(status.success(), "login failed: {}", login.stderr());
    assert!(out.starts_with("signed in as"), "{out}");
    assert!(out.contains("new account"), "{out}");
    let err = login.stderr();
    assert!(
        err.contains("A sign-in code was sent to ana@example.org"),
        "{err}"
    );
    assert!(err.contains("no OS keyring available"), "{err}");

    // Ben: with --code.
    let b = ben.login_with_code(&ts, BEN);
    assert_eq!(b["new_user"], true);

    let avatar = tmp.path().join("ana.png");
    write_png(&avatar);
    let me = ana.json(&[
        "profile",
        "set",
        "--name",
        "Ana",
        "--username",
        "ana",
        "--avatar",
        avatar.to_str().unwrap(),
    ]);
    assert_eq!(me["display_name"], "Ana");
    assert_eq!(me["username"], "ana");
    assert!(me["avatar_url"].is_string(), "{me}");
    let out = ben.ok(&["profile", "set", "--name", "Ben", "--username", "ben"]);
    assert_eq!(out.trim(), "profile updated: Ben @ben");

    // Ana shows her code as a PNG; Ben scans the image.
    let qr = tmp.path().join("ana-qr.png");
    let out = ana.ok(&["qr", "contact", "--png", qr.to_str().unwrap()]);
    assert!(out.contains("parley://contact?"), "{out}");
    let req = ben.json(&["qr", "scan", qr.to_str().unwrap()]);
    assert_eq!(req["to"]["display_name"], "Ana", "{req}");
    assert_eq!(req["status"], "pending");

    let incoming = ana.json(&["requests"]);
    let list = incoming.as_array().unwrap();
    assert_eq!(list.len(), 1, "{incoming}");
    assert_eq!(list[0]["from"]["display_name"], "Ben");
    assert_eq!(list[0]["id"], req["id"]);
    let human = ana.ok(&["requests"]);
    assert!(
        human.contains(req["id"].as_str().unwrap()) && human.contains("from  Ben"),
        "{human}"
    );
    let outgoing = ben.json(&["requests", "--outgoing"]);
    assert_eq!(outgoing[0]["id"], req["id"], "{outgoing}");

    let out = ana.ok(&["accept", req["id"].as_str().unwrap()]);
    assert_eq!(out.trim(), "connected with Ben");
    assert_eq!(ana.json(&["requests"]), Value::Array(vec![]));

    let ana_id = me["id"].as_str().unwrap().to_owned();
    let ben_id = b["user"]["id"].as_str().unwrap().to_owned();
    Pair {
        ts,
        tmp,
        ana,
        ben,
        ana_id,
        ben_id,
    }
}

#[test]
fn two_users_sign_in_set_profiles_and_connect_by_scanning_a_qr_image() {
    let p = pair();
    let a = p.ana.json(&["contacts"]);
    assert_eq!(a.as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a[0]["user"]["id"], p.ben_id.as_str());
    assert_eq!(a[0]["user"]["username"], "ben");
    let b = p.ben.json(&["contacts"]);
    assert_eq!(b.as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b[0]["user"]["id"], p.ana_id.as_str());
    assert_eq!(b[0]["user"]["display_name"], "Ana");
    assert!(b[0]["user"]["avatar_url"].is_string(), "{b}");
    let human = p.ben.ok(&["contacts"]);
    assert!(
        human.contains(&format!("{}  Ana @ana", p.ana_id)),
        "{human}"
    );

    let who = p.ana.json(&["whoami"]);
    assert_eq!(who["user"]["id"], p.ana_id.as_str());
    assert_eq!(who["server"], p.ts.base.as_str());
    let human = p.ana.ok(&["whoami"]);
    assert!(
        human.starts_with("Ana (ana@example.org) @ana on http://127.0.0.1:"),
        "{human}"
    );

    // The code was single-use: scanning it again from a third account fails.
    let carl = Parley::new(&p.ts, p.tmp.path().join("carl"));
    carl.login_with_code(&p.ts, "carl@example.org");
    let qr = p.tmp.path().join("ana-qr.png");
    let run = carl.fails(&["qr", "scan", qr.to_str().unwrap()], 1);
    assert!(run.stderr.contains("code_not_found"), "{run:?}");

    // Removing a contact removes it on both sides.
    assert_eq!(p.ana.ok(&["remove", "@ben"]).trim(), "removed Ben");
    assert!(p.ana.ok(&["contacts"]).starts_with("no contacts yet"));
    assert_eq!(p.ben.json(&["contacts"]), Value::Array(vec![]));
    let run = p.ben.fails(&["send", "ana", "still there?"], 1);
    assert!(run.stderr.contains("no contact \"ana\""), "{run:?}");
}

#[test]
fn messages_replies_reactions_attachments_read_receipts_and_search() {
    let p = pair();
    // Reading a chat never written in opens none (Ben would see an empty
    // one appear in his list).
    assert_eq!(p.ana.ok(&["history", "ben"]).trim(), "(no messages)");
    assert_eq!(p.ana.json(&["history", "ben"]), json!([]));
    assert_eq!(p.ben.json(&["chats"]), json!([]));
    let m1 = p.ana.json(&["send", "ben", "hello ben, first words"]);
    assert_eq!(m1["state"], "sent", "{m1}");
    assert_eq!(m1["seq"], 1);
    assert_eq!(m1["sender_id"], p.ana_id.as_str());
    let id1 = m1["id"].as_str().unwrap().to_owned();

    let m2 = p.ben.json(&["send", "@ana", "hi ana", "--reply-to", &id1]);
    assert_eq!(m2["reply_to"], id1.as_str(), "{m2}");
    assert_eq!(m2["seq"], 2);
    let id2 = m2["id"].as_str().unwrap().to_owned();

    let out = p.ben.ok(&["react", &id1, "👍"]);
    assert_eq!(out.trim(), "reacted");

    let file = p.tmp.path().join("notes.txt");
    std::fs::write(&file, b"twelve bytes").unwrap();
    let out = p.ana.ok(&[
        "send",
        "Ben",
        "here is a file",
        "--attach",
        file.to_str().unwrap(),
    ]);
    assert!(out.starts_with("sent #3 to Ben ("), "{out}");

    let h = p.ana.json(&["history", "ben"]);
    let list = h.as_array().unwrap();
    let bodies: Vec<&str> = list.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        ["hello ben, first words", "hi ana", "here is a file"],
        "{h}"
    );
    let seqs: Vec<u64> = list.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(list[0]["reactions"]["👍"], serde_json::json!([p.ben_id]));
    assert_eq!(list[1]["reply_to"], id1.as_str());
    let att = &list[2]["attachments"][0];
    assert_eq!(att["name"], "notes.txt", "{h}");
    assert_eq!(att["size"], 12);
    assert_eq!(att["mime"], "text/plain");
    for m in [&list[0], &list[2]] {
        assert_ne!(m["status"], "read", "nothing read yet: {m}");
    }

    // Ben's history says where what he has not read starts.
    let unread = p.ben.json(&["chats"])[0]["unread_count"].as_u64().unwrap();
    assert!(unread > 0);
    let human = p.ben.ok(&["history", "ana"]);
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines[0], format!("── {unread} unread ──"), "{human}");
    assert!(lines[1].contains("hello ben, first words"), "{human}");

    // Ben reads; Ana's messages become "read" in Ana's history.
    let out = p.ben.ok(&["read", "ana"]);
    assert_eq!(out.trim(), "read up to #3");
    let h = p.ana.json(&["history", "ben"]);
    for m in [&h[0], &h[2]] {
        assert_eq!(m["status"], "read", "{m}");
        assert_eq!(m["state"], "read", "{m}");
    }
    let chats = p.ben.json(&["chats"]);
    assert_eq!(chats[0]["unread_count"], 0, "{chats}");

    assert!(
        !p.ben.ok(&["history", "ana"]).contains("unread"),
        "all read"
    );
    let human = p.ana.ok(&["history", "ben"]);
    // Ana has not read Ben's reply: the line before it says so.
    let lines: Vec<&str> = human.lines().filter(|l| *l != "── 1 unread ──").collect();
    assert_eq!(human.lines().nth(1), Some("── 1 unread ──"), "{human}");
    assert_eq!(lines.len(), 3, "{human}");
    assert!(lines[0].contains("me: hello ben, first words"), "{human}");
    assert!(lines[0].contains(" 👍1"), "{human}");
    assert!(lines[0].contains("✓✓ read"), "{human}");
    assert!(lines[1].contains("Ben ↪#1: hi ana"), "{human}");
    assert!(lines[1].ends_with(&format!("({id2})")), "{human}");
    assert!(lines[2].contains("notes.txt 12B]"), "{human}");

    // Ben saves the file: not fetched on his side yet, `save` brings in his
    // chats' recent history to find it.
    let id3 = list[2]["id"].as_str().unwrap().to_owned();
    let dl = p.tmp.path().join("dl");
    let out = p.ben.ok(&["save", &id3, "--dir", dl.to_str().unwrap()]);
    let first = dl.join("notes.txt");
    assert_eq!(
        out.trim(),
        format!("saved notes.txt (12 B) to {}", first.display())
    );
    assert_eq!(std::fs::read(&first).unwrap(), b"twelve bytes");
    let again = p.ben.json(&["save", &id3, "--dir", dl.to_str().unwrap()]);
    assert_eq!(again[0]["path"], dl.join("notes (1).txt").to_str().unwrap());
    assert_eq!(again[0]["attachment"]["name"], "notes.txt");
    let out_file = p.tmp.path().join("copy.txt");
    p.ben
        .ok(&["save", &id3, "--out", out_file.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out_file).unwrap(), b"twelve bytes");
    let run = p.ben.fails(&["save", &id1], 1);
    assert!(run.stderr.contains("has no attachments"), "{run:?}");
    let run = p.ben.fails(&["save", "no-such-message"], 1);
    assert!(
        run.stderr.contains("not among the recent messages"),
        "{run:?}"
    );
    let run = p.ben.fails(&["save", &id3, "--dir", "a", "--out", "b"], 2);
    assert!(run.stderr.contains("cannot be used with"), "{run:?}");

    let found = p.ben.json(&["search", "first"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], id1.as_str());
    let human = p.ana.ok(&["search", "first"]);
    assert!(
        human.contains(&id1) && human.contains("hello ben"),
        "{human}"
    );
    // Which chat, and who wrote it.
    assert!(human.contains("[Ben] me: "), "{human}");
    // Only in one chat.
    let within = p.ana.json(&["search", "first", "--in", "ben"]);
    assert_eq!(within.as_array().unwrap().len(), 1, "{within}");
    let err = p
        .ana
        .fails(&["search", "first", "--in", "nobody"], 1)
        .stderr;
    assert!(err.contains("no contact or chat"), "{err}");
    assert_eq!(p.ana.ok(&["search", "zebra"]).trim(), "nothing found");

    // Sending to someone who is not a contact is refused.
    let run = p.ana.fails(&["send", "carl", "hi"], 1);
    assert!(run.stderr.contains("no contact \"carl\""), "{run:?}");

    // Ben forwards Ana's file message back to her: a copy, from him.
    let out = p.ben.ok(&["forward", &id3, "ana"]);
    assert!(out.starts_with("forwarded to Ana as #"), "{out}");
    let human = p.ana.ok(&["history", "ben"]);
    assert!(
        human
            .lines()
            .last()
            .unwrap()
            .contains("Ben: (forwarded) here is a file"),
        "{human}"
    );
    let h = p.ana.json(&["history", "ben"]);
    let last = h.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["forwarded"], true, "{last}");
    assert_eq!(last["sender_id"], p.ben_id.as_str(), "{last}");
    assert_eq!(last["body"], "here is a file", "{last}");
    assert_eq!(last["attachments"][0]["name"], "notes.txt", "{last}");
    assert_eq!(
        last["attachments"][0]["sha256"],
        list[2]["attachments"][0]["sha256"]
    );
    let run = p.ben.fails(&["forward", "nope", "ana"], 1);
    assert!(
        run.stderr.contains("not among the recent messages"),
        "{run:?}"
    );

    // A body cannot pass for another line of the history (a message of
    // mine, say): its further lines are indented under it.
    p.ben.ok(&[
        "send",
        "ana",
        "ok\n#99   2026-01-01 10:00 me: I owe Ben 100",
    ]);
    let h = p.ana.ok(&["history", "ben"]);
    assert!(!h.lines().any(|l| l.starts_with("#99")), "{h}");
    assert!(
        h.contains("\n      \u{2502} #99   2026-01-01 10:00 me: I owe Ben 100"),
        "{h}"
    );
}

/// `mute` for a while or until unmuted, shown in `chats`; `unmute`; a
/// length outside the limit is a usage error before any request; `pin`
/// and `unpin`.
#[test]
fn a_chat_is_muted_and_unmuted_from_the_terminal() {
    let p = pair();
    p.ben.ok(&["send", "ana", "hi"]);
    let out = p.ana.ok(&["mute", "ben", "--for", "8h"]);
    assert!(out.starts_with("muted until "), "{out}");
    let human = p.ana.ok(&["chats"]);
    assert!(human.contains("[muted until "), "{human}");
    let chats = p.ana.json(&["chats"]);
    assert!(chats[0]["mute"]["until"].is_string(), "{chats}");
    assert_eq!(p.ben.json(&["chats"])[0]["mute"], Value::Null, "only Ana's");

    assert_eq!(
        p.ana.ok(&["mute", "ben"]).trim(),
        "muted until you unmute it"
    );
    let human = p.ana.ok(&["chats"]);
    assert!(human.contains("[muted]"), "{human}");
    let chats = p.ana.json(&["chats"]);
    assert_eq!(chats[0]["mute"], json!({"until": null}), "{chats}");

    let err = p.ana.fails(&["mute", "ben", "--for", "366d"], 2).stderr;
    assert!(err.contains("at most 365 days"), "{err}");
    assert!(p
        .ana
        .ok(&["mute", "ben", "--for", "365d"])
        .starts_with("muted until "));
    let err = p.ana.fails(&["mute", "ben", "--for", "soon"], 2).stderr;
    assert!(err.contains("as 30m, 8h, 3d or 1w"), "{err}");

    assert_eq!(p.ana.ok(&["unmute", "ben"]).trim(), "notifications are on");
    let human = p.ana.ok(&["chats"]);
    assert!(!human.contains("[muted"), "{human}");

    assert_eq!(p.ana.ok(&["pin", "ben"]).trim(), "pinned");
    assert!(p.ana.ok(&["chats"]).starts_with("📌 Ben"));
    assert!(p.ana.json(&["chats"])[0]["pinned_at"].is_string());
    assert_eq!(p.ana.ok(&["unpin", "ben"]).trim(), "unpinned");
    assert!(p.ana.ok(&["chats"]).starts_with("Ben"));
}

/// `clear` asks first (no answer: nothing cleared), then empties Ana's
/// history of the chat, and only hers; later messages show as usual.
#[test]
fn a_chat_is_cleared_from_the_terminal_for_me_only() {
    let p = pair();
    p.ben.ok(&["send", "ana", "first"]);
    p.ben.ok(&["send", "ana", "second"]);
    let run = p.ana.run_with_input(&["clear", "ben"], "\n");
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("Clear your messages with Ben"),
        "{run:?}"
    );
    assert!(run.stderr.contains("not cleared"), "{run:?}");
    assert_eq!(p.ana.json(&["history", "ben"]).as_array().unwrap().len(), 2);

    let run = p.ana.run_with_input(&["clear", "ben"], "y\n");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "cleared");
    assert_eq!(p.ana.json(&["history", "ben"]), json!([]));
    let chats = p.ana.json(&["chats"]);
    assert_eq!(chats[0]["last_message"], Value::Null, "{chats}");
    assert_eq!(chats[0]["unread_count"], 0, "{chats}");
    assert_eq!(p.ben.json(&["history", "ana"]).as_array().unwrap().len(), 2);

    p.ben.ok(&["send", "ana", "third"]);
    assert_eq!(bodies(&p.ana, "ben"), ["third"]);
    let out = p.ana.json(&["clear", "ben", "--yes"]);
    assert!(out["cleared_up_to_seq"].as_u64().unwrap() >= 3, "{out}");
    assert_eq!(p.ana.json(&["history", "ben"]), json!([]));
}

/// A contact code typed by hand (or a pasted link) works like a scanned one;
/// a missing attachment is named; the history of someone removed stays
/// readable by name.
#[test]
fn typed_codes_missing_files_and_ex_contacts_chats() {
    let p = pair();
    let carol = Parley::new(&p.ts, p.tmp.path().join("carol"));
    carol.login_with_code(&p.ts, "carol@example.org");
    carol.ok(&["profile", "set", "--name", "Carol"]);
    let code = p.ana.json(&["qr", "contact"]);
    let short = code["short_code"].as_str().unwrap();
    let out = carol.ok(&["qr", "scan", short]);
    assert!(out.contains("connection request sent to Ana"), "{out}");
    for not_there in ["nothing.png", "screenshot"] {
        let err = carol.fails(&["qr", "scan", not_there], 1).stderr;
        assert!(
            err.contains("no such image file, and not a parley:// link or a contact code"),
            "{err}"
        );
    }
    let err = carol
        .fails(&["qr", "scan", "parley://contact?code=x"], 1)
        .stderr;
    assert!(err.contains("parley://contact?code=x: "), "{err}");

    let err = p
        .ana
        .fails(&["send", "ben", "x", "--attach", "nothere.pdf"], 1)
        .stderr;
    assert!(err.contains("nothere.pdf: "), "{err}");

    p.ben.ok(&["send", "ana", "before you go"]);
    p.ana.ok(&["remove", "ben"]);
    let h = p.ana.json(&["history", "ben"]);
    assert_eq!(h[0]["body"], "before you go", "{h}");
    let err = p.ana.fails(&["history", "nobody"], 1).stderr;
    assert!(err.contains("no contact or chat \"nobody\""), "{err}");

    // Nothing to do is a usage error (exit 2), like any other.
    p.ana.fails(&["profile", "set"], 2);
    p.ana.fails(&["qr", "scan"], 2);
    // A cleared chat's history says so (Ben's: no longer a contact); clearing
    // again keeps the mark.
    let first = p.ana.json(&["clear", "ben", "--yes"]);
    assert!(first["cleared_up_to_seq"].as_u64().unwrap() > 0, "{first}");
    let again = p.ana.json(&["clear", "ben", "--yes"]);
    assert_eq!(first["cleared_up_to_seq"], again["cleared_up_to_seq"]);
    assert_eq!(p.ana.ok(&["history", "ben"]).trim(), "(no messages)");

    // Revoking this very device asks first.
    let me = p.ana.json(&["whoami"]);
    let own = me["device_id"].as_str().unwrap();
    let run = p.ana.run_with_input(&["devices", "revoke", own], "\n");
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("This is the device you are using"),
        "{run:?}"
    );
    assert_eq!(p.ana.json(&["whoami"])["device_id"], own, "still signed in");
    // With --yes it goes, and nothing of the session stays here.
    let out = p
        .ana
        .ok(&["devices", "revoke", &format!(" {own} "), "--yes"]);
    assert_eq!(out.trim(), "this device is signed out");
    assert!(!p.ana.profile.join("session").exists());
    assert!(!p.ana.profile.join("cache.db").exists());
}

/// The server fails on a message (a 500; here a trigger refuses its body):
/// `send` says it stays queued and why (exit 75, `queued` with --json), and
/// it goes out, in order, once the server takes it.
#[test]
fn a_message_the_server_fails_on_stays_queued_and_says_why() {
    let p = pair();
    let db = || p.ts.db_mut();
    db().execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison pill' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    )
    .unwrap();
    let run = p.ana.run(&["--json", "send", "ben", "poison pill"]);
    assert_eq!(run.code(), Some(75), "{run:?}");
    let said: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(said["queued"], true, "{said}");
    assert!(
        said["reason"].as_str().unwrap().contains("internal"),
        "{said}"
    );
    let run = p.ana.run(&["send", "ben", "behind it"]);
    assert_eq!(run.code(), Some(75), "{run:?}");
    assert!(run.stderr.contains("stays queued"), "{run:?}");
    db().execute_batch("DROP TRIGGER poison").unwrap();
    p.ana.ok(&["send", "ben", "after"]);
    assert_eq!(bodies(&p.ben, "ana"), ["poison pill", "behind it", "after"]);
}

/// With the server down, `send` queues the message (and says so), `history`
/// shows it pending from the cache; once the server is back the next send
/// delivers both, in order.
#[test]
fn a_message_sent_while_the_server_is_down_waits_in_the_queue() {
    let mut p = pair();
    p.ana.ok(&["send", "ben", "before"]);
    p.ts.stop();
    // Exit 75: queued, not to be sent again (with --json, stdout says so).
    let run = p.ana.run(&["send", "ben", "while it was down"]);
    assert_eq!(run.code(), Some(75), "{run:?}");
    assert!(run.stderr.contains("stays queued"), "{run:?}");
    let run = p.ana.run(&["--json", "send", "ben", "also while down"]);
    assert_eq!(run.code(), Some(75), "{run:?}");
    let said: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(said["queued"], true, "{said}");
    assert!(said["client_id"].as_str().is_some_and(|c| !c.is_empty()));
    // Signing out would delete them: asked first, refused without a yes.
    let run = p.ana.fails(&["logout"], 1);
    assert!(
        run.stderr.contains("2 messages never reached the server"),
        "{run:?}"
    );
    assert!(run.stderr.contains("not signed out"), "{run:?}");
    // So would revoking this very device.
    let info: Value =
        serde_json::from_slice(&std::fs::read(p.ana.profile.join("profile.json")).unwrap())
            .unwrap();
    let run = p.ana.fails(
        &["devices", "revoke", info["device_id"].as_str().unwrap()],
        1,
    );
    assert!(
        run.stderr.contains("2 messages never reached the server")
            && run
                .stderr
                .contains("`parley devices revoke --yes` signs out anyway"),
        "{run:?}"
    );
    let offline = p.ana.ok(&["history", "ben"]);
    let last: Vec<&str> = offline.lines().rev().take(2).collect();
    assert!(
        last[1].contains("while it was down (pending)")
            && last[0].contains("also while down (pending)"),
        "{offline}"
    );
    p.ts.start_again();
    p.ana.ok(&["send", "ben", "after"]);
    assert_eq!(
        bodies(&p.ben, "ana"),
        ["before", "while it was down", "also while down", "after"]
    );
    // Nothing unsent now: no question.
    p.ana.ok(&["logout"]);
}

/// `delete-account` sends a code and asks for it (nothing typed: the
/// account stays); with the code the account is gone: the profile is
/// signed out, Ben no longer has Ana as a contact but keeps their chat,
/// and the address signs up afresh.
#[test]
fn an_account_is_deleted_from_the_terminal() {
    let p = pair();
    p.ana.ok(&["send", "ben", "bye for now"]);
    let seen = p.ts.code_count(ANA);
    let run = p.ana.run_with_input(&["delete-account"], "\n");
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr.contains("deletes your account for good"),
        "{run:?}"
    );
    assert!(run.stderr.contains("not deleted"), "{run:?}");
    assert_eq!(p.ana.json(&["whoami"])["user"]["identifier"], ANA);

    let seen_before = p.ts.code_count(ANA);
    assert!(seen_before > seen, "a code was sent");
    let out = p.ana.json(&["delete-account", "--send-code"]);
    assert_eq!(out["sent_to"], ANA, "{out}");
    let code = p.ts.wait_code(ANA, seen_before);
    let err = p
        .ana
        .fails(&["delete-account", "--code", "000000x"], 1)
        .stderr;
    assert!(err.contains("6 digits"), "{err}");
    assert_eq!(
        p.ana.ok(&["delete-account", "--code", &code]).trim(),
        "account deleted; this profile is signed out"
    );
    let err = p.ana.fails(&["whoami"], 1).stderr;
    assert!(err.to_lowercase().contains("sign"), "{err}");

    assert_eq!(p.ben.json(&["contacts"]), json!([]));
    let chats = p.ben.json(&["chats"]);
    assert_eq!(
        chats[0]["peer"]["display_name"], "Deleted account",
        "{chats}"
    );
    let again = p.ana.login_with_code(&p.ts, ANA);
    assert_eq!(again["new_user"], true, "{again}");
}

#[test]
fn listen_streams_new_messages_as_json_lines_and_exits_cleanly_on_sigterm() {
    let p = pair();
    let mut listen = p.ben.spawn(&["--json", "listen"]);
    listen.json_until("online link state", |v| {
        v["type"] == "link" && v["state"] == "online"
    });
    let sent = p.ana.json(&["send", "ben", "are you there?"]);
    let lines = listen.json_until("message.created", |v| {
        v["type"] == "event" && v["event"]["kind"] == "message.created"
    });
    let ev = lines.last().unwrap();
    assert_eq!(ev["event"]["message"]["body"], "are you there?", "{ev}");
    assert_eq!(ev["event"]["message"]["id"], sent["id"]);
    assert!(ev["seq"].as_u64().unwrap() > 0);
    // Ana sees it delivered once Ben's listen acknowledged the event.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let h = p.ana.json(&["history", "ben"]);
        if h[0]["status"] == "delivered" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never delivered: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }

    listen.terminate();
    let status = listen.wait(WAIT);
    assert_eq!(status.code(), Some(0), "stderr: {}", listen.stderr());

    // For people: the sender by name, and their escapes made harmless.
    let listen = p.ben.spawn(&["listen"]);
    p.ana.ok(&["send", "ben", "see you"]);
    let deadline = std::time::Instant::now() + WAIT;
    let line = loop {
        let line = listen.next_line(Duration::from_secs(1)).unwrap_or_default();
        if line.contains("message from") {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no message line");
    };
    assert!(line.ends_with("message from Ana: see you"), "{line}");
    listen.terminate();
}

#[test]
fn linking_and_inviting_devices_then_revoking_one() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana_p = Parley::new(&ts, tmp.path().join("ana"));
    let first = ana_p.login_with_code(&ts, ANA);
    let ana_id = first["user"]["id"].as_str().unwrap().to_owned();

    // A third profile links itself: it shows a QR (and the PNG) and waits.
    let laptop = Parley::new(&ts, tmp.path().join("laptop"));
    let png = tmp.path().join("link.png");
    let mut link = laptop.spawn(&[
        "--json",
        "link",
        "--png",
        png.to_str().unwrap(),
        "--device-name",
        "laptop",
        "--timeout",
        "60",
    ]);
    let shown = link.json_until("the link", |v| v["link"].is_object());
    let shown = &shown.last().unwrap()["link"];
    // The poll secret stays in the process that waits.
    assert!(shown.get("poll_secret").is_none(), "{shown}");
    assert!(shown["uri"].is_string() && shown["check_code"].is_string());
    wait_file(&png);
    // Number matching: the digits the new device shows are typed to
    // approve it; others approve nothing.
    let scan = ["--json", "qr", "scan", png.to_str().unwrap()];
    // Other digits than shown (the two are random: "00" is shown once in a
    // hundred runs, and typing it would approve).
    let wrong = if shown["check_code"] == "00" {
        "01\n"
    } else {
        "00\n"
    };
    let run = ana_p.run_with_input(&scan, wrong);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(run.stderr.contains("laptop"), "{run:?}");
    assert!(run.stderr.contains("not approved"), "{run:?}");
    let typed = format!("{}\n", shown["check_code"].as_str().unwrap());
    let run = ana_p.run_with_input(&scan, &typed);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let approved: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(approved["approved"]["device_name"], "laptop", "{approved}");
    assert_eq!(approved["approved"]["check_code"], shown["check_code"]);
    let done = link.json_until("signed in", |v| v["signed_in"].is_object());
    assert_eq!(done.last().unwrap()["signed_in"]["id"], ana_id.as_str());
    assert!(link.wait(WAIT).success(), "{}", link.stderr());

    let who = laptop.json(&["whoami"]);
    assert_eq!(who["user"]["id"], ana_id.as_str(), "{who}");
    assert_ne!(who["device_id"], first["device_id"]);
    let run = laptop.fails(&["link"], 1);
    assert!(run.stderr.contains("already signed in"), "{run:?}");
    // Nobody approves: a clear error once the wait is over.
    let idle = Parley::new(&ts, tmp.path().join("idle"));
    let run = idle.fails(&["link", "--timeout", "1"], 1);
    assert!(
        run.stderr.contains("no device approved the link in time"),
        "{run:?}"
    );

    let devices = ana_p.json(&["devices"]);
    let list = devices.as_array().unwrap();
    assert_eq!(list.len(), 2, "{devices}");
    assert_eq!(list.iter().filter(|d| d["current"] == true).count(), 1);
    assert!(list.iter().any(|d| d["name"] == "laptop"));

    // The other direction: Ana invites, a fourth profile joins from the PNG.
    let inv_png = tmp.path().join("invite.png");
    let inv = ana_p.json(&["devices", "invite", "--png", inv_png.to_str().unwrap()]);
    assert!(
        inv["uri"].as_str().unwrap().starts_with("parley://join?"),
        "{inv}"
    );
    let phone = Parley::new(&ts, tmp.path().join("phone"));
    let joined = phone.json(&["join", inv_png.to_str().unwrap(), "--device-name", "phone"]);
    assert_eq!(joined["signed_in"]["id"], ana_id.as_str(), "{joined}");
    let phone_device = joined["device_id"].as_str().unwrap().to_owned();
    assert_eq!(ana_p.json(&["devices"]).as_array().unwrap().len(), 3);

    // Revoking the phone signs it out: its next command fails and says so.
    let out = ana_p.ok(&["devices", "revoke", &phone_device]);
    assert_eq!(out.trim(), "device signed out");
    let run = phone.fails(&["contacts"], 1);
    assert!(run.stderr.contains("signed out"), "{run:?}");
    let run = phone.fails(&["whoami"], 1);
    assert!(run.stderr.contains("not signed in"), "{run:?}");
    // The others are untouched.
    let who = laptop.json(&["whoami"]);
    assert_eq!(who["user"]["id"], ana_id.as_str());
    assert_eq!(ana_p.json(&["devices"]).as_array().unwrap().len(), 2);

    // A device revoked while it listens: the socket closes with 4001, the
    // refresh is refused, and `listen` ends with exit 1 and says why.
    let mut listen = laptop.spawn(&["--json", "listen"]);
    listen.json_until("online link state", |v| {
        v["type"] == "link" && v["state"] == "online"
    });
    ana_p.ok(&["devices", "revoke", who["device_id"].as_str().unwrap()]);
    let lines = listen.json_until("signed out event", |v| v["type"] == "signed_out");
    assert!(!lines.is_empty());
    assert_eq!(listen.wait(WAIT).code(), Some(1));
    let err = listen.stderr();
    let v: Value = serde_json::from_str(err.trim()).unwrap();
    let detail = v["error"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("signed out by the server"), "{v}");
    assert!(!laptop.profile.join("session").exists());
    assert_eq!(ana_p.json(&["devices"]).as_array().unwrap().len(), 1);
}

/// The server's storage fills up (its operator's `--max-database-mib`): a
/// send says it was not sent and stays queued, history shows it pending, and
/// once there is room again the next send delivers both, each once.
#[test]
fn a_send_refused_for_a_full_server_stays_queued_and_goes_out_later() {
    let mut p = pair();
    p.ts.stop();
    p.ts.config.max_database_mib = 1;
    p.ts.start_again();
    let body = "x".repeat(16 * 1024 - 8);
    let refused = (0..200)
        .map(|i| p.ana.run(&["send", "ben", &format!("{i} {body}")]))
        .find(|run| run.code() != Some(0))
        .expect("a 1 MiB database took 200 messages of 16 KiB");
    assert_eq!(refused.code(), Some(75), "{refused:?}");
    assert!(
        refused.stderr.contains("storage is full") && refused.stderr.contains("(storage_full)"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("stays queued"), "{refused:?}");
    let history = p.ana.ok(&["history", "ben", "--limit", "3"]);
    let pending = history.lines().last().unwrap_or_default();
    assert!(
        pending.starts_with("#-") && pending.ends_with("(pending)"),
        "{history}"
    );
    let first: String = pending
        .split(": ")
        .nth(1)
        .and_then(|b| b.split_whitespace().next())
        .unwrap()
        .to_owned();

    p.ts.stop();
    p.ts.config.max_database_mib = 0;
    p.ts.start_again();
    let out = p.ana.ok(&["send", "ben", "after the disk was freed"]);
    assert!(out.starts_with("sent #"), "{out}");
    for body in [
        format!("{first} {body}"),
        "after the disk was freed".to_owned(),
    ] {
        let n = p.ts.messages_with_body(&body);
        assert_eq!(n, 1, "{}", &body[..20.min(body.len())]);
    }
    let history = p.ben.ok(&["history", "ana", "--limit", "2"]);
    assert!(history.contains("after the disk was freed"), "{history}");
}

/// A message the server refused for good shows in `history` with the reason
/// and what to do; `retry` sends it again (refused again here: the cause is
/// still there) and `discard` drops it.
#[test]
fn a_refused_message_is_retried_or_discarded_from_the_terminal() {
    let p = pair();
    // Refused for good: an attachment id that is not Ana's upload.
    let (profile, ben) = (p.ana.profile.clone(), p.ben_id.clone());
    let client_id = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            no_keyring();
            let c = parley_client::Client::open(parley_client::Profile::open(&profile).unwrap())
                .await
                .unwrap();
            let chat = c.chat_with(&parley_protocol::UserId(ben)).await.unwrap().id;
            let m = c
                .queue_message(
                    &chat,
                    "with a stranger's file",
                    None,
                    vec!["not-mine".into()],
                )
                .await
                .unwrap();
            let err = c.flush_outbox().await.unwrap_err();
            assert_eq!(err.code(), Some("invalid_field"), "{err:?}");
            m.message.client_id
        });
    let history = p.ana.ok(&["history", "ben"]);
    let line = history.lines().last().unwrap();
    assert!(
        line.contains("with a stranger's file (failed)"),
        "{history}"
    );
    assert!(line.contains("not an attachment you uploaded"), "{history}");
    assert!(
        line.contains(&format!("`parley retry {client_id}`")),
        "{history}"
    );
    let run = p.ana.fails(&["retry", &client_id], 1);
    assert!(
        run.stderr.contains("not an attachment you uploaded"),
        "{run:?}"
    );
    assert_eq!(p.ana.ok(&["discard", &client_id]).trim(), "discarded");
    let history = p.ana.ok(&["history", "ben"]);
    assert!(!history.contains("stranger"), "{history}");
    let run = p.ana.fails(&["discard", &client_id], 1);
    assert!(run.stderr.contains("no failed message"), "{run:?}");
}

#[test]
fn errors_exit_codes_and_messages() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let carl = Parley::new(&ts, tmp.path().join("carl"));

    // A wrong code typed at the prompt: the server's detail, and the code
    // is asked again; nothing typed then ends it (exit 1).
    let seen = ts.code_count("carl@example.org");
    let mut login = carl.spawn(&["login", "carl@example.org"]);
    let code = ts.wait_code("carl@example.org", seen);
    let wrong: String = code
        .chars()
        .map(|c| char::from_digit((c.to_digit(10).unwrap() + 1) % 10, 10).unwrap())
        .collect();
    login.write_stdin(&format!("{wrong}\n"));
    login.write_stdin("\n");
    assert_eq!(login.wait(WAIT).code(), Some(1));
    let err = login.stderr();
    assert!(
        err.contains("wrong code; 4 attempt(s) left (invalid_code)\nCode: "),
        "{err}"
    );
    assert!(err.contains("parley: error: no code entered"), "{err}");
    assert!(!carl.profile.join("session").exists());

    // With --json the error is a JSON document on stderr.
    let run = carl.fails(
        &["--json", "login", "carl@example.org", "--code", &wrong],
        1,
    );
    let v: Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(v["error"]["code"], "invalid_code", "{v}");
    assert_eq!(v["error"]["transient"], false, "{v}");
    assert_eq!(run.stdout, "");
    // Errors that never got a server's answer have a stable code too.
    let run = carl.fails(&["--json", "whoami"], 1);
    let v: Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(v["error"]["code"], "not_signed_in", "{v}");
    assert!(v["error"]["detail"].is_string(), "{v}");
    let nowhere = Parley {
        profile: tmp.path().join("nowhere"),
        server: "http://127.0.0.1:9".into(),
    };
    let run = nowhere.fails(
        &["--json", "login", "x@example.org", "--code", "123456"],
        75,
    );
    let v: Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(
        (&v["error"]["code"], &v["error"]["transient"]),
        (&json!("unreachable"), &json!(true)),
        "{v}"
    );

    // Usage errors are clap's: exit 2.
    let run = carl.fails(&["frobnicate"], 2);
    assert!(run.stderr.contains("unrecognized subcommand"), "{run:?}");
    let run = carl.fails(&["contacts", "--bogus"], 2);
    assert!(run.stderr.contains("--bogus"), "{run:?}");
    carl.fails(&["send", "ben"], 2);

    // No session yet.
    let run = carl.fails(&["contacts"], 1);
    assert!(run.stderr.contains("not signed in"), "{run:?}");

    // Images without a Parley code.
    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let run = carl.fails(&["qr", "decode", blank.to_str().unwrap()], 1);
    assert!(run.stderr.contains("no QR code found"), "{run:?}");
    let other = tmp.path().join("other.png");
    write_qr(&other, "https://example.org/hello");
    let run = carl.fails(&["qr", "decode", other.to_str().unwrap()], 1);
    assert!(run.stderr.contains("not a Parley code"), "{run:?}");
    assert!(run.stderr.contains("https://example.org/hello"), "{run:?}");
    let run = carl.fails(&["qr", "decode", "/nonexistent/x.png"], 1);
    assert!(run.stderr.contains("/nonexistent/x.png"), "{run:?}");

    // A Parley code decodes without a session.
    let uri = format!(
        "parley://contact?server={}&code=0123456789ABCDEFGHJKMNPQRS",
        "http%3A%2F%2F127.0.0.1%3A9"
    );
    let qr = tmp.path().join("contact.png");
    write_qr(&qr, &uri);
    let v = carl.json(&["qr", "decode", qr.to_str().unwrap()]);
    assert_eq!(v["kind"], "contact", "{v}");
    assert_eq!(v["server"], "http://127.0.0.1:9");

    // A mistyped invite file is said to be one, not sent as a code.
    let run = carl.fails(&["join", "jion.png"], 1);
    assert!(
        run.stderr.contains("jion.png: no such image file"),
        "{run:?}"
    );

    // Signed in, a contact code for another server is refused before any request.
    carl.login_with_code(&ts, "carl@example.org");
    let run = carl.fails(&["qr", "scan", qr.to_str().unwrap()], 1);
    assert!(run.stderr.contains("another server"), "{run:?}");
    // Signing in again on a signed-in profile would replace its session
    // (and, for another account, wipe what it has not sent).
    let run = carl.fails(&["login", "carl@example.org", "--code", "123456"], 1);
    assert!(run.stderr.contains("already signed in"), "{run:?}");
    assert!(carl.profile.join("session").exists());

    // Refused before anything is sent: an avatar over 5 MiB, a body over
    // 16 KiB, eleven attachments.
    let big = tmp.path().join("big.png");
    std::fs::write(&big, vec![0u8; 5 * 1024 * 1024 + 1]).unwrap();
    let run = carl.fails(&["profile", "set", "--avatar", big.to_str().unwrap()], 1);
    assert!(run.stderr.contains("at most 5242880 (5 MiB)"), "{run:?}");
    let run = carl.fails(&["send", "nobody", &"x".repeat(16 * 1024 + 1)], 1);
    assert!(
        run.stderr.contains("body: must be at most 16384 bytes"),
        "{run:?}"
    );
    let mut args = vec!["send", "nobody", "files"];
    for _ in 0..11 {
        args.extend(["--attach", "blank.png"]);
    }
    let run = carl.fails(&args, 1);
    assert!(run.stderr.contains("at most 10 attachments"), "{run:?}");
}

/// What a terminal shows for the CLI's QR text: each glyph cell painted in
/// the foreground colour where the half block has ink, the background
/// elsewhere; 4 px per module.
fn terminal_screen(qr_lines: &[&str], dark_terminal: bool) -> image::GrayImage {
    let (fg, bg) = if dark_terminal { (255, 0) } else { (0, 255) };
    let width = qr_lines[0].chars().count() as u32;
    let mut img = image::GrayImage::new(width * 4, qr_lines.len() as u32 * 8);
    for (row, line) in qr_lines.iter().enumerate() {
        for (x, c) in line.chars().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected glyph {other:?}"),
            };
            for dy in 0..8u32 {
                let ink = if dy < 4 { top } else { bottom };
                for dx in 0..4u32 {
                    let px = image::Luma([if ink { fg } else { bg }]);
                    img.put_pixel(x as u32 * 4 + dx, row as u32 * 8 + dy, px);
                }
            }
        }
    }
    img
}

#[test]
fn the_terminal_qr_is_dark_on_light_on_dark_and_light_terminals() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = Parley::new(&ts, tmp.path().join("ana"));
    ana.login_with_code(&ts, ANA);
    // (flags, $COLORFGBG, whether the terminal is dark)
    let cases: [(&[&str], Option<&str>, bool); 6] = [
        (&[], None, true),
        (&["--qr-theme", "dark"], None, true),
        (&["--qr-theme", "light"], None, false),
        (&[], Some("0;15"), false),
        (&[], Some("15;default;0"), true),
        // The flag wins over the variable.
        (&["--qr-theme", "dark"], Some("0;15"), true),
    ];
    for (flags, colorfgbg, dark_terminal) in cases {
        let mut args = vec!["qr", "contact"];
        args.extend(flags);
        let mut cmd = ana.command(&args);
        if let Some(v) = colorfgbg {
            cmd.env("COLORFGBG", v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        let uri = lines
            .iter()
            .position(|l| l.starts_with("parley://"))
            .unwrap();
        let screen = terminal_screen(&lines[..uri], dark_terminal);
        let case = format!("{args:?} COLORFGBG={colorfgbg:?}");
        // The quiet zone is light on screen: the code is not inverted.
        assert_eq!(screen.get_pixel(0, 0).0, [255], "{case}");
        let found = parley_client::qr::decode_luma(&screen).unwrap();
        assert_eq!(found, vec![lines[uri].parse().unwrap()], "{case}");
    }
    // A file named relative to the working folder (its parent path is "").
    let out = ana
        .command(&["qr", "contact", "--png", "code.png"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(tmp.path().join("code.png").is_file());
    let run = ana.fails(&["qr", "contact", "--qr-theme", "pink"], 2);
    assert!(
        run.stderr.contains("possible values: auto, dark, light"),
        "{run:?}"
    );
}

fn write_qr(path: &Path, text: &str) {
    let m = parley_client::qr::QrMatrix::encode(text).unwrap();
    std::fs::write(path, m.to_png(8).unwrap()).unwrap();
}

/// What `rule_proxy` does to a `POST` whose path contains its marker.
#[derive(Clone, Copy)]
enum Rule {
    /// Answers a garbled 200 itself, as a captive portal or a broken
    /// reverse proxy does.
    Garble,
    /// Forwards it, and holds the server's answer this long.
    Delay(Duration),
}

/// A proxy to `to` that applies `rule` to every `POST` whose path contains
/// `marker` and forwards everything else (one request per connection).
fn rule_proxy(to: std::net::SocketAddr, marker: &'static str, rule: Rule) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push(line);
                }
                let len = head
                    .iter()
                    .find_map(|l| {
                        let l = l.to_ascii_lowercase();
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let hit = head[0].starts_with("POST ") && head[0].contains(marker);
                if hit && matches!(rule, Rule::Garble) {
                    let _ = client.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 7\r\nconnection: close\r\n\r\n<html/>",
                    );
                    return;
                }
                let mut server = std::net::TcpStream::connect(to).unwrap();
                let mut req: String = head
                    .iter()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(String::as_str)
                    .collect();
                req.push_str("connection: close\r\n\r\n");
                server.write_all(req.as_bytes()).unwrap();
                server.write_all(&body).unwrap();
                if let (true, Rule::Delay(d)) = (hit, rule) {
                    let mut answer = Vec::new();
                    let _ = server.read_to_end(&mut answer);
                    std::thread::sleep(d);
                    let _ = client.write_all(&answer);
                    return;
                }
                let _ = std::io::copy(&mut server, &mut client);
            });
        }
    });
    base
}

/// A garbled answer to the send itself: the message stays queued, and
/// `send` says so (exit 75, `queued` with --json) rather than failing (exit
/// 1), after which a script would send it a second time. It goes out once
/// the server's answers come through again.
#[test]
fn a_garbled_answer_to_a_send_leaves_it_queued_and_says_so() {
    let p = pair();
    let info_path = p.ana.profile.join("profile.json");
    let mut info: Value = serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    let real = info["server"].as_str().unwrap().to_owned();
    let addr = real.trim_start_matches("http://").parse().unwrap();
    info["server"] = rule_proxy(addr, "/messages", Rule::Garble).into();
    std::fs::write(&info_path, info.to_string()).unwrap();
    let run = p
        .ana
        .run(&["--json", "send", "ben", "through a broken proxy"]);
    assert_eq!(run.code(), Some(75), "{run:?}");
    let said: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(said["queued"], true, "{said}");
    let err: Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert!(
        err["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("unexpected answer from the server"),
        "{err}"
    );
    // Not sent, and not to be sent again: a failure for now.
    assert_eq!(
        (&err["error"]["code"], &err["error"]["transient"]),
        (&json!("protocol"), &json!(true)),
        "{err}"
    );

    info["server"] = real.into();
    std::fs::write(&info_path, info.to_string()).unwrap();
    p.ana.ok(&["send", "ben", "after"]);
    assert_eq!(bodies(&p.ben, "ana"), ["through a broken proxy", "after"]);
}

/// Ctrl+C while a token refresh is on its way (the server rotated the
/// token, its answer not here yet) waits for that answer to be stored
/// before the process ends (exit 130): otherwise the profile keeps a spent
/// token, and its next refresh after the server's minute for retries signs
/// the device out as stolen.
#[test]
fn an_interrupt_during_a_token_refresh_waits_until_the_new_token_is_stored() {
    let p = pair();
    let session_path = p.ana.profile.join("session");
    let mut session: Value =
        serde_json::from_slice(&std::fs::read(&session_path).unwrap()).unwrap();
    let spent = session["refresh_token"].as_str().unwrap().to_owned();
    session["access_expires_at"] = 0.into();
    std::fs::write(&session_path, session.to_string()).unwrap();
    let info_path = p.ana.profile.join("profile.json");
    let mut info: Value = serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    let real = info["server"].as_str().unwrap().to_owned();
    let addr = real.trim_start_matches("http://").parse().unwrap();
    let delay = Rule::Delay(Duration::from_millis(1500));
    info["server"] = rule_proxy(addr, "/v1/auth/refresh", delay).into();
    std::fs::write(&info_path, info.to_string()).unwrap();

    let mut chats = p.ana.spawn(&["chats"]);
    std::thread::sleep(Duration::from_millis(500));
    let st = std::process::Command::new("kill")
        .args(["-INT", &chats.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = chats.wait(WAIT);
    assert_eq!(status.code(), Some(130), "{}", chats.stderr());
    assert!(
        chats.stderr().contains("finishing a sign-in token refresh"),
        "{}",
        chats.stderr()
    );
    let stored: Value = serde_json::from_slice(&std::fs::read(&session_path).unwrap()).unwrap();
    assert_ne!(
        stored["refresh_token"],
        spent.as_str(),
        "the rotated token was stored"
    );
    info["server"] = real.into();
    std::fs::write(&info_path, info.to_string()).unwrap();
    assert_eq!(p.ana.json(&["whoami"])["user"]["id"], p.ana_id.as_str());
}
