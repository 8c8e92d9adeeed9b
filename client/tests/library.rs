//! parley-client as a library against a real in-process server: the outbox
//! across restarts (client and server), the realtime loop's reconnect and
//! resume, token refresh and theft detection, and the keyring's file fallback.
//! The server's SQLite file is read directly to check what it stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use parley_client::{
    api::Api,
    cache::{self, LocalState},
    session::Secrets,
    Client, ClientError, ClientEvent, LinkState, Profile, SecretStore,
};
use parley_protocol::{Event, Mute, SendMessage};
use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

fn count_client_id(ts: &TestServer, client_id: &str) -> i64 {
    ts.db()
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE client_id = ?1",
            [client_id],
            |r| r.get(0),
        )
        .unwrap()
}

/// A server, a temp dir, Ana and Ben signed in (profiles `ana` and `ben`
/// in it) and connected, and their chat's id.
async fn ana_and_ben() -> (TestServer, tempfile::TempDir, Client, Client, String) {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;
    (ts, tmp, ana, ben, chat)
}

/// The bodies of a chat's messages on the server, in the chat's order.
fn stored_bodies(ts: &TestServer, chat: &str) -> Vec<String> {
    ts.db()
        .prepare("SELECT body FROM messages WHERE chat_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([chat], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn outbox_survives_client_and_server_restarts_without_duplicates() {
    let mut ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana_dir = tmp.path().join("ana");
    let ana = login(&ts, &ana_dir, ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;

    // The server is down: messages are queued and shown as pending.
    ts.stop();
    let a = ana
        .queue_message(&chat, "answer lost", None, vec![])
        .await
        .unwrap();
    let b = ana
        .queue_message(&chat, "written offline", None, vec![])
        .await
        .unwrap();
    assert_eq!(a.state, LocalState::Pending);
    let err = ana.flush_outbox().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let c = chat.clone();
    let shown = ana
        .cache()
        .run(move |db| cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    let states: Vec<(&str, LocalState)> = shown
        .iter()
        .map(|m| (m.message.body.as_str(), m.state))
        .collect();
    assert_eq!(
        states,
        [
            ("answer lost", LocalState::Pending),
            ("written offline", LocalState::Pending)
        ]
    );
    drop(ana);

    // Server back on the same address; a new Client on the same profile.
    ts.start_again();
    let ana = Client::open(Profile::open(&ana_dir).unwrap())
        .await
        .unwrap();
    let queued = ana.cache().run(|db| cache::outbox(db)).await.unwrap();
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert_eq!(queued[0].client_id, a.message.client_id);
    assert!(queued[0].attempts >= 1, "the failed attempt was counted");

    // An attempt that reached the server but whose answer was lost (the
    // client died before recording it): the server already has the first one.
    let token = ana.token().await.unwrap();
    let stored = ana
        .api()
        .send_message(
            &token,
            &chat,
            &SendMessage {
                client_id: a.message.client_id.clone(),
                body: "answer lost".into(),
                reply_to: None,
                attachment_ids: vec![],
                forwarded: false,
            },
        )
        .await
        .unwrap();

    let sent = ana.flush_outbox().await.unwrap();
    let bodies: Vec<&str> = sent.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["answer lost", "written offline"]);
    assert_eq!(sent[0].message.id, stored.id, "the retry got the original");
    assert_eq!(count_client_id(&ts, &a.message.client_id), 1);
    assert_eq!(count_client_id(&ts, &b.message.client_id), 1);

    // Flushing again sends nothing and stores nothing.
    assert!(ana.flush_outbox().await.unwrap().is_empty());
    assert_eq!(count_client_id(&ts, &a.message.client_id), 1);
    assert_eq!(count_client_id(&ts, &b.message.client_id), 1);
    let c = chat.clone();
    let shown = ana
        .cache()
        .run(move |db| cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    let states: Vec<(&str, u64, LocalState)> = shown
        .iter()
        .map(|m| (m.message.body.as_str(), m.message.seq, m.state))
        .collect();
    assert_eq!(
        states,
        [
            ("answer lost", 1, LocalState::Sent),
            ("written offline", 2, LocalState::Sent)
        ]
    );
    assert!(outbox_is_empty(&ana).await);

    // Ben sees each once.
    let ben = Client::open(ben.profile().clone()).await.unwrap();
    let h = ben.history(&chat, 50).await.unwrap();
    let bodies: Vec<&str> = h.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["answer lost", "written offline"]);
}

/// Receives client events until `done` holds for everything received so far.
async fn collect_until(
    rx: &mut broadcast::Receiver<ClientEvent>,
    all: &mut Vec<ClientEvent>,
    what: &str,
    done: impl Fn(&[ClientEvent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(all) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => all.push(e),
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("no {what} within {WAIT:?}; got {all:#?}"),
        }
    }
}

/// Bodies of the `message.created` events sent by `sender`, in order.
fn created_by(events: &[ClientEvent], sender: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Event { event, .. } => match event.as_ref() {
                Event::MessageCreated { message } if message.sender_id.as_str() == sender => {
                    Some(message.body.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn sent_events(events: &[ClientEvent]) -> Vec<&parley_client::cache::CachedMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Sent { message } => Some(message.as_ref()),
            _ => None,
        })
        .collect()
}

fn seqs(events: &[ClientEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Event { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

fn onlines(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::Link {
                    state: LinkState::Online,
                    ..
                }
            )
        })
        .count()
}

async fn ben_sends(ben: &Client, chat: &str, bodies: &[&str]) {
    for body in bodies {
        ben.queue_message(chat, body, None, vec![]).await.unwrap();
    }
    let sent = ben.flush_outbox().await.unwrap();
    assert_eq!(sent.len(), bodies.len());
}

async fn outbox_is_empty(client: &Client) -> bool {
    client
        .cache()
        .run(|db| cache::outbox(db))
        .await
        .unwrap()
        .is_empty()
}

/// Stops a loop started by [`run_loop`] and waits for it to end cleanly.
async fn stop_loop(
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<parley_client::Result<()>>,
) {
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("loop stops")
        .unwrap()
        .unwrap();
}

/// Starts `client`'s realtime loop; the sender stops it.
fn run_loop(
    client: &Client,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<parley_client::Result<()>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let c = client.clone();
    let task = tokio::spawn(async move {
        c.run_realtime(async move {
            let _ = rx.await;
        })
        .await
    });
    (tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_reconnects_after_a_server_restart_and_resumes_without_gaps() {
    let mut ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana_dir = tmp.path().join("ana");
    let ana = login(&ts, &ana_dir, ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;

    let ben_id = ben.user_id().to_owned();
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut all = Vec::new();
    collect_until(&mut rx, &mut all, "online", |e| onlines(e) == 1).await;
    ben_sends(&ben, &chat, &["one", "two", "three"]).await;
    collect_until(&mut rx, &mut all, "three messages", |e| {
        created_by(e, &ben_id).len() >= 3
    })
    .await;

    // The server goes down; Ana writes meanwhile (queued); the server comes
    // back on the same address and Ben sends while Ana reconnects.
    ts.stop();
    let queued = ana
        .queue_message(&chat, "from ana while down", None, vec![])
        .await
        .unwrap();
    ts.start_again();
    let ben = Client::open(ben.profile().clone()).await.unwrap();
    ben_sends(&ben, &chat, &["four", "five", "six"]).await;
    collect_until(
        &mut rx,
        &mut all,
        "reconnect, six messages and the queued one sent",
        |e| {
            onlines(e) >= 2
                && created_by(e, &ben_id).len() >= 6
                && !sent_events(e).is_empty()
                && !created_by(e, ana.user_id()).is_empty()
        },
    )
    .await;
    assert!(
        all.iter().any(|e| matches!(
            e,
            ClientEvent::Link {
                state: LinkState::Offline,
                ..
            }
        )),
        "the loop noticed the restart"
    );
    // The queued message went out over the new socket, once.
    let sent = sent_events(&all);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].message.client_id, queued.message.client_id);
    assert_eq!(sent[0].state, LocalState::Sent);
    assert_eq!(count_client_id(&ts, &queued.message.client_id), 1);
    assert!(outbox_is_empty(&ana).await);

    // The loop stops; Ben sends; a new Client on the same profile resumes
    // from the cursor stored in the cache.
    stop_loop(stop, task).await;
    drop(ana);
    ben_sends(&ben, &chat, &["seven", "eight"]).await;
    let ana = Client::open(Profile::open(&ana_dir).unwrap())
        .await
        .unwrap();
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    collect_until(&mut rx, &mut all, "the replay", |e| {
        created_by(e, &ben_id).len() >= 8
    })
    .await;

    // Every event of Ana's log once, in order, and the server agrees on the end.
    let expected = [
        "one", "two", "three", "four", "five", "six", "seven", "eight",
    ];
    assert_eq!(created_by(&all, &ben_id), expected);
    assert_eq!(created_by(&all, ana.user_id()), ["from ana while down"]);
    let deadline = Instant::now() + WAIT;
    let ana_device = ana.device_id().to_owned();
    let (last, acked) = loop {
        let db = ts.db();
        let server_seq: i64 = db
            .query_row(
                "SELECT MAX(seq) FROM events WHERE user_id = ?1",
                [ana.user_id()],
                |r| r.get(0),
            )
            .unwrap();
        let acked: i64 = db
            .query_row(
                "SELECT acked_seq FROM devices WHERE id = ?1",
                [&ana_device],
                |r| r.get(0),
            )
            .unwrap();
        // Drain what arrived meanwhile.
        while let Ok(e) = rx.try_recv() {
            all.push(e);
        }
        let last = seqs(&all).last().copied().unwrap_or(0) as i64;
        if last == server_seq && acked == server_seq {
            break (last as u64, acked);
        }
        assert!(
            Instant::now() < deadline,
            "server log at {server_seq}, received up to {last}, acked {acked}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let got = seqs(&all);
    assert_eq!(got, (1..=last).collect::<Vec<_>>(), "gaps or duplicates");
    assert_eq!(acked as u64, last);
    assert_eq!(ana.cache().run(|db| cache::cursor(db)).await.unwrap(), last);

    // The cache holds every message exactly once.
    let c = chat.clone();
    let cached = ana
        .cache()
        .run(move |db| cache::messages(db, &c, None, 100))
        .await
        .unwrap();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &cached {
        *count.entry(m.message.body.as_str()).or_default() += 1;
    }
    assert_eq!(count.len(), 9, "{count:?}");
    assert!(count.values().all(|&n| n == 1), "{count:?}");
    assert!(cached.iter().all(|m| m.state != LocalState::Pending));
    let cached_seqs: Vec<u64> = cached.iter().map(|m| m.message.seq).collect();
    assert_eq!(cached_seqs, (1..=9).collect::<Vec<_>>());

    stop_loop(stop, task).await;
}

fn stored(profile: &Profile) -> Secrets {
    let info = profile.info().unwrap().expect("profile.json");
    profile.secrets(&info).unwrap().expect("session")
}

/// Ana signed in with the profile at `dir`, her client gone: the profile
/// and the session it stored.
async fn signed_in_profile(ts: &TestServer, dir: &Path) -> (Profile, Secrets) {
    drop(login(ts, dir, ANA).await);
    let profile = Profile::open(dir).unwrap();
    let s0 = stored(&profile);
    (profile, s0)
}

fn store_secrets(profile: &Profile, s: &Secrets) {
    let info = profile.info().unwrap().unwrap();
    profile.save_secrets(&info, s).unwrap();
}

/// What the server refuses for now over a live socket (here `rate_limited`:
/// one send a second, bursts of two) stays queued and goes out by itself,
/// each message once, without a new message or a reconnect to wake it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_refused_for_now_over_a_live_socket_are_retried() {
    let ts = TestServer::start_with(|c| c.ws_rate = 1);
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut all = Vec::new();
    collect_until(&mut rx, &mut all, "online", |e| onlines(e) == 1).await;
    let bodies = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
    for b in bodies {
        ana.queue_message(&chat, b, None, vec![]).await.unwrap();
    }
    collect_until(&mut rx, &mut all, "every queued message sent", |e| {
        sent_events(e).len() >= bodies.len()
    })
    .await;
    assert!(
        all.iter().any(|e| matches!(
            e,
            ClientEvent::SendDeferred { error, .. } if error.code == "rate_limited"
        )),
        "the server never refused a send, so nothing was retried: {all:#?}"
    );
    assert!(
        !all.iter()
            .any(|e| matches!(e, ClientEvent::SendFailed { .. })),
        "{all:#?}"
    );
    for b in bodies {
        assert_eq!(ts.messages_with_body(b), 1, "{b}");
    }
    // Stored in the order they were written, refusals or not.
    let stored = stored_bodies(&ts, &chat);
    assert_eq!(stored, bodies, "{all:#?}");
    assert!(outbox_is_empty(&ana).await);
    stop_loop(stop, task).await;
}

#[tokio::test]
async fn expired_tokens_refresh_transparently_and_a_reused_refresh_token_signs_out() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    let (profile, s0) = signed_in_profile(&ts, &dir).await;

    // An access token past its expiry: refreshed before the call.
    store_secrets(
        &profile,
        &Secrets {
            access_expires_at: 0,
            ..s0.clone()
        },
    );
    let client = Client::open(profile.clone()).await.unwrap();
    assert_eq!(client.me().await.unwrap().identifier, ANA);
    let s1 = stored(&profile);
    assert_ne!(s1.refresh_token, s0.refresh_token, "rotated");
    assert!(s1.access_expires_at > now() + 60, "{s1:?}");
    drop(client);

    // An access token the server refuses (401) though it looks fresh:
    // refreshed and the call retried.
    store_secrets(
        &profile,
        &Secrets {
            access_token: "not-a-token".into(),
            access_expires_at: now() + 3600,
            ..s1.clone()
        },
    );
    let client = Client::open(profile.clone()).await.unwrap();
    assert_eq!(client.me().await.unwrap().identifier, ANA);
    let s2 = stored(&profile);
    assert_ne!(s2.refresh_token, s1.refresh_token);
    assert_ne!(s2.access_token, "not-a-token");

    // Two clients of one profile (two processes) with an expiring token
    // refresh once between them: no reuse, the device stays signed in.
    store_secrets(
        &profile,
        &Secrets {
            access_expires_at: 0,
            ..s2.clone()
        },
    );
    let one = Client::open(profile.clone()).await.unwrap();
    let two = Client::open(profile.clone()).await.unwrap();
    let (r1, r2) = tokio::join!(one.me(), two.me());
    r1.unwrap();
    r2.unwrap();
    let s3 = stored(&profile);
    assert_ne!(s3.refresh_token, s2.refresh_token);
    let device = client.device_id().to_owned();
    let revoked: Option<i64> = ts
        .db()
        .query_row(
            "SELECT revoked_at FROM devices WHERE id = ?1",
            [&device],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(revoked, None);
    drop((one, two));

    // Two calls of one client refused at once (401): one rotation between
    // them, both retried and answered.
    let rotations = || -> i64 {
        ts.db()
            .query_row(
                "SELECT COUNT(*) FROM refresh_tokens WHERE device_id = ?1",
                [client.device_id()],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = rotations();
    store_secrets(
        &profile,
        &Secrets {
            access_token: "not-a-token".into(),
            access_expires_at: now() + 3600,
            ..stored(&profile)
        },
    );
    let both = Client::open(profile.clone()).await.unwrap();
    let (r1, r2) = tokio::join!(both.me(), both.me());
    assert_eq!(r1.unwrap().identifier, ANA);
    assert_eq!(r2.unwrap().identifier, ANA);
    assert_eq!(rotations(), before + 1);
    drop(both);

    // Someone presents the first, long-rotated refresh token: theft. The
    // server revokes the device...
    let err = Api::new(&ts.base)
        .unwrap()
        .refresh(&s0.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("token_reused"), "{err:?}");
    // ...and the client learns it is signed out, and forgets the session.
    let client = Client::open(profile.clone()).await.unwrap();
    let mut rx = client.subscribe();
    let err = client.me().await.unwrap_err();
    assert!(matches!(err, ClientError::SignedOut(_)), "{err:?}");
    assert!(profile.info().unwrap().is_none());
    assert!(!dir.join("session").exists());
    match rx.try_recv() {
        Ok(ClientEvent::SignedOut { .. }) => {}
        other => panic!("expected a SignedOut event, got {other:?}"),
    }
    assert!(matches!(
        Client::open(profile).await.err(),
        Some(ClientError::NotSignedIn)
    ));
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn without_a_keyring_the_session_is_a_private_file_that_logout_removes() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    no_keyring();
    let code = ts.request_code(ANA).await;
    let (client, new_user, store) =
        Client::login(Profile::open(&dir).unwrap(), &ts.base, ANA, &code, "desk")
            .await
            .unwrap();
    assert!(new_user);
    assert_eq!(store, SecretStore::File);
    let session = dir.join("session");
    let info_file = dir.join("profile.json");
    #[cfg(unix)]
    {
        assert_eq!(mode(&session), 0o600);
        assert_eq!(mode(&info_file), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    let secrets = stored(client.profile());
    assert!(std::fs::read_to_string(&session)
        .unwrap()
        .contains(&secrets.refresh_token));
    let info = std::fs::read_to_string(&info_file).unwrap();
    assert!(info.contains("\"store\": \"file\""), "{info}");
    assert!(!info.contains(&secrets.refresh_token));
    assert!(!info.contains(&secrets.access_token));
    let token = client.token().await.unwrap();
    drop(client);

    // `parley logout` on that profile.
    let p = Parley::new(&ts, &dir);
    let run = tokio::task::spawn_blocking(move || p.run(&["logout"]))
        .await
        .unwrap();
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "signed out");
    assert!(!session.exists());
    assert!(!info_file.exists());
    assert!(!dir.join("cache.db").exists());
    // The server signed the device out too.
    let err = Api::new(&ts.base).unwrap().me(&token).await.unwrap_err();
    assert!(parley_client::api::is_unauthorized(&err), "{err:?}");
}

#[tokio::test]
async fn history_fills_in_what_came_before_a_message_sent_from_here() {
    let (_ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    ben_sends(&ben, &chat, &["one", "two", "three"]).await;
    // Ana (no realtime loop) sends: her cache now holds seq 4 only.
    ana.queue_message(&chat, "four", None, vec![])
        .await
        .unwrap();
    ana.flush_outbox().await.unwrap();
    // A history asking for just the latest message must still cache the gap,
    // so the chat reads complete offline.
    assert_eq!(ana.history(&chat, 1).await.unwrap().len(), 1);
    let c = chat.clone();
    let all = ana
        .cache()
        .run(move |db| parley_client::cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    let bodies: Vec<&str> = all.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two", "three", "four"]);
}

#[tokio::test]
async fn older_messages_page_back_through_history_from_the_server_into_the_cache() {
    let (mut ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    let bodies: Vec<String> = (1..=12).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    ben_sends(&ben, &chat, &refs).await;
    let seqs = |page: &[parley_client::cache::CachedMessage]| -> Vec<u64> {
        page.iter().map(|m| m.message.seq).collect()
    };
    // Ana's cache is empty: each page comes from the server, oldest first.
    let page = ana.older_messages(&chat, 13, 5).await.unwrap();
    assert_eq!(seqs(&page), [8, 9, 10, 11, 12]);
    assert_eq!(page[0].message.body, "m8");
    // Offline, what the cache lacks is not the start of the chat: an
    // error to try again on, not a short (or empty) page.
    ts.stop();
    let err = ana.older_messages(&chat, 8, 5).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // What the cache holds whole still reads offline.
    assert_eq!(
        seqs(&ana.older_messages(&chat, 11, 3).await.unwrap()),
        [8, 9, 10]
    );
    ts.start_again();
    let page = ana.older_messages(&chat, 8, 5).await.unwrap();
    assert_eq!(seqs(&page), [3, 4, 5, 6, 7]);
    // The start of the conversation: a short page, then nothing.
    let page = ana.older_messages(&chat, 3, 5).await.unwrap();
    assert_eq!(seqs(&page), [1, 2]);
    assert!(ana.older_messages(&chat, 1, 5).await.unwrap().is_empty());
    // Everything fetched is in the cache now, in order.
    let c = chat.clone();
    let cached = ana
        .cache()
        .run(move |db| parley_client::cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    assert_eq!(seqs(&cached), (1..=12).collect::<Vec<_>>());
    // A limit of 0 is read as 1, never as "everything".
    assert_eq!(seqs(&ana.older_messages(&chat, 13, 0).await.unwrap()), [12]);
}

/// Saving an attachment: the bytes land under a safe name in the folder
/// (created if missing), a second save never overwrites, an explicit file is
/// replaced, and bytes that do not match the attachment's SHA-256 (the
/// server's copy corrupted on its disk here) leave nothing behind.
#[tokio::test]
async fn saved_attachments_are_checked_safely_named_and_never_overwrite() {
    use parley_client::download::Destination;
    use parley_protocol::Attachment;
    let (ts, tmp, ana, ben, chat) = ana_and_ben().await;
    let file = tmp.path().join("report.txt");
    std::fs::write(&file, "quarterly numbers\n".repeat(4000)).unwrap();
    let report = ana.upload(&file, |_| {}).await.unwrap();
    // The server refuses slashes in names, but ".." and dot-files pass it.
    let hostile: Attachment = reqwest::Client::new()
        .post(format!("{}/v1/attachments?name=..", ts.base))
        .bearer_auth(ana.token().await.unwrap())
        .header("content-type", "text/plain")
        .body("not a parent folder")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    ana.queue_message(
        &chat,
        "files",
        None,
        vec![report.id.clone(), hostile.id.clone()],
    )
    .await
    .unwrap();
    ana.flush_outbox().await.unwrap();
    let got = ben.history(&chat, 5).await.unwrap();
    let atts = got.last().unwrap().message.attachments.clone();
    assert_eq!(atts.len(), 2);

    let dir = tmp.path().join("Downloads").join("new folder");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let first = ben
        .save_attachment(&atts[0], Destination::Folder(dir.clone()), move |n| {
            s2.lock().unwrap().push(n)
        })
        .await
        .unwrap();
    assert_eq!(first, dir.join("report.txt"));
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&report.size), "progress ends at the size");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let second = ben
        .save_attachment(&atts[0], Destination::Folder(dir.clone()), |_| {})
        .await
        .unwrap();
    assert_eq!(second, dir.join("report (1).txt"), "never overwrites");
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let odd = ben
        .save_attachment(&atts[1], Destination::Folder(dir.clone()), |_| {})
        .await
        .unwrap();
    assert_eq!(odd.parent(), Some(dir.as_path()), "stays in the folder");
    let odd_name = odd.file_name().unwrap().to_str().unwrap();
    assert!(
        odd_name.starts_with("attachment-") && odd_name.ends_with(".txt"),
        "{odd_name}"
    );
    assert_eq!(std::fs::read(&odd).unwrap(), b"not a parent folder");

    // A new file gets the mode the user's umask gives.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(mode(&first), 0o666 & !umask);
    }

    let chosen = tmp.path().join("chosen.bin");
    std::fs::write(&chosen, "old content").unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&chosen, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let p = ben
        .save_attachment(&atts[1], Destination::File(chosen.clone()), |_| {})
        .await
        .unwrap();
    assert_eq!(p, chosen);
    assert_eq!(std::fs::read(&chosen).unwrap(), b"not a parent folder");
    // A private file replaced stays private.
    #[cfg(unix)]
    assert_eq!(mode(&chosen), 0o600);

    // The server's copy is damaged (same length, other bytes).
    let blob = ts
        .config
        .data_dir
        .join("attachments")
        .join(&report.sha256[..2])
        .join(&report.sha256);
    std::fs::write(&blob, "X".repeat(report.size as usize)).unwrap();
    let clean = tmp.path().join("clean");
    let err = ben
        .save_attachment(&atts[0], Destination::Folder(clean.clone()), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("do not match"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&clean).unwrap().collect();
    assert!(left.is_empty(), "nothing saved, no partial file: {left:?}");
}

/// A message the server refuses for good (Ben removed Ana) keeps its
/// refusal and its attachment, goes out once when retried after they are
/// contacts again, and a discarded one is gone.
#[tokio::test]
async fn a_refused_message_can_be_retried_later_or_discarded() {
    let (ts, tmp, ana, ben, chat) = ana_and_ben().await;
    ben.remove_contact(ana.user_id()).await.unwrap();
    let file = tmp.path().join("plan.txt");
    std::fs::write(&file, "the plan").unwrap();
    let att = ana.upload(&file, |_| {}).await.unwrap();
    let kept = ana
        .queue_message(&chat, "still there?", None, vec![att.id.clone()])
        .await
        .unwrap();
    let err = ana.flush_outbox().await.unwrap_err();
    assert_eq!(err.code(), Some("not_connected"), "{err:?}");
    let dropped = ana
        .queue_message(&chat, "never mind", None, vec![])
        .await
        .unwrap();
    ana.flush_outbox().await.unwrap_err();
    let c = chat.clone();
    let local = ana
        .cache()
        .run(move |db| cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    assert_eq!(local.len(), 2);
    for m in &local {
        assert_eq!(m.state, LocalState::Failed);
        assert_eq!(m.failure.as_ref().unwrap().code, "not_connected", "{m:?}");
    }
    // Nothing to retry yet that is not failed; an unknown id is an error.
    assert!(ana.retry_failed("no-such-id").await.is_err());

    connect(&ben, &ana).await;
    ana.retry_failed(&kept.message.client_id).await.unwrap();
    ana.discard_failed(&dropped.message.client_id)
        .await
        .unwrap();
    assert!(ana.retry_failed(&dropped.message.client_id).await.is_err());
    let sent = ana.flush_outbox().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.body, "still there?");
    assert_eq!(
        sent[0].message.attachments[0].id, att.id,
        "the attachment too"
    );
    assert_eq!(sent[0].failure, None);
    assert_eq!(count_client_id(&ts, &kept.message.client_id), 1);
    assert_eq!(count_client_id(&ts, &dropped.message.client_id), 0);
    let c = chat.clone();
    let local = ana
        .cache()
        .run(move |db| cache::messages(db, &c, None, 50))
        .await
        .unwrap();
    let bodies: Vec<&str> = local.iter().map(|m| m.message.body.as_str()).collect();
    assert_eq!(bodies, ["still there?"], "the discarded one is gone");
    // Retrying what was already sent is refused; the server has it once.
    assert!(ana.retry_failed(&kept.message.client_id).await.is_err());
}

/// The client's cursor for the chat list (time and id of the last chat seen)
/// reaches every chat once, one page at a time.
#[tokio::test]
async fn chat_list_pages_follow_the_cursor() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let cleo = login(&ts, &tmp.path().join("cleo"), "cleo@example.org").await;
    let mut ids = vec![connect(&ana, &ben).await, connect(&ana, &cleo).await];
    let token = ana.token().await.unwrap();
    let mut seen = Vec::new();
    let mut last: Option<parley_protocol::Chat> = None;
    loop {
        let page = ana.api().chats(&token, 1, last.as_ref()).await.unwrap();
        let Some(c) = page.into_iter().next() else {
            break;
        };
        seen.push(c.id.clone());
        last = Some(c);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(ana.chats().await.unwrap().len(), 2);
}

/// A proxy that, once its flag is set, freezes every connection.
async fn freezing_proxy(
    to: std::net::SocketAddr,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    fault_proxy(to, Fault::Freeze).await
}

/// What `fault_proxy` does to the traffic it forwards once its flag is set.
#[derive(Clone, Copy)]
enum Fault {
    /// Holds every connection open and forwards nothing more: what a path
    /// does when a laptop sleeps or a NAT forgets a connection, which TCP
    /// does not notice for many minutes.
    Freeze,
    /// Cuts the first answer that carries `marker` just before it and
    /// closes its connection (or, with `stall`, holds it open with nothing
    /// more sent, as a path that died silently): the server did the work,
    /// the client never hears the result. The flag is cleared by the cut.
    Cut { marker: &'static [u8], stall: bool },
}

/// Forwards TCP to `to`, doing `fault` once the returned flag is set.
async fn fault_proxy(
    to: std::net::SocketAddr,
    fault: Fault,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn copy(
        mut r: tokio::net::tcp::OwnedReadHalf,
        mut w: tokio::net::tcp::OwnedWriteHalf,
        flag: Arc<AtomicBool>,
        fault: Option<Fault>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match fault {
                Some(Fault::Freeze) if flag.load(Ordering::SeqCst) => {
                    std::future::pending::<()>().await;
                }
                Some(Fault::Cut { marker, stall }) => {
                    let at = buf[..n].windows(marker.len()).position(|w| w == marker);
                    if let Some(at) = at {
                        if flag.swap(false, Ordering::SeqCst) {
                            let _ = w.write_all(&buf[..at]).await;
                            if stall {
                                std::future::pending::<()>().await;
                            }
                            let _ = w.shutdown().await;
                            return;
                        }
                    }
                }
                _ => {}
            }
            if w.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            // Requests freeze too; only answers are cut.
            let upstream = matches!(fault, Fault::Freeze).then_some(fault);
            tokio::spawn(copy(cr, sw, f.clone(), upstream));
            tokio::spawn(copy(sr, cw, f.clone(), Some(fault)));
        }
    });
    (base, flag)
}

/// A proxy that cuts (or stalls) the first answer carrying `marker`.
async fn cutting_proxy(
    to: std::net::SocketAddr,
    marker: &'static [u8],
    stall: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    fault_proxy(to, Fault::Cut { marker, stall }).await
}

/// A refresh whose answer is cut off halfway (the server rotated the token,
/// the client never got the new one) is a network failure, tried again at
/// once with the same token: a new pair, and the device stays signed in.
#[tokio::test]
async fn a_refresh_whose_answer_is_lost_is_retried_and_the_device_stays_signed_in() {
    refresh_answer_lost(false).await;
}

/// A process that died after the server rotated its token, before it saved
/// the answer: the next process of the profile presents the same token
/// within the minute with the same retry key (made from the profile's own
/// secret), and the device stays signed in. Someone with the token alone
/// cannot make that key.
#[tokio::test]
async fn a_refresh_lost_with_its_process_is_retried_by_the_next_one() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    let (profile, s0) = signed_in_profile(&ts, &dir).await;
    let key = profile.refresh_retry_key(&s0.refresh_token).unwrap();
    assert_eq!(
        Profile::open(&dir)
            .unwrap()
            .refresh_retry_key(&s0.refresh_token)
            .unwrap(),
        key,
        "the same key in every process of the profile"
    );
    assert_ne!(profile.refresh_retry_key("another token").unwrap(), key);
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("retry.key")), 0o600);
    // The process that died: its exchange reached the server.
    let api = Api::new(&ts.base).unwrap();
    api.refresh_within(&s0.refresh_token, Some(&key), Duration::from_secs(15))
        .await
        .unwrap();
    // The next one, with the session as it was stored.
    refreshed_on_next_call(&profile, &s0).await;
}

/// Stores `s0` with its access token expired, opens a client on `profile`
/// (a new process) and checks that its first call refreshed the session.
async fn refreshed_on_next_call(profile: &Profile, s0: &Secrets) -> Client {
    store_secrets(
        profile,
        &Secrets {
            access_expires_at: 0,
            ..s0.clone()
        },
    );
    let client = Client::open(profile.clone()).await.unwrap();
    assert_eq!(client.me().await.unwrap().identifier, ANA);
    assert_ne!(stored(profile).refresh_token, s0.refresh_token);
    client
}

/// An account an admin disabled keeps its session on the device: calls
/// say `account_disabled` (nothing is cleared), and once it is enabled
/// again the same session works. Meanwhile the refusal is not asked for
/// again on every call, which would use up the address's refresh limit
/// (5 a minute here) for everyone behind it.
#[tokio::test]
async fn a_disabled_account_keeps_its_session_until_enabled() {
    let ts = TestServer::start_with(|c| c.refresh_rate_per_ip = 5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    let (profile, s0) = signed_in_profile(&ts, &dir).await;
    ts.set_disabled(true);
    store_secrets(
        &profile,
        &Secrets {
            access_expires_at: 0,
            ..s0.clone()
        },
    );
    let client = Client::open(profile.clone()).await.unwrap();
    let mut rx = client.subscribe();
    for _ in 0..20 {
        let err = client.me().await.unwrap_err();
        assert_eq!(err.code(), Some("account_disabled"), "{err:?}");
    }
    assert!(profile.info().unwrap().is_some(), "the session stays");
    assert!(!matches!(rx.try_recv(), Ok(ClientEvent::SignedOut { .. })));
    // The address may still refresh: the 20 calls asked the server once.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/auth/refresh", ts.base))
        .json(&serde_json::json!({"refresh_token": "not-a-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
    ts.set_disabled(false);
    // At most the first back-off (2 s) later, the session works again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match client.me().await {
            Ok(me) => break assert_eq!(me.identifier, ANA),
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(e.code(), Some("account_disabled"), "{e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("still refused after the back-off: {e:?}"),
        }
    }
}

/// A retry secret the profile cannot hold (here a folder where the file
/// goes) costs only the retry key: the refresh goes without one.
#[tokio::test]
async fn a_refresh_goes_without_a_key_when_the_profile_cannot_keep_one() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    drop(login(&ts, &dir, ANA).await);
    let _ = std::fs::remove_file(dir.join("retry.key"));
    std::fs::create_dir(dir.join("retry.key")).unwrap();
    let profile = Profile::open(&dir).unwrap();
    assert!(profile.refresh_retry_key("t").is_err());
    let s0 = stored(&profile);
    refreshed_on_next_call(&profile, &s0).await;
}

/// The answer never comes: the refresh times out (15 s) and the retry still
/// lands inside the server's window.
#[tokio::test]
async fn a_refresh_whose_answer_never_comes_is_retried_in_time() {
    refresh_answer_lost(true).await;
}

async fn refresh_answer_lost(stall: bool) {
    let ts = TestServer::start();
    let (proxy, armed) = cutting_proxy(ts.addr, b"\"refresh_token\"", stall).await;
    let tmp = tempfile::tempdir().unwrap();
    no_keyring();
    let code = ts.request_code(ANA).await;
    let dir = tmp.path().join("ana");
    let (client, _, _) = Client::login(Profile::open(&dir).unwrap(), &proxy, ANA, &code, "laptop")
        .await
        .unwrap();
    drop(client);
    let profile = Profile::open(&dir).unwrap();
    let s0 = stored(&profile);
    store_secrets(
        &profile,
        &Secrets {
            access_expires_at: 0,
            ..s0.clone()
        },
    );
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let client = Client::open(profile.clone()).await.unwrap();
    // Tried again at once with the same token: a new pair, the device in.
    assert_eq!(client.me().await.unwrap().identifier, ANA);
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "never cut"
    );
    assert_ne!(stored(&profile).refresh_token, s0.refresh_token);
    let revoked: Option<i64> = ts
        .db()
        .query_row(
            "SELECT revoked_at FROM devices WHERE id = ?1",
            [client.device_id()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(revoked, None);
}

/// A new device whose answer "approved" is cut off on the way polls again
/// and gets its session: the link is not spent for the device that made
/// it, and the user need not start over.
#[tokio::test]
async fn a_link_approval_whose_answer_is_lost_still_signs_the_new_device_in() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let (proxy, armed) = cutting_proxy(ts.addr, b"\"approved\"", false).await;
    let link =
        parley_client::client::start_link(&proxy, "Ana's Mac", parley_protocol::Platform::Macos)
            .await
            .unwrap();
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let qr: parley_protocol::qr::DeviceLinkQr = link.uri.parse().unwrap();
    let profile = Profile::open(tmp.path().join("mac")).unwrap();
    let (finish, approve) = tokio::join!(
        Client::finish_link(profile, &proxy, &link, Duration::from_secs(60), || {}),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            ana.approve_link(&qr).await
        }
    );
    approve.unwrap();
    let (mac, _) = finish.unwrap();
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "never cut"
    );
    assert_eq!(mac.me().await.unwrap().identifier, ANA);
    let devices = ana.devices().await.unwrap();
    assert_eq!(devices.iter().filter(|d| d.name == "Ana's Mac").count(), 1);
}

/// An invite redeemed whose answer is cut off: the client tries again with
/// the same retry key and gets the session; one new device, signed in.
#[tokio::test]
async fn an_invite_redeemed_whose_answer_is_lost_still_signs_the_new_device_in() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let invite = ana.invite_device().await.unwrap();
    let (proxy, armed) = cutting_proxy(ts.addr, b"\"access_token\"", false).await;
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let profile = Profile::open(tmp.path().join("tablet")).unwrap();
    let (tablet, _) = Client::join(profile, &proxy, &invite.uri, "tablet")
        .await
        .unwrap();
    assert!(
        !armed.load(std::sync::atomic::Ordering::SeqCst),
        "never cut"
    );
    assert_eq!(tablet.me().await.unwrap().identifier, ANA);
    let devices = ana.devices().await.unwrap();
    assert_eq!(devices.iter().filter(|d| d.name == "tablet").count(), 1);
}

/// A connection that goes silent without closing is noticed by the client's
/// own pings: the link goes offline, reconnects, and what was sent meanwhile
/// arrives. Without them it stays "online" and receives nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_goes_silent_is_noticed_and_replaced() {
    let ts = TestServer::start();
    let (proxy, frozen) = freezing_proxy(ts.addr).await;
    let tmp = tempfile::tempdir().unwrap();
    no_keyring();
    let code = ts.request_code(ANA).await;
    let (ana, _, _) = Client::login(
        Profile::open(tmp.path().join("ana")).unwrap(),
        &proxy,
        ANA,
        &code,
        "laptop",
    )
    .await
    .unwrap();
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;
    ana.set_link_silence_limit(Duration::from_millis(1500));
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "online", |e| onlines(e) == 1).await;

    frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    ben_sends(&ben, &chat, &["sent into the void"]).await;
    collect_until(&mut rx, &mut seen, "offline", |e| {
        e.iter().any(|e| {
            matches!(
                e,
                ClientEvent::Link {
                    state: LinkState::Offline,
                    ..
                }
            )
        })
    })
    .await;
    frozen.store(false, std::sync::atomic::Ordering::SeqCst);
    collect_until(&mut rx, &mut seen, "online again and the message", |e| {
        onlines(e) == 2 && created_by(e, ben.user_id()) == ["sent into the void"]
    })
    .await;
    stop_loop(stop, task).await;
}

/// A refusal for good does not hold back the messages queued after it, and
/// each message's outcome is told apart (the CLI reports its own).
#[tokio::test]
async fn a_refused_message_does_not_hold_back_the_next_ones() {
    let (ts, _tmp, ana, _ben, chat) = ana_and_ben().await;
    let bad = ana
        .queue_message(&chat, "bad", None, vec!["not-mine".into()])
        .await
        .unwrap();
    let good = ana
        .queue_message(&chat, "good", None, vec![])
        .await
        .unwrap();
    let report = ana.flush_outbox_report().await.unwrap();
    let ok = report.outcome(&good.message.client_id).unwrap().unwrap();
    assert_eq!(ok.message.body, "good");
    let refused = report.outcome(&bad.message.client_id).unwrap().unwrap_err();
    assert_eq!(refused.code, "invalid_field");
    assert_eq!(count_client_id(&ts, &good.message.client_id), 1);
    assert!(outbox_is_empty(&ana).await);
}

/// A message the server fails on (a 500 about that message; here a trigger
/// makes every insert into Ben's chat fail) holds back only its chat:
/// Carla's messages go out, over REST and over the socket, while Ben's wait
/// in order, and go once the server takes them again.
#[tokio::test]
async fn a_message_the_server_fails_on_holds_back_only_its_chat() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let carla = login(&ts, &tmp.path().join("carla"), "carla@example.org").await;
    let chat_b = connect(&ana, &ben).await;
    let chat_c = connect(&ana, &carla).await;
    let poison = |on: bool| {
        let db = ts.db_mut();
        let sql = if on {
            format!(
                "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.chat_id = '{chat_b}' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
        } else {
            "DROP TRIGGER poison".to_owned()
        };
        db.execute_batch(&sql).unwrap();
    };
    poison(true);
    for body in ["b1", "c1", "b2", "c2"] {
        let chat = if body.starts_with('b') {
            &chat_b
        } else {
            &chat_c
        };
        ana.queue_message(chat, body, None, vec![]).await.unwrap();
    }

    // Over REST: Carla's go, Ben's first is deferred and his second waits.
    let report = ana.flush_outbox_report().await.unwrap();
    let sent: Vec<_> = report
        .sent
        .iter()
        .map(|m| m.message.body.as_str())
        .collect();
    assert_eq!(sent, ["c1", "c2"]);
    assert_eq!(report.deferred.len(), 1, "{report:?}");
    assert_eq!(report.deferred[0].problem.status, 500);
    assert_eq!(report.deferred[0].chat_id, chat_b);
    assert!(report.refused.is_empty());
    assert!(stored_bodies(&ts, &chat_b).is_empty());

    // Over the socket: the same, with one more for Carla written meanwhile.
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "online", |e| onlines(e) == 1).await;
    ana.queue_message(&chat_c, "c3", None, vec![])
        .await
        .unwrap();
    collect_until(&mut rx, &mut seen, "Carla's third", |e| {
        sent_events(e).iter().any(|m| m.message.body == "c3")
    })
    .await;
    assert_eq!(stored_bodies(&ts, &chat_c), ["c1", "c2", "c3"]);
    assert!(stored_bodies(&ts, &chat_b).is_empty());

    // The server takes them again: Ben's go, in order.
    poison(false);
    collect_until(&mut rx, &mut seen, "Ben's two", |e| {
        sent_events(e)
            .iter()
            .filter(|m| m.message.chat_id == chat_b)
            .count()
            == 2
    })
    .await;
    assert_eq!(stored_bodies(&ts, &chat_b), ["b1", "b2"]);
    assert!(outbox_is_empty(&ana).await);
    stop_loop(stop, task).await;
}

/// Signed out by the server with messages still queued, then signed in
/// again as the same person: the queue is still there and goes out. Someone
/// else signing in to that profile starts from an empty cache.
#[tokio::test]
async fn signing_in_again_keeps_what_was_queued() {
    let mut ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ana");
    let ana = login(&ts, &dir, ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;
    ts.stop();
    let queued = ana
        .queue_message(&chat, "written before the sign-out", None, vec![])
        .await
        .unwrap();
    ts.start_again();
    // The session is gone (revoked elsewhere, or removed from the profile).
    ana.profile().clear().unwrap();
    drop(ana);
    let ana = login(&ts, &dir, ANA).await;
    let sent = ana.flush_outbox().await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].message.client_id, queued.message.client_id);
    assert_eq!(count_client_id(&ts, &queued.message.client_id), 1);

    ts.stop();
    ana.queue_message(&chat, "Ana's, not Ben's", None, vec![])
        .await
        .unwrap();
    ts.start_again();
    ana.profile().clear().unwrap();
    drop(ana);
    let ben_here = login(&ts, &dir, BEN).await;
    assert!(
        outbox_is_empty(&ben_here).await,
        "another user's queue is gone"
    );
}

/// The session disappearing from the profile (another process signed out)
/// is announced on the event channel, which is what the desktop acts on.
#[tokio::test]
async fn a_session_removed_from_the_profile_is_announced() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let mut rx = ana.subscribe();
    ana.profile().clear().unwrap();
    let err = ana.force_refresh().await.unwrap_err();
    assert!(matches!(err, ClientError::SignedOut(_)), "{err:?}");
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "signed out", |e| {
        e.iter().any(|e| matches!(e, ClientEvent::SignedOut { .. }))
    })
    .await;
}

/// A request declined on one of my devices leaves the others' caches too,
/// so they stop offering Accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_declined_elsewhere_leaves_this_device() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let phone = login(&ts, &tmp.path().join("ana-phone"), ANA).await;
    let laptop = login(&ts, &tmp.path().join("ana-laptop"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let incoming = |c: &Client| {
        let c = c.clone();
        async move {
            c.cache()
                .run(|db| cache::requests(db, true))
                .await
                .unwrap()
                .len()
        }
    };
    let mut rx = laptop.subscribe();
    let (stop, task) = run_loop(&laptop);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "online", |e| onlines(e) == 1).await;
    let code = phone.contact_code().await.unwrap();
    let req = ben.request_connection(&code.code).await.unwrap();
    let kinds = |e: &[ClientEvent], kind: &str| {
        e.iter()
            .filter(|e| matches!(e, ClientEvent::Event { event, .. } if event.kind() == kind))
            .count()
    };
    collect_until(&mut rx, &mut seen, "the request", |e| {
        kinds(e, "connection.requested") == 1
    })
    .await;
    assert_eq!(incoming(&laptop).await, 1);
    phone.decline(&req.id).await.unwrap();
    collect_until(&mut rx, &mut seen, "the decline", |e| {
        kinds(e, "connection.requested") == 2
    })
    .await;
    assert_eq!(incoming(&laptop).await, 0, "no Accept left to offer");
    stop_loop(stop, task).await;
}

/// An event of a known kind that this client cannot read is not
/// acknowledged at first (it is not lost), but after a few tries the state
/// is reloaded over REST and the link steps over it, instead of staying
/// down for good; what comes after it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_event_does_not_keep_the_link_down() {
    let (ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    // A message.created that does not decode (say, from a newer server),
    // appended to Ana's log as the server would.
    let bad_seq = {
        let db = ts.db_mut();
        let seq: i64 = db
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE user_id = ?1",
                [ana.user_id()],
                |r| r.get(0),
            )
            .unwrap();
        db.execute(
            "INSERT INTO events (user_id, seq, payload, created_at) VALUES (?1, ?2, ?3, 0)",
            rusqlite::params![
                ana.user_id(),
                seq,
                r#"{"kind":"message.created","message":{"id":42}}"#
            ],
        )
        .unwrap();
        seq as u64
    };
    ben_sends(&ben, &chat, &["after the bad one"]).await;
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "the message after it", |e| {
        created_by(e, ben.user_id()) == ["after the bad one"]
    })
    .await;
    let cursor = ana.cache().run(|c| cache::cursor(c)).await.unwrap();
    assert!(cursor > bad_seq, "stepped over {bad_seq}: cursor {cursor}");
    stop_loop(stop, task).await;
}

/// A chat muted or pinned on one device is so on the others: the laptop's
/// cache follows the phone's mute, unmute and pin live; the client refuses
/// a mute whose end has passed before asking the server; pinned chats come
/// first in the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_and_a_pin_reach_my_other_devices() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let phone = login(&ts, &tmp.path().join("ana-phone"), ANA).await;
    let laptop = login(&ts, &tmp.path().join("ana-laptop"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&phone, &ben).await;
    laptop.chats().await.unwrap();
    let cached_mute = |c: &Client| {
        let (c, chat) = (c.clone(), chat.clone());
        async move {
            c.cache()
                .run(move |db| cache::chat(db, &chat))
                .await
                .unwrap()
                .unwrap()
                .mute
        }
    };
    let mut rx = laptop.subscribe();
    let (stop, task) = run_loop(&laptop);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "online", |e| onlines(e) == 1).await;
    let muted = |e: &[ClientEvent]| {
        e.iter()
            .filter(
                |e| matches!(e, ClientEvent::Event { event, .. } if event.kind() == "chat.muted"),
            )
            .count()
    };

    let week = Mute {
        until: Some(chrono::Utc::now() + chrono::Duration::weeks(1)),
    };
    phone.mute(&chat, Some(week)).await.unwrap();
    let ms = |m: Option<Mute>| m.map(|m| m.until.map(|t| t.timestamp_millis()));
    assert_eq!(
        ms(cached_mute(&phone).await),
        ms(Some(week)),
        "the phone's own cache, as the server has it"
    );
    collect_until(&mut rx, &mut seen, "the mute", |e| muted(e) == 1).await;
    let on_laptop = cached_mute(&laptop).await.unwrap();
    assert_eq!(
        on_laptop.until.map(|t| t.timestamp_millis()),
        week.until.map(|t| t.timestamp_millis())
    );
    phone.mute(&chat, None).await.unwrap();
    collect_until(&mut rx, &mut seen, "the unmute", |e| muted(e) == 2).await;
    assert_eq!(cached_mute(&laptop).await, None);
    assert!(ben.chats().await.unwrap()[0].mute.is_none());

    let past = Mute {
        until: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
    };
    let err = phone.mute(&chat, Some(past)).await.unwrap_err();
    assert!(err.to_string().contains("future"), "{err}");

    // A newer chat with Carol comes first, until Ben's is pinned.
    let carol = login(&ts, &tmp.path().join("carol"), "carol@example.org").await;
    let with_carol = connect(&phone, &carol).await;
    carol
        .queue_message(&with_carol, "hi", None, vec![])
        .await
        .unwrap();
    carol.flush_outbox().await.unwrap();
    let order =
        |list: Vec<parley_protocol::Chat>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        order(phone.chats().await.unwrap()),
        [with_carol.clone(), chat.clone()]
    );
    phone.pin(&chat, true).await.unwrap();
    assert_eq!(
        order(phone.chats().await.unwrap()),
        [chat.clone(), with_carol.clone()]
    );
    let pinned = |e: &[ClientEvent]| {
        e.iter()
            .filter(
                |e| matches!(e, ClientEvent::Event { event, .. } if event.kind() == "chat.pinned"),
            )
            .count()
    };
    collect_until(&mut rx, &mut seen, "the pin", |e| pinned(e) == 1).await;
    let on_laptop = laptop.cache().run(|db| cache::chats(db)).await.unwrap();
    assert!(
        on_laptop
            .iter()
            .any(|c| c.id == chat && c.pinned_at.is_some()),
        "{on_laptop:?}"
    );
    stop_loop(stop, task).await;
}

/// A chat cleared on the phone is cleared on the laptop (live, from
/// `chat.cleared`) and in the phone's own cache at once; Ben keeps his
/// history; what Ben sends next shows on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleared_chat_is_cleared_on_my_other_devices() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let phone = login(&ts, &tmp.path().join("ana-phone"), ANA).await;
    let laptop = login(&ts, &tmp.path().join("ana-laptop"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&phone, &ben).await;
    ben_sends(&ben, &chat, &["one", "two", "three"]).await;
    laptop.chats().await.unwrap();
    assert_eq!(laptop.history(&chat, 10).await.unwrap().len(), 3);
    // A third profile with the history cached and no realtime loop (a CLI).
    let tablet = login(&ts, &tmp.path().join("ana-tablet"), ANA).await;
    tablet.chats().await.unwrap();
    assert_eq!(tablet.history(&chat, 10).await.unwrap().len(), 3);
    let cached = |c: &Client| {
        let (c, chat) = (c.clone(), chat.clone());
        async move {
            c.cache()
                .run(move |db| cache::messages(db, &chat, None, 50))
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.message.body)
                .collect::<Vec<_>>()
        }
    };
    let mut rx = laptop.subscribe();
    let (stop, task) = run_loop(&laptop);
    let mut seen = Vec::new();
    collect_until(&mut rx, &mut seen, "online", |e| onlines(e) == 1).await;

    let last = phone.history(&chat, 10).await.unwrap().pop().unwrap();
    phone.clear_chat(&chat, last.message.seq).await.unwrap();
    assert!(
        cached(&phone).await.is_empty(),
        "the phone's own cache, at once"
    );
    let listed = phone.chats().await.unwrap();
    assert_eq!(listed[0].cleared_up_to_seq, last.message.seq);
    assert_eq!(
        (listed[0].unread_count, &listed[0].last_message),
        (0, &None)
    );
    assert!(phone.history(&chat, 10).await.unwrap().is_empty());
    collect_until(&mut rx, &mut seen, "the clear", |e| {
        e.iter().any(
            |e| matches!(e, ClientEvent::Event { event, .. } if event.kind() == "chat.cleared"),
        )
    })
    .await;
    assert!(cached(&laptop).await.is_empty(), "the laptop's cache");
    // The tablet learns of it from the chat list alone.
    tablet.chats().await.unwrap();
    assert!(
        cached(&tablet).await.is_empty(),
        "a cache without the event"
    );
    assert_eq!(
        ben.history(&chat, 10).await.unwrap().len(),
        3,
        "Ben keeps his"
    );

    ben_sends(&ben, &chat, &["four"]).await;
    collect_until(&mut rx, &mut seen, "the next message", |e| {
        created_by(e, ben.user_id()).contains(&"four".to_string())
    })
    .await;
    assert_eq!(cached(&laptop).await, ["four"]);
    assert_eq!(
        phone
            .history(&chat, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.message.body)
            .collect::<Vec<_>>(),
        ["four"]
    );
    stop_loop(stop, task).await;
}

/// Older messages with a hole in the cache (a sync cut short by the
/// network left a range unfetched) come from the server, not as a page
/// that silently skips the missing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_messages_fill_a_hole_in_the_cache() {
    let (_ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    let bodies: Vec<String> = (1..=12).map(|i| format!("m{i}")).collect();
    ben_sends(
        &ben,
        &chat,
        &bodies.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(ana.history(&chat, 50).await.unwrap().len(), 12);
    let c = chat.clone();
    ana.cache()
        .run(move |db| {
            db.execute(
                "DELETE FROM messages WHERE chat_id = ?1 AND seq BETWEEN 4 AND 8",
                [&c],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let seqs = |page: Vec<parley_client::cache::CachedMessage>| {
        page.into_iter().map(|m| m.message.seq).collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(ana.older_messages(&chat, 11, 5).await.unwrap()),
        [6, 7, 8, 9, 10]
    );
    // Reaching the first message is complete too, with a short page.
    assert_eq!(
        seqs(ana.older_messages(&chat, 4, 5).await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        seqs(ana.older_messages(&chat, 6, 5).await.unwrap()),
        [1, 2, 3, 4, 5]
    );
}

/// A file over the server's limit is said to be too large, or at least
/// that it may be (the server answers 413 and closes the connection while
/// the file is still going out, so the client may see only the break).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limit_is_said_to_be_too_large() {
    let (_ts, tmp, ana, _ben, _chat) = ana_and_ben().await;
    let big = tmp.path().join("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(parley_protocol::limits::ATTACHMENT_MAX_BYTES as u64 + 1024 * 1024)
        .unwrap();
    let err = ana.upload(&big, |_| {}).await.unwrap_err().to_string();
    assert!(
        err.contains("may be over the server's limit (usually 25 MiB)")
            || err.contains("payload_too_large"),
        "{err}"
    );
}

/// A chat with someone no longer a contact stays mine to pin, mute and
/// clear (the server refuses to open it by peer, so the cache follows the
/// chat by id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_with_an_ex_contact_can_still_be_pinned_and_cleared() {
    let (_ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    ben_sends(&ben, &chat, &["bye"]).await;
    let seq = ana
        .history(&chat, 5)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .message
        .seq;
    ana.remove_contact(ben.user_id()).await.unwrap();
    let err = ana
        .chat_with(&parley_protocol::UserId(ben.user_id().to_owned()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not connected"), "{err}");
    ana.pin(&chat, true).await.unwrap();
    ana.mute(&chat, Some(Mute { until: None })).await.unwrap();
    ana.clear_chat(&chat, seq).await.unwrap();
    let cached = ana
        .cache()
        .run({
            let chat = chat.clone();
            move |db| cache::chat(db, &chat)
        })
        .await
        .unwrap()
        .unwrap();
    assert!(cached.pinned_at.is_some() && cached.mute.is_some());
    assert_eq!(cached.cleared_up_to_seq, seq);
    assert!(ana.history(&chat, 5).await.unwrap().is_empty());
}

/// Ana deletes her account on her phone with a fresh code (a wrong one is
/// refused once, not twice: the client does not take the 403 for an expired
/// token); her laptop, offline meanwhile, learns it at its next call and
/// keeps nothing of the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_leaves_nothing_on_my_other_devices() {
    let ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let phone = login(&ts, &tmp.path().join("ana-phone"), ANA).await;
    let laptop_dir = tmp.path().join("ana-laptop");
    let laptop = login(&ts, &laptop_dir, ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&phone, &ben).await;
    ben_sends(&ben, &chat, &["secret plans"]).await;
    laptop.chats().await.unwrap();
    assert_eq!(laptop.history(&chat, 5).await.unwrap().len(), 1);
    assert!(laptop_dir.join("cache.db").exists());

    let seen = ts.code_count(ANA);
    let (to, _) = phone.ask_deletion_code().await.unwrap();
    assert_eq!(to, ANA);
    let code = ts.wait_code(ANA, seen);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let err = phone.delete_account(wrong).await.unwrap_err();
    assert!(err.to_string().contains("4 attempt(s) left"), "{err}");
    phone.delete_account(&code).await.unwrap();

    let err = laptop.chats().await.unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    assert!(
        !laptop_dir.join("cache.db").exists(),
        "the laptop's cache is gone"
    );
}

/// Ana forwards Ben's message to Carol: the text, and the photo as Ana's own
/// upload (same bytes, name and type), which Carol can download though
/// Ben's original is not hers to see. A deleted message or an unknown id
/// is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_forwarded_with_its_attachments() {
    use parley_client::download::Destination;
    let (ts, tmp, ana, ben, chat) = ana_and_ben().await;
    let carol = login(&ts, &tmp.path().join("carol"), "carol@example.org").await;
    let to_carol = connect(&ana, &carol).await;
    let carol_id = parley_protocol::UserId(carol.user_id().to_owned());
    let photo = tmp.path().join("beach.png");
    std::fs::write(
        &photo,
        b"\x89PNG\r\n\x1a\n not really a picture".repeat(500),
    )
    .unwrap();
    let up = ben.upload(&photo, |_| {}).await.unwrap();
    ben.queue_message(&chat, "Look at this", None, vec![up.id.clone()])
        .await
        .unwrap();
    ben.flush_outbox().await.unwrap();
    let original = ana.history(&chat, 5).await.unwrap().pop().unwrap();

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    ana.forward(&original.message.id, &carol_id, move |done, total| {
        s2.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    ana.flush_outbox().await.unwrap();
    let progress = seen.lock().unwrap().clone();
    let total = up.size * 2;
    assert!(
        progress.iter().all(|&(d, t)| t == total && d <= total),
        "{progress:?}"
    );
    assert_eq!(progress.last().map(|p| p.0), Some(total), "{progress:?}");

    let got = carol.history(&to_carol, 5).await.unwrap().pop().unwrap();
    assert_eq!(got.message.body, "Look at this");
    assert!(got.message.forwarded, "marked as forwarded");
    assert!(!original.message.forwarded);
    assert_eq!(got.message.sender_id.as_str(), ana.user_id());
    let (copy, first) = (
        &got.message.attachments[0],
        &original.message.attachments[0],
    );
    assert_ne!(copy.id, first.id, "Ana's own upload");
    assert_eq!(
        (&copy.sha256, copy.size, &copy.mime),
        (&first.sha256, first.size, &first.mime)
    );
    assert_eq!(copy.name.as_deref(), Some("beach.png"));
    let saved = carol
        .save_attachment(
            copy,
            Destination::Folder(tmp.path().join("carol-dl")),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(saved).unwrap(),
        std::fs::read(&photo).unwrap()
    );
    // Ben's original is still not Carol's to download: only the copy is.
    let denied = carol
        .save_attachment(
            first,
            Destination::Folder(tmp.path().join("carol-dl")),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("attachment_not_found"), "{denied}");

    // Refused before anything is queued.
    let err = ana
        .forward("no-such-message", &carol_id, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not among the recent messages"),
        "{err}"
    );
    ana.queue_message(&chat, "oops", None, vec![])
        .await
        .unwrap();
    let sent = ana.flush_outbox().await.unwrap().pop().unwrap();
    ana.call(|api, t| {
        let id = sent.message.id.clone();
        async move { api.delete_message(&t, &id).await }
    })
    .await
    .unwrap();
    ana.history(&chat, 5).await.unwrap();
    let err = ana
        .forward(&sent.message.id, &carol_id, |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    assert_eq!(carol.history(&to_carol, 5).await.unwrap().len(), 1);
}

/// Naming a search result's chat: a device that never listed its chats asks
/// the server for that one chat (and keeps it); one that has it cached asks
/// nothing (the server is stopped to prove it).
#[tokio::test]
async fn a_chat_is_named_from_the_cache_or_with_one_request() {
    let (mut ts, tmp, _ana, ben, chat) = ana_and_ben().await;
    let ben_name = ben.me().await.unwrap().user.display_name;
    let laptop = login(&ts, &tmp.path().join("ana-laptop"), ANA).await;
    let cached = |c: &Client| {
        let (c, chat) = (c.clone(), chat.clone());
        async move {
            c.cache()
                .run(move |db| cache::chat(db, &chat))
                .await
                .unwrap()
        }
    };
    assert!(cached(&laptop).await.is_none());
    let named = laptop.known_chat(&chat).await.unwrap();
    assert_eq!(named.peer.display_name, ben_name);
    assert_eq!(cached(&laptop).await.unwrap().id, chat);
    ts.stop();
    assert_eq!(
        laptop.known_chat(&chat).await.unwrap().peer.display_name,
        ben_name
    );
    let err = laptop
        .known_chat("01a21d12-c4f5-7632-b108-49dab435fdeb")
        .await;
    assert!(err.is_err(), "{err:?}");
}

/// A backlog written offline goes out in the order it was written, though
/// the server's send budget refuses part of it for now: a budget that
/// refills while the backlog arrives accepts some from its middle, and had
/// they all been sent at once those would be stored before the ones
/// refused ahead of them.
#[tokio::test]
async fn a_backlog_refused_in_part_is_stored_in_order() {
    let ts = TestServer::start_with(|c| c.ws_rate = 20);
    let tmp = tempfile::tempdir().unwrap();
    let ana = login(&ts, &tmp.path().join("ana"), ANA).await;
    let ben = login(&ts, &tmp.path().join("ben"), BEN).await;
    let chat = connect(&ana, &ben).await;
    let bodies: Vec<String> = (0..100).map(|i| format!("backlog {i}")).collect();
    for b in &bodies {
        ana.queue_message(&chat, b, None, vec![]).await.unwrap();
    }
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut all = Vec::new();
    collect_until(&mut rx, &mut all, "every queued message sent", |e| {
        sent_events(e).len() >= bodies.len()
    })
    .await;
    let stored = stored_bodies(&ts, &chat);
    assert_eq!(stored, bodies);
    stop_loop(stop, task).await;
}

/// A device away longer than the server keeps its event log reloads its
/// state: what changed meanwhile in messages it had cached (an edit, a
/// deletion) shows, new messages are there, and it goes on from the
/// server's newest event.
#[tokio::test]
async fn a_device_away_too_long_reloads_what_changed_in_its_cache() {
    let (ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    ben_sends(&ben, &chat, &["keep", "to edit", "to delete"]).await;
    let cached = ana.history(&chat, 50).await.unwrap();
    assert_eq!(cached.len(), 3);
    let id = |body: &str| {
        cached
            .iter()
            .find(|m| m.message.body == body)
            .unwrap()
            .message
            .id
            .clone()
    };
    let (edit, delete) = (id("to edit"), id("to delete"));
    // Ana's cursor stays where it is while Ben changes things.
    ben.call(|api, t| {
        let edit = edit.clone();
        async move { api.edit_message(&t, &edit, "edited").await }
    })
    .await
    .unwrap();
    ben.call(|api, t| {
        let delete = delete.clone();
        async move { api.delete_message(&t, &delete).await }
    })
    .await
    .unwrap();
    ben_sends(&ben, &chat, &["new"]).await;
    // Her log is pruned past her cursor, as the retention window would.
    let current: i64 = ts
        .db()
        .query_row(
            "SELECT MAX(seq) FROM events WHERE user_id = ?1",
            [ana.user_id()],
            |r| r.get(0),
        )
        .unwrap();
    let db = ts.db_mut();
    db.execute(
        "DELETE FROM events WHERE user_id = ?1 AND seq < ?2",
        rusqlite::params![ana.user_id(), current],
    )
    .unwrap();
    drop(db);

    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut all = Vec::new();
    collect_until(&mut rx, &mut all, "resynced and online", |e| {
        e.iter().any(|e| matches!(e, ClientEvent::Resynced)) && onlines(e) >= 1
    })
    .await;
    stop_loop(stop, task).await;
    let shown = ana
        .cache()
        .run({
            let chat = chat.clone();
            move |c| cache::messages(c, &chat, None, 50)
        })
        .await
        .unwrap();
    let bodies: Vec<(String, bool)> = shown
        .iter()
        .map(|m| (m.message.body.clone(), m.message.deleted))
        .collect();
    assert_eq!(
        bodies,
        [
            ("keep".to_owned(), false),
            ("edited".to_owned(), false),
            (String::new(), true),
            ("new".to_owned(), false)
        ]
    );
    let cursor = ana.cache().run(|c| cache::cursor(c)).await.unwrap();
    assert_eq!(cursor, current as u64);
}

/// The cache files set aside in the profile folder `dir`.
fn set_aside_caches(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("cache-") && n.ends_with(".db"))
        .collect();
    names.sort();
    names
}

/// Another account signing in on a profile whose account left messages
/// that never reached the server (signed out by the server, the cache and
/// its queue kept) sets that cache aside instead of deleting it; when the
/// first account signs in there again, they come back and go out.
#[tokio::test]
async fn another_account_signing_in_sets_unsent_messages_aside_until_their_account_returns() {
    let (ts, tmp, ana, _ben, chat) = ana_and_ben().await;
    let queued = ana
        .queue_message(&chat, "written, never sent", None, vec![])
        .await
        .unwrap();
    let client_id = queued.message.client_id;
    let dir = tmp.path().join("ana");
    Profile::open(&dir).unwrap().clear().unwrap();
    // While Ana's cache is still open (her client, or another program of
    // the profile), it is neither moved nor deleted: the sign-in says so.
    let code = ts.request_code("carl@example.org").await;
    let carl_signs_in = || {
        let profile = Profile::open(&dir).unwrap();
        Client::login(profile, &ts.base, "carl@example.org", &code, "d")
    };
    let err = carl_signs_in()
        .await
        .err()
        .expect("refused while the cache is open");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(ana);
    // Refused before the server was asked: the code is still good.
    let (carl, _, _) = carl_signs_in().await.unwrap();
    assert_eq!(carl.unsent_count().await.unwrap(), 0);
    assert!(carl.my_message(&client_id).await.unwrap().is_none());
    assert_eq!(set_aside_caches(&dir).len(), 1);
    drop(carl);
    Profile::open(&dir).unwrap().clear().unwrap();

    // Carl's cache holds nothing unsent: it goes, and Ana's comes back.
    let ana = login(&ts, &dir, ANA).await;
    assert_eq!(set_aside_caches(&dir), Vec::<String>::new());
    let back = ana.my_message(&client_id).await.unwrap().unwrap();
    assert_eq!(back.state, LocalState::Pending);
    ana.flush_outbox().await.unwrap();
    assert_eq!(count_client_id(&ts, &client_id), 1);
    assert_eq!(ana.unsent_count().await.unwrap(), 0);
}

/// An attachment shown once is kept on the device under its SHA-256: shown
/// again it is read from there, offline too; a kept copy that is not whole
/// is downloaded again; signing out deletes what was kept.
#[tokio::test]
async fn shown_attachments_are_kept_on_the_device_until_sign_out() {
    let (mut ts, tmp, ana, ben, chat) = ana_and_ben().await;
    let file = tmp.path().join("photo.png");
    write_png(&file);
    let photo = ana.upload(&file, |_| {}).await.unwrap();
    ana.queue_message(&chat, "", None, vec![photo.id.clone()])
        .await
        .unwrap();
    ana.flush_outbox().await.unwrap();
    let att = ben
        .history(&chat, 5)
        .await
        .unwrap()
        .last()
        .unwrap()
        .message
        .attachments[0]
        .clone();
    let original = std::fs::read(&file).unwrap();
    assert_eq!(ben.attachment_bytes(&att).await.unwrap(), original);
    let media = tmp.path().join("ben").join("media");
    // One folder per account, private.
    let mine = std::fs::read_dir(&media)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = mine.join(att.sha256.to_ascii_lowercase());
    assert_eq!(std::fs::read(&kept).unwrap(), original);
    #[cfg(unix)]
    assert_eq!(mode(&mine) & 0o777, 0o700);

    ts.stop();
    assert_eq!(ben.attachment_bytes(&att).await.unwrap(), original);
    // Cut short (a crash mid-write by an older version, a full disk):
    // offline it cannot be shown, and it is not shown cut.
    std::fs::write(&kept, &original[..10]).unwrap();
    assert!(ben.attachment_bytes(&att).await.unwrap_err().is_transient());
    ts.start_again();
    assert_eq!(ben.attachment_bytes(&att).await.unwrap(), original);
    assert_eq!(std::fs::read(&kept).unwrap(), original);

    ben.logout().await.unwrap();
    assert!(!media.exists());
}

/// The link says why it is down: the server's code when it refused (a
/// window words it), and the network's failure otherwise.
#[tokio::test]
async fn the_link_says_why_it_is_down() {
    let mut ts = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let client = login(&ts, &tmp.path().join("ana"), ANA).await;
    ts.set_disabled(true);
    let offline = |code: Option<&'static str>| {
        move |all: &[ClientEvent]| {
            all.iter().any(|e| {
                matches!(e, ClientEvent::Link { state: LinkState::Offline, retry_in_ms: Some(_), reason: Some(_), code: c }
                    if c.as_deref() == code)
            })
        }
    };
    let mut rx = client.subscribe();
    let mut all = Vec::new();
    let (stop, task) = run_loop(&client);
    collect_until(
        &mut rx,
        &mut all,
        "offline: account_disabled",
        offline(Some("account_disabled")),
    )
    .await;
    stop_loop(stop, task).await;

    ts.set_disabled(false);
    ts.stop();
    let mut all = Vec::new();
    let (stop, task) = run_loop(&client);
    collect_until(&mut rx, &mut all, "offline without a code", offline(None)).await;
    stop_loop(stop, task).await;
}

/// The chats as the cache holds them follow the realtime link: a new
/// message and its unread count show without asking the server, which can
/// be gone.
#[tokio::test]
async fn cached_chats_follow_the_realtime_link() {
    let (mut ts, _tmp, ana, ben, chat) = ana_and_ben().await;
    ben_sends(&ben, &chat, &["one"]).await;
    assert_eq!(ana.chats().await.unwrap()[0].unread_count, 1);
    let mut rx = ana.subscribe();
    let (stop, task) = run_loop(&ana);
    let mut all = Vec::new();
    collect_until(&mut rx, &mut all, "online", |e| onlines(e) > 0).await;
    ben_sends(&ben, &chat, &["two"]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = ana.cached_chats().await.unwrap();
        let c = &list[0];
        if c.last_message.as_ref().is_some_and(|m| m.body == "two") {
            assert_eq!(c.unread_count, 2);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_loop(stop, task).await;
    ts.stop();
    assert_eq!(ana.cached_chats().await.unwrap()[0].unread_count, 2);
}
