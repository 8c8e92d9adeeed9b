//! One function per command.

use super::{output, Cli, Command, DevicesCmd, ProfileCmd, QrCmd};
use indicatif::{ProgressBar, ProgressStyle};
use parley_client::{
    cache::{CachedMessage, LocalState},
    qr::{self, QrMatrix, QrPayload, TerminalTheme},
    request_code, start_link, Client, ClientError, ClientEvent, Profile, Result, SecretStore,
};
use parley_protocol::{limits, Direction, Mute, Platform, UpdateMe};
use std::{
    io::{BufRead, IsTerminal, Write},
    path::Path,
    time::Duration,
};

pub async fn run(cli: Cli) -> Result<()> {
    let profile = Profile::open(cli.profile.clone().unwrap_or_else(Profile::default_dir))?;
    let json = cli.json;
    let ctx = Ctx {
        profile,
        json,
        server: cli.server.clone(),
        qr_theme: cli
            .qr_theme
            .resolve(std::env::var("COLORFGBG").ok().as_deref()),
    };
    match cli.command {
        Command::Login {
            identifier,
            code,
            device_name,
        } => ctx.login(&identifier, code, device_name).await,
        Command::Logout { yes } => {
            let c = match ctx.client().await {
                Ok(c) => c,
                // The profile remembers a server but its session is gone
                // (a keyring entry lost): nothing to tell the server, forget
                // what is left here.
                Err(ClientError::NotSignedIn) if ctx.profile.info().ok().flatten().is_some() => {
                    ctx.profile.clear()?;
                    ctx.done("signed out", serde_json::json!({"signed_out": true}));
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if !yes {
                confirm_losing_unsent(&c, None, "`parley logout --yes`").await?;
            }
            match c.logout().await {
                Ok(()) => {}
                // The session is forgotten here either way; say what the
                // server could not be told.
                Err(e) if e.is_transient() => eprintln!(
                    "parley: warning: could not reach the server ({e}); this profile is signed out, \
                     but the device stays in your device list until you revoke it from another one"
                ),
                Err(e) => return Err(e),
            }
            ctx.done("signed out", serde_json::json!({"signed_out": true}));
            Ok(())
        }
        Command::Whoami => {
            let c = ctx.client().await?;
            let me = c.me().await?;
            if json {
                output::json(
                    &serde_json::json!({"user": me, "device_id": c.device_id(), "server": c.server()}),
                );
            } else {
                out!(
                    "{} ({}){} on {} — device {}",
                    me.user.display_name,
                    me.identifier,
                    me.user
                        .username
                        .as_ref()
                        .map(|u| format!(" @{u}"))
                        .unwrap_or_default(),
                    c.server(),
                    c.device_id()
                );
            }
            Ok(())
        }
        Command::Profile(ProfileCmd::Set(p)) => {
            let c = ctx.client().await?;
            let mut me = None;
            let patch = UpdateMe {
                display_name: p.name,
                username: p.username,
                bio: p.bio,
                status_text: p.status,
                settings: None,
            };
            if patch != UpdateMe::default() {
                me = Some(c.update_profile(patch).await?);
            }
            if let Some(path) = &p.avatar {
                me = Some(c.set_avatar(path).await?);
            }
            let me = me.ok_or_else(|| {
                ClientError::Invalid(
                    "nothing to change: give --name, --username, --bio, --status or --avatar"
                        .into(),
                )
            })?;
            if json {
                output::json(&me);
            } else {
                out!(
                    "profile updated: {}{}",
                    me.user.display_name,
                    me.user
                        .username
                        .map(|u| format!(" @{u}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Qr(QrCmd::Contact { png, svg }) => {
            let c = ctx.client().await?;
            let code = c.contact_code().await?;
            let m = QrMatrix::encode(&code.uri).map_err(|e| ClientError::Invalid(e.to_string()))?;
            write_qr_files(&m, png.as_deref(), svg.as_deref())?;
            if json {
                output::json(&code);
            } else {
                out!("{}", m.to_terminal(ctx.qr_theme));
                out!("{}", code.uri);
                out!(
                    "Typed code: {}  (expires {})",
                    code.short_code,
                    code.expires_at
                        .with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                );
            }
            Ok(())
        }
        Command::Qr(QrCmd::Decode { image }) => {
            let payload = decode_image(&image).await?;
            print_payload(json, &payload);
            Ok(())
        }
        Command::Qr(QrCmd::Scan {
            image,
            camera,
            device,
            yes,
        }) => {
            let payload = match (image, camera) {
                (Some(path), false) if path.exists() => decode_image(&path).await?,
                (Some(text), false) => ctx.typed_code(&text.to_string_lossy()).await?,
                (None, true) => scan_camera(device, json).await?,
                _ => {
                    return Err(ClientError::Invalid(
                        "give an image file or --camera".into(),
                    ))
                }
            };
            ctx.act_on(payload, yes).await
        }
        Command::Requests { outgoing } => {
            let c = ctx.client().await?;
            let dir = if outgoing {
                Direction::Outgoing
            } else {
                Direction::Incoming
            };
            let list = c.requests(dir).await?;
            let which = if outgoing { "outgoing" } else { "incoming" };
            output::list(json, &list, &format!("no pending {which} requests"), |r| {
                output::request(r, !outgoing)
            });
            Ok(())
        }
        Command::Accept { id } => {
            let c = ctx.client().await?;
            let conn = c.accept(&id).await?;
            if json {
                output::json(&conn);
            } else {
                out!("connected with {}", output::name(&conn.user.display_name));
            }
            Ok(())
        }
        Command::Decline { id } => {
            ctx.client().await?.decline(&id).await?;
            ctx.done("declined", serde_json::json!({"declined": id}));
            Ok(())
        }
        Command::Contacts => {
            let list = ctx.client().await?.contacts().await?;
            output::list(
                json,
                &list,
                "no contacts yet: show `parley qr contact` to someone, or scan theirs",
                output::contact,
            );
            Ok(())
        }
        Command::Remove { contact } => {
            let c = ctx.client().await?;
            let who = c.resolve_contact(&contact).await?;
            c.remove_contact(who.user.id.as_str()).await?;
            ctx.done(
                &format!("removed {}", output::name(&who.user.display_name)),
                serde_json::json!({"removed": who.user.id}),
            );
            Ok(())
        }
        Command::Link {
            png,
            device_name,
            timeout,
        } => ctx.link(png.as_deref(), device_name, timeout).await,
        Command::Devices { action: None } => {
            let list = ctx.client().await?.devices().await?;
            if json {
                output::json(&list);
            } else {
                list.iter().for_each(output::device);
            }
            Ok(())
        }
        Command::Devices {
            action: Some(DevicesCmd::Revoke { id, yes }),
        } => {
            let c = ctx.client().await?;
            let id = id.trim().to_owned();
            let this = c.device_id() == id;
            if this && !yes {
                confirm_losing_unsent(
                    &c,
                    Some("This is the device you are using: sign it out?"),
                    "`parley devices revoke --yes`",
                )
                .await?;
            }
            c.revoke_device(&id).await?;
            if this {
                // Signed out here: nothing of the session stays, as after logout.
                c.forget_here().await?;
            }
            ctx.done(
                if this {
                    "this device is signed out"
                } else {
                    "device signed out"
                },
                serde_json::json!({"revoked": id}),
            );
            Ok(())
        }
        Command::Devices {
            action: Some(DevicesCmd::Invite { png }),
        } => {
            let inv = ctx.client().await?.invite_device().await?;
            let m = QrMatrix::encode(&inv.uri).map_err(|e| ClientError::Invalid(e.to_string()))?;
            write_qr_files(&m, png.as_deref(), None)?;
            if json {
                output::json(&inv);
            } else {
                out!("{}", m.to_terminal(ctx.qr_theme));
                out!("{}", inv.uri);
                out!("On the new device: parley join <this QR image or URI>  (valid 2 minutes, once)");
            }
            Ok(())
        }
        Command::Join {
            source,
            device_name,
        } => ctx.join(&source, device_name).await,
        Command::Chats => {
            let c = ctx.client().await?;
            let list = c.chats().await?;
            output::list(json, &list, "no chats yet", output::chat);
            Ok(())
        }
        Command::History { contact, limit } => {
            let c = ctx.client().await?;
            // Reading opens no chat on the server (the peer would see an
            // empty one appear in their list).
            let Some(chat) = c.existing_chat(&contact).await? else {
                let none: [CachedMessage; 0] = [];
                output::list(json, &none, "(no messages)", |_| {});
                return Ok(());
            };
            let list = c.history(&chat.id, limit).await?;
            if json {
                output::json(&list);
            } else {
                let name = chat.peer.display_name.clone();
                let me = c.user_id().to_owned();
                // Where what I have not read starts, as the desktop shows it.
                let first_unread = (chat.unread_count > 0)
                    .then(|| {
                        list.iter().position(|m| {
                            m.message.sender_id.as_str() != me
                                && m.message.seq > chat.read_up_to_seq
                        })
                    })
                    .flatten();
                if list.is_empty() {
                    out!("(no messages)");
                }
                for (i, m) in list.iter().enumerate() {
                    if Some(i) == first_unread {
                        output::line(&format!("── {} unread ──", chat.unread_count));
                    }
                    output::message(m, &me, &|_| name.clone(), &|id| {
                        list.iter()
                            .find(|o| o.message.id == id)
                            .map(|o| o.message.seq)
                    });
                }
            }
            Ok(())
        }
        Command::Send {
            contact,
            text,
            reply_to,
            attach,
        } => ctx.send(&contact, &text, reply_to, &attach).await,
        Command::Read { contact } => {
            let c = ctx.client().await?;
            let Some(chat) = c.existing_chat(&contact).await? else {
                ctx.done(
                    "nothing to read",
                    serde_json::json!({"chat_id": null, "read_up_to_seq": 0}),
                );
                return Ok(());
            };
            let last = chat.last_message.as_ref().map(|m| m.seq).unwrap_or(0);
            c.read(&chat.id, last).await?;
            ctx.done(
                &format!("read up to #{last}"),
                serde_json::json!({"chat_id": chat.id, "read_up_to_seq": last}),
            );
            Ok(())
        }
        Command::Mute { contact, duration } => {
            let c = ctx.client().await?;
            let chat = c.resolve_chat(&contact).await?;
            let until = duration.map(|d| chrono::Utc::now() + d);
            c.mute(&chat.id, Some(Mute { until })).await?;
            let text = match &until {
                Some(t) => format!("muted until {}", output::time(t)),
                None => "muted until you unmute it".to_owned(),
            };
            ctx.done(
                &text,
                serde_json::json!({"chat_id": chat.id, "mute": {"until": until}}),
            );
            Ok(())
        }
        Command::Unmute { contact } => {
            let c = ctx.client().await?;
            let chat = c.resolve_chat(&contact).await?;
            c.mute(&chat.id, None).await?;
            ctx.done(
                "notifications are on",
                serde_json::json!({"chat_id": chat.id, "mute": null}),
            );
            Ok(())
        }
        Command::Pin { contact } => ctx.pin(&contact, true).await,
        Command::Unpin { contact } => ctx.pin(&contact, false).await,
        Command::DeleteAccount { send_code, code } => ctx.delete_account(send_code, code).await,
        Command::Clear { contact, yes } => ctx.clear(&contact, yes).await,
        Command::React {
            message_id,
            emoji,
            remove,
        } => {
            ctx.client()
                .await?
                .react(&message_id, &emoji, !remove)
                .await?;
            ctx.done(
                if remove {
                    "reaction removed"
                } else {
                    "reacted"
                },
                serde_json::json!({"message_id": message_id, "emoji": emoji, "removed": remove}),
            );
            Ok(())
        }
        Command::Save {
            message_id,
            dir,
            out,
        } => ctx.save(&message_id, dir, out).await,
        Command::Forward {
            message_id,
            contact,
        } => {
            let c = ctx.client().await?;
            let who = c.resolve_contact(&contact).await?;
            let pb = ctx.bytes_bar(0, "forwarding");
            let p2 = pb.clone();
            let queued = c
                .forward(&message_id, &who.user.id, move |done, total| {
                    p2.set_length(total);
                    p2.set_position(done);
                })
                .await?;
            pb.finish_and_clear();
            let mine = ctx.flush_for(&c, &queued.message.client_id).await?;
            if json {
                output::json(&mine);
            } else {
                out!(
                    "forwarded to {} as #{} ({})",
                    output::name(&who.user.display_name),
                    mine.message.seq,
                    mine.message.id
                );
            }
            Ok(())
        }
        Command::Retry { client_id } => {
            let c = ctx.client().await?;
            c.retry_failed(&client_id).await?;
            let m = ctx.flush_for(&c, &client_id).await?;
            if json {
                output::json(&m);
            } else {
                out!("sent #{} ({})", m.message.seq, m.message.id);
            }
            Ok(())
        }
        Command::Discard { client_id } => {
            ctx.client().await?.discard_failed(&client_id).await?;
            ctx.done(
                "discarded",
                serde_json::json!({"client_id": client_id, "discarded": true}),
            );
            Ok(())
        }
        Command::Search {
            query,
            within,
            before,
        } => {
            let c = ctx.client().await?;
            let (found, chat) = match &within {
                // A contact without a chat yet: nothing to find (and no chat
                // opened for a search).
                Some(who) => match c.existing_chat(who).await? {
                    Some(chat) => (None, Some(chat.id)),
                    None => (Some(Vec::new()), None),
                },
                None => (None, None),
            };
            let found = match found {
                Some(none) => none,
                None => {
                    c.search_page(&query, chat.as_deref(), before.as_deref())
                        .await?
                }
            };
            // Which chat and who wrote it: each chat's peer, named once.
            let mut names = std::collections::HashMap::new();
            if !json {
                for m in &found {
                    if !names.contains_key(m.chat_id.as_str()) {
                        // A chat that cannot be named (gone, offline) is "?":
                        // the results are still worth showing.
                        let name = match c.known_chat(&m.chat_id).await {
                            Ok(chat) => chat.peer.display_name,
                            Err(_) => "?".to_owned(),
                        };
                        names.insert(m.chat_id.to_string(), name);
                    }
                }
            }
            let peer_of = |chat_id: &str| names.get(chat_id).cloned().unwrap_or_default();
            let me = c.user_id().to_owned();
            output::list(json, &found, "nothing found", |m| {
                let peer = peer_of(&m.chat_id);
                let who = if m.sender_id.as_str() == me {
                    "me".to_owned()
                } else {
                    peer.clone()
                };
                out!(
                    "{}  [{}] {}: {}  ({})",
                    m.created_at
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M"),
                    output::name(&peer),
                    output::name(&who),
                    output::body(&m.body),
                    m.id
                )
            });
            if !json && found.len() as u32 == limits::SEARCH_PAGE {
                if let Some(last) = found.last() {
                    eprintln!("(more: add --before {})", last.id);
                }
            }
            Ok(())
        }
        Command::Listen => ctx.listen().await,
    }
}

/// Asks before signing this device out (which deletes its cache): about the
/// messages that never reached the server, if any, else `question`, if
/// given. `forced`: the command that goes without asking.
async fn confirm_losing_unsent(c: &Client, question: Option<&str>, forced: &str) -> Result<()> {
    let unsent = c.unsent_count().await?;
    let question = match (unsent, question) {
        (0, None) => return Ok(()),
        (0, Some(q)) => q.to_owned(),
        (n, _) => format!(
            "{n} message{} never reached the server and will be deleted from this \
             computer. Sign out anyway?",
            if n == 1 { "" } else { "s" }
        ),
    };
    if confirm(&question).await? {
        return Ok(());
    }
    Err(ClientError::Invalid(if unsent > 0 {
        format!(
            "not signed out (`parley history` shows the unsent messages; {forced} signs out anyway)"
        )
    } else {
        "not signed out".into()
    }))
}

struct Ctx {
    profile: Profile,
    json: bool,
    server: Option<String>,
    qr_theme: TerminalTheme,
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "terminal".into())
}

fn default_device_name() -> String {
    format!("parley CLI on {}", hostname())
        .chars()
        .take(64)
        .collect()
}

fn warn_store(store: SecretStore, profile: &Profile) {
    if store == SecretStore::File {
        eprintln!(
            "parley: warning: no OS keyring available; session stored in {} (mode 0600)",
            profile.dir().join("session").display()
        );
    }
}

impl Ctx {
    async fn client(&self) -> Result<Client> {
        Client::open(self.profile.clone()).await
    }

    fn server(&self) -> Result<String> {
        self.server
            .clone()
            .or_else(|| self.profile.info().ok().flatten().map(|i| i.server))
            .ok_or_else(|| {
                ClientError::Invalid(
                    "which server? give --server URL (or set PARLEY_SERVER)".into(),
                )
            })
    }

    fn done(&self, text: &str, value: serde_json::Value) {
        if self.json {
            output::json(&value);
        } else {
            out!("{text}");
        }
    }

    fn spinner(&self, msg: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new_spinner();
        pb.set_message(msg.to_owned());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    async fn login(
        &self,
        identifier: &str,
        code: Option<String>,
        device_name: Option<String>,
    ) -> Result<()> {
        // Signing in again here would replace this profile's session and,
        // for another account or server, wipe what it has not sent yet. A
        // profile whose session is gone (its keyring entry lost) or whose
        // file is damaged may sign in afresh.
        if let Some(info) = self.profile.info().ok().flatten() {
            match self.profile.secrets(&info) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    return Err(ClientError::Invalid(format!(
                        "this profile is already signed in (at {}); `parley logout` first, or \
                         use another --profile",
                        info.server
                    )))
                }
                // A keyring that cannot be read now (locked) may still hold a
                // live session: not replaced blind.
                Err(e) => {
                    return Err(ClientError::Invalid(format!(
                        "this profile's session could not be read ({e}); unlock the keyring, \
                         or `parley logout` first"
                    )))
                }
            }
        }
        let server = self.server()?;
        let asked = code.is_none();
        let mut code = match code {
            Some(c) => c,
            None => {
                let sent = request_code(&server, identifier).await?;
                eprintln!(
                    "A sign-in code was sent to {identifier} (valid {} minutes).",
                    sent.expires_in / 60
                );
                ask_code("Code: ").await?
            }
        };
        let name = device_name.unwrap_or_else(default_device_name);
        let (client, new_user, store) = loop {
            match Client::login(self.profile.clone(), &server, identifier, &code, &name).await {
                // A typo, when the code was asked for here: ask again (the
                // server counts the attempts and says how many are left).
                Err(e) if asked && e.code() == Some("invalid_code") => {
                    eprintln!("{e}");
                    code = ask_code("Code: ").await?;
                }
                other => break other?,
            }
        };
        warn_store(store, &self.profile);
        let me = client.me().await?;
        if self.json {
            output::json(
                &serde_json::json!({"user": me, "new_user": new_user, "device_id": client.device_id()}),
            );
        } else {
            out!(
                "signed in as {} ({}){}",
                me.user.display_name,
                me.identifier,
                if new_user {
                    " — new account; set a name with `parley profile set --name ...`"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }

    async fn link(
        &self,
        png: Option<&Path>,
        device_name: Option<String>,
        timeout: u64,
    ) -> Result<()> {
        if self.profile.info()?.is_some() {
            return Err(ClientError::Invalid(
                "this profile is already signed in; use another --profile".into(),
            ));
        }
        let server = self.server()?;
        let name = device_name.unwrap_or_else(default_device_name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let link = start_link(&server, &name, Platform::Cli).await?;
            let m = QrMatrix::encode(&link.uri).map_err(|e| ClientError::Invalid(e.to_string()))?;
            write_qr_files(&m, png, None)?;
            if self.json {
                // Not the poll secret: it stays in this process.
                output::json_line(&serde_json::json!({"link": {
                    "link_id": link.link_id,
                    "secret": link.secret,
                    "uri": link.uri,
                    "check_code": link.check_code,
                    "expires_at": link.expires_at,
                }}));
            } else {
                out!("{}", m.to_terminal(self.qr_theme));
                out!("{}", link.uri);
                out!("Check code: {}  — scan this with a signed-in device (parley qr scan) and compare the digits.", link.check_code);
            }
            let pb = self.spinner("waiting for approval…");
            // A link lives 2 minutes; wait until it expires, then show a new one.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let until_expiry =
                parley_client::client::link_time_left(link.expires_at, chrono::Utc::now());
            let wait = left.min(until_expiry);
            let r =
                Client::finish_link(self.profile.clone(), &server, &link, wait, || pb.tick()).await;
            pb.finish_and_clear();
            match r {
                Ok((client, store)) => {
                    warn_store(store, &self.profile);
                    let me = client.me().await?;
                    if self.json {
                        output::json_line(
                            &serde_json::json!({"signed_in": me, "device_id": client.device_id()}),
                        );
                    } else {
                        out!(
                            "linked: signed in as {} ({})",
                            me.user.display_name,
                            me.identifier
                        );
                    }
                    return Ok(());
                }
                Err(ClientError::Api(p)) if p.code == "link_expired" => {}
                Err(ClientError::LinkNotApproved) => {}
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::LinkNotApproved);
            }
            if !self.json {
                out!("The code expired; here is a new one.");
            }
        }
    }

    async fn join(&self, source: &str, device_name: Option<String>) -> Result<()> {
        if self.profile.info()?.is_some() {
            return Err(ClientError::Invalid(
                "this profile is already signed in; use another --profile".into(),
            ));
        }
        let uri = if Path::new(source).exists() {
            match decode_image(Path::new(source)).await? {
                QrPayload::DeviceInvite(i) => i.to_string(),
                other => {
                    return Err(ClientError::Invalid(format!(
                        "that is a {} code, not a device invite",
                        other.kind()
                    )))
                }
            }
        } else {
            // A mistyped file name is said to be one, not sent as a code.
            let s = source.trim();
            let code_like = s.to_ascii_lowercase().starts_with("parley")
                || parley_protocol::qr::normalize_base32(s).is_some_and(|c| c.len() >= 10);
            if !code_like {
                return Err(ClientError::Invalid(format!(
                    "{s}: no such image file, and not a parley:// invite or an invite code"
                )));
            }
            s.to_owned()
        };
        let server = match uri.parse::<QrPayload>() {
            Ok(QrPayload::DeviceInvite(i)) => i.server,
            _ => self.server()?,
        };
        let name = device_name.unwrap_or_else(default_device_name);
        let (client, store) = Client::join(self.profile.clone(), &server, &uri, &name).await?;
        warn_store(store, &self.profile);
        let me = client.me().await?;
        if self.json {
            output::json(&serde_json::json!({"signed_in": me, "device_id": client.device_id()}));
        } else {
            out!(
                "joined: signed in as {} ({})",
                me.user.display_name,
                me.identifier
            );
        }
        Ok(())
    }

    /// What `qr scan` makes of text that is not an image file: a
    /// `parley://` link pasted as is, or a contact code typed by hand (the
    /// 10-character `XXXXX-XXXXX` form or the long one), for this
    /// profile's server.
    async fn typed_code(&self, text: &str) -> Result<QrPayload> {
        let text = text.trim();
        if text.to_ascii_lowercase().starts_with("parley") {
            return text
                .parse::<QrPayload>()
                .map_err(|e| ClientError::Invalid(format!("{text}: {e}")));
        }
        // A short code is 10 base32 characters, typed as shown (XXXXX-XXXXX)
        // or at least with a digit in it, so a mistyped file name such as
        // `screenshot` is not sent as a code; a long one 32. Anything else
        // is taken for a file name.
        let grouped = text.contains(['-', ' ']) || text.chars().any(|c| c.is_ascii_digit());
        let code_like = parley_protocol::qr::normalize_base32(text)
            .is_some_and(|c| (c.len() == 10 && grouped) || c.len() >= 26);
        if !code_like {
            return Err(ClientError::Invalid(format!(
                "{text}: no such image file, and not a parley:// link or a contact code \
                 (typed as shown: XXXXX-XXXXX)"
            )));
        }
        let c = self.client().await?;
        Ok(QrPayload::Contact(qr::ContactQr {
            server: c.server().to_owned(),
            code: text.to_owned(),
        }))
    }

    async fn act_on(&self, payload: QrPayload, yes: bool) -> Result<()> {
        let c = self.client().await?;
        match payload {
            QrPayload::Contact(contact) => {
                if contact.server != c.server() {
                    return Err(ClientError::Invalid(format!(
                        "this code is for another server ({}); this profile uses {}",
                        contact.server,
                        c.server()
                    )));
                }
                let req = c.request_connection(&contact.code).await?;
                if self.json {
                    output::json(&req);
                } else {
                    out!(
                        "connection request sent to {} — waiting for them to accept",
                        output::name(&req.to.display_name)
                    );
                }
                Ok(())
            }
            QrPayload::DeviceLink(link) => {
                let info = c.link_info(&link).await?;
                // Number matching: the new device shows two digits and the
                // approver types them (not "do they match? y/N", which one
                // keystroke answers blind). Said on stderr with --json, whose
                // stdout is the answer; `--yes` is for scripts.
                let shown = format!(
                    "New device: {} [{}] asks to join your account.",
                    output::name(&info.device_name),
                    info.platform,
                );
                if !self.json {
                    out!("{shown}");
                } else if !yes {
                    eprintln!("{shown}");
                }
                if !yes {
                    let typed = prompt(
                        "Type the two digits the new device shows to approve it (Enter refuses): ",
                    )
                    .await?;
                    if typed.trim() != info.check_code {
                        return Err(ClientError::Invalid(
                            "not approved: those are not the digits the new device shows (if you \
                             did not start linking a device yourself, someone may be trying to get \
                             into your account)"
                                .into(),
                        ));
                    }
                }
                c.approve_link(&link).await?;
                if self.json {
                    output::json(&serde_json::json!({"approved": info}));
                } else {
                    out!(
                        "approved: {} can now use your account",
                        output::name(&info.device_name)
                    );
                }
                Ok(())
            }
            QrPayload::DeviceInvite(_) => Err(ClientError::Invalid(
                "this is a device invite: use `parley join` on the new, signed-out profile".into(),
            )),
        }
    }

    async fn send(
        &self,
        contact: &str,
        text: &str,
        reply_to: Option<String>,
        attach: &[std::path::PathBuf],
    ) -> Result<()> {
        // Before any upload: a message the server refuses wastes them.
        if attach.len() > limits::ATTACHMENTS_PER_MESSAGE_MAX {
            return Err(ClientError::Invalid(format!(
                "at most {} attachments per message",
                limits::ATTACHMENTS_PER_MESSAGE_MAX
            )));
        }
        parley_protocol::validate_body(text, !attach.is_empty())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        // Every file is there and not too big before the first goes up.
        let mut sizes = Vec::with_capacity(attach.len());
        for path in attach {
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
            if !meta.is_file() {
                return Err(ClientError::Invalid(format!(
                    "{}: not a file",
                    path.display()
                )));
            }
            sizes.push(meta.len());
        }
        let c = self.client().await?;
        // Until the message is queued, a failure worth retrying must not say
        // "queued" (exit 75): nothing is, and the script should send again.
        let not_queued = |e: ClientError| {
            if e.is_transient() {
                ClientError::Invalid(format!("not sent, and not queued: {e}"))
            } else {
                e
            }
        };
        let who = c.resolve_contact(contact).await.map_err(not_queued)?;
        let chat = c.chat_with(&who.user.id).await.map_err(not_queued)?;
        let mut ids = Vec::new();
        for (path, total) in attach.iter().zip(sizes) {
            let pb = self.bytes_bar(total, &path.display().to_string());
            let p2 = pb.clone();
            let a = c
                .upload(path, move |sent| p2.set_position(sent))
                .await
                .map_err(not_queued)?;
            pb.finish_and_clear();
            ids.push(a.id);
        }
        let queued = c.queue_message(&chat.id, text, reply_to, ids).await?;
        let mine = self.flush_for(&c, &queued.message.client_id).await?;
        if self.json {
            output::json(&mine);
        } else {
            out!(
                "sent #{} to {} ({})",
                mine.message.seq,
                output::name(&who.user.display_name),
                mine.message.id
            );
        }
        Ok(())
    }

    /// Says that `client_id` stays queued for `why` (on stdout too with
    /// --json: a script must not send it again; exit status 75).
    fn still_queued(&self, client_id: &str, why: ClientError) -> ClientError {
        if self.json {
            output::json(&serde_json::json!({
                "queued": true,
                "client_id": client_id,
                "reason": why.to_string(),
            }));
        } else {
            eprintln!(
                "parley: not sent yet ({why}); the message stays queued and goes out with the \
                 next `parley send` or while `parley listen` runs (do not send it again)"
            );
        }
        ClientError::StillQueued(Box::new(why))
    }

    /// Flushes the outbox and says what became of the message `client_id`:
    /// sent, refused (the error), or still queued (the transient error).
    /// Other queued messages refused meanwhile are mentioned on stderr.
    async fn flush_for(&self, c: &Client, client_id: &str) -> Result<CachedMessage> {
        let report = match c.flush_outbox_report().await {
            Ok(r) => r,
            Err(e) => return Err(self.queued_unless_gone(c, client_id, e).await),
        };
        for (other, p) in &report.refused {
            if other != client_id && !self.json {
                eprintln!(
                    "parley: an earlier queued message was refused: {} (`parley history` shows it)",
                    p.detail
                );
            }
        }
        match report.outcome(client_id) {
            Some(Ok(m)) => Ok(m.clone()),
            Some(Err(p)) => Err(ClientError::Api(p.clone())),
            // Not in this flush: another process of this profile (a
            // `parley listen`) took it from the queue first. Say what it made
            // of it.
            None => {
                match c.my_message(client_id).await {
                    Err(e) => Err(self.still_queued(client_id, e)),
                    Ok(m) => match m {
                        Some(m) if m.state == LocalState::Failed => Err(m.failure.map_or_else(
                            || ClientError::Invalid("the server refused the message".into()),
                            ClientError::Api,
                        )),
                        Some(m) if m.state != LocalState::Pending => Ok(m),
                        // Held back with its chat: the server failed on it or on
                        // one before it (its reason is the server's).
                        // Queued still (exit 75, like a network failure): it goes
                        // out by itself, so it must not be sent again.
                        other => {
                            let chat = other.map(|m| m.message.chat_id);
                            match report
                                .deferred
                                .iter()
                                .find(|d| Some(&d.chat_id) == chat.as_ref())
                            {
                                Some(d) => Err(self
                                    .still_queued(client_id, ClientError::Api(d.problem.clone()))),
                                None => Err(self.still_queued(
                                    client_id,
                                    ClientError::Network("another process is sending it".into()),
                                )),
                            }
                        }
                    },
                }
            }
        }
    }

    /// What a failed flush, `e`, means for the queued message `client_id`:
    /// still queued, and said so (exit 75: a script must not send it again),
    /// unless it has left the queue (sent or refused meanwhile by another
    /// process) or `e` is about the server (a garbled answer, the account
    /// disabled, this device signed out), which leaves it queued too.
    async fn queued_unless_gone(&self, c: &Client, client_id: &str, e: ClientError) -> ClientError {
        if e.is_transient() {
            return self.still_queued(client_id, e);
        }
        match c.my_message(client_id).await {
            // Refused meanwhile: why, in the server's words.
            Ok(Some(m)) if m.state == LocalState::Failed => m.failure.map_or(e, ClientError::Api),
            Ok(Some(m)) if m.state != LocalState::Pending => e,
            // Gone with the cache (the account was deleted): not queued.
            Ok(None) => e,
            // Queued, or the cache cannot say: not knowing is no licence to
            // send it twice.
            _ => self.still_queued(client_id, e),
        }
    }

    /// A progress bar of bytes on stderr, hidden for `--json` or when stderr
    /// is not a terminal.
    fn bytes_bar(&self, total: u64, msg: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message(msg.to_owned());
        pb
    }

    /// `pin` and `unpin`.
    async fn pin(&self, contact: &str, pinned: bool) -> Result<()> {
        let c = self.client().await?;
        let chat = c.resolve_chat(contact).await?;
        c.pin(&chat.id, pinned).await?;
        self.done(
            if pinned { "pinned" } else { "unpinned" },
            serde_json::json!({"chat_id": chat.id, "pinned": pinned}),
        );
        Ok(())
    }

    async fn delete_account(&self, send_code: bool, code: Option<String>) -> Result<()> {
        let c = self.client().await?;
        let code = match code {
            Some(code) => code,
            None => {
                let (to, sent) = c.ask_deletion_code().await?;
                let minutes = sent.expires_in / 60;
                if send_code {
                    self.done(
                        &format!(
                            "a code was sent to {to} (valid {minutes} minutes): run \
                             `parley delete-account --code CODE` to delete your account for good"
                        ),
                        serde_json::json!({"sent_to": to, "expires_in": sent.expires_in}),
                    );
                    return Ok(());
                }
                eprintln!(
                    "This deletes your account for good: all your devices are signed out, your \
                     contacts lose you (they keep your chats, showing \"Deleted account\"), your \
                     profile is erased."
                );
                eprintln!("A code was sent to {to} (valid {minutes} minutes).");
                let line = prompt("Code (nothing to keep your account): ").await?;
                if line.trim().is_empty() {
                    return Err(ClientError::Invalid("not deleted".into()));
                }
                line.trim().to_owned()
            }
        };
        c.delete_account(&code).await?;
        self.done(
            "account deleted; this profile is signed out",
            serde_json::json!({"deleted": true}),
        );
        Ok(())
    }

    async fn clear(&self, contact: &str, yes: bool) -> Result<()> {
        let c = self.client().await?;
        let Some(chat) = c.existing_chat(contact).await? else {
            self.done(
                "nothing to clear",
                serde_json::json!({"chat_id": null, "cleared_up_to_seq": 0}),
            );
            return Ok(());
        };
        // Up to the newest message as of now: one that arrives while the
        // question is open is not cleared unseen.
        let up_to = chat
            .last_message
            .as_ref()
            .map_or(chat.cleared_up_to_seq, |m| m.seq);
        let question = format!(
            "Clear your messages with {} on all your devices? They keep theirs.",
            output::name(&chat.peer.display_name)
        );
        if !yes && !confirm(&question).await? {
            return Err(ClientError::Invalid("not cleared".into()));
        }
        c.clear_chat(&chat.id, up_to).await?;
        self.done(
            "cleared",
            serde_json::json!({"chat_id": chat.id, "cleared_up_to_seq": up_to}),
        );
        Ok(())
    }

    async fn save(
        &self,
        message_id: &str,
        dir: Option<std::path::PathBuf>,
        out: Option<std::path::PathBuf>,
    ) -> Result<()> {
        use parley_client::download::{self, Destination};
        let c = self.client().await?;
        let cached = c.find_message(message_id).await?;
        let Some(m) = cached else {
            return Err(ClientError::Invalid(format!(
                "message {message_id} is not among the recent messages of your chats: run \
                 `parley history <contact> --limit N` to fetch further back first"
            )));
        };
        let atts = &m.message.attachments;
        if atts.is_empty() {
            return Err(ClientError::Invalid(format!(
                "message {message_id} has no attachments"
            )));
        }
        let dest = match out {
            Some(_) if atts.len() > 1 => {
                return Err(ClientError::Invalid(format!(
                    "message {message_id} has {} attachments: use --dir, not --out",
                    atts.len()
                )))
            }
            Some(file) => Destination::File(file),
            None => Destination::Folder(dir.unwrap_or_else(download::default_folder)),
        };
        let mut saved = Vec::new();
        for a in atts {
            let pb = self.bytes_bar(a.size, &download::safe_file_name(a));
            let p2 = pb.clone();
            let path = c
                .save_attachment(a, dest.clone(), move |n| p2.set_position(n))
                .await?;
            pb.finish_and_clear();
            if !self.json {
                out!(
                    "saved {} ({}) to {}",
                    a.name.as_deref().unwrap_or(&a.id),
                    indicatif::HumanBytes(a.size),
                    path.display()
                );
            }
            saved.push(serde_json::json!({"attachment": a, "path": path}));
        }
        if self.json {
            output::json(&saved);
        }
        Ok(())
    }

    async fn listen(&self) -> Result<()> {
        let c = self.client().await?;
        let mut rx = c.subscribe();
        let json = self.json;
        let me = c.user_id().to_owned();
        // Senders by name where they are contacts (the server's list, or the
        // cached one offline); anyone else by id.
        let names: std::collections::HashMap<String, String> = if json {
            Default::default()
        } else {
            c.contacts()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|k| (k.user.id.0, k.user.display_name))
                .collect()
        };
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        // Events the printer fell too far behind to print (a slow reader of
        // a piped stdout): the stream then ends with an error, not silently.
        let missed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let missed_by_printer = missed.clone();
        let printer = tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        missed_by_printer.store(n, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let ok = if json {
                    output::json_line(&ev)
                } else {
                    match &ev {
                        ClientEvent::Event { seq, event } => match event.as_ref() {
                            parley_protocol::Event::MessageCreated { message } => {
                                let sender = message.sender_id.as_str();
                                let who = if sender == me {
                                    "me"
                                } else {
                                    names.get(sender).map_or(sender, String::as_str)
                                };
                                output::line(&format!(
                                    "[{seq}] message from {}: {}",
                                    output::name(who),
                                    output::body(&message.body)
                                ))
                            }
                            other => output::line(&format!("[{seq}] {}", other.kind())),
                        },
                        ClientEvent::Link {
                            state,
                            retry_in_ms,
                            reason,
                            ..
                        } => {
                            match (reason, retry_in_ms) {
                                (Some(why), Some(ms)) => eprintln!(
                                    "({state:?}: {why}; retrying in {} s)",
                                    ms.div_ceil(1000)
                                ),
                                (Some(why), None) => eprintln!("({state:?}: {why})"),
                                _ => eprintln!("({state:?})"),
                            }
                            true
                        }
                        other => output::line(&serde_json::to_string(other).unwrap_or_default()),
                    }
                };
                if !ok {
                    break;
                }
            }
            let _ = closed_tx.send(());
        });
        let stop = async move {
            tokio::select! {
                _ = shutdown_signal() => {},
                _ = closed_rx => {},
            }
        };
        let result = c.run_realtime(stop).await;
        // Let the printer drain what was already emitted, then stop it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        printer.abort();
        result?;
        match missed.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(ClientError::Invalid(format!(
                "output fell behind and {n} events were not printed (they are stored: \
                 `parley history` shows the messages)"
            ))),
        }
    }
}

/// Ctrl+C, or SIGTERM where there is one.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn confirm(question: &str) -> Result<bool> {
    let line = prompt(&format!("{question} [y/N] ")).await?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Asks for a code on stdin; nothing typed is an error.
async fn ask_code(question: &str) -> Result<String> {
    let line = prompt(question).await?;
    if line.trim().is_empty() {
        return Err(ClientError::Invalid("no code entered".into()));
    }
    Ok(line.trim().to_owned())
}

/// Asks on stderr and reads one line of stdin (off the runtime).
async fn prompt(question: &str) -> Result<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| ClientError::Invalid(e.to_string()))?
    .map_err(ClientError::from)
}

fn write_qr_files(m: &QrMatrix, png: Option<&Path>, svg: Option<&Path>) -> Result<()> {
    if let Some(p) = png {
        let bytes = m
            .to_png(8)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        write_private(p, &bytes)?;
    }
    if let Some(p) = svg {
        write_private(p, m.to_svg().as_bytes())?;
    }
    Ok(())
}

/// Writes a file only its owner may read: a QR code is a secret (an invite
/// or a link code signs in whoever reads it first). Errors name the file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    parley_client::session::write_private(path, bytes)
        .map_err(|e| ClientError::Invalid(format!("cannot write {}: {e}", path.display())))
}

async fn decode_image(path: &Path) -> Result<QrPayload> {
    let p = path.to_owned();
    let found = tokio::task::spawn_blocking(move || qr::decode_file(&p))
        .await
        .map_err(|e| ClientError::Invalid(e.to_string()))?
        .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Invalid(format!("{}: no Parley code found", path.display())))
}

fn print_payload(json: bool, p: &QrPayload) {
    if json {
        let v = match p {
            QrPayload::Contact(c) => {
                serde_json::json!({"kind": "contact", "server": c.server, "code": c.code, "uri": p.to_string()})
            }
            QrPayload::DeviceLink(l) => {
                serde_json::json!({"kind": "link", "server": l.server, "link_id": l.link_id, "uri": p.to_string()})
            }
            QrPayload::DeviceInvite(i) => {
                serde_json::json!({"kind": "join", "server": i.server, "uri": p.to_string()})
            }
        };
        output::json(&v);
    } else {
        let what = match p {
            QrPayload::Contact(_) => "contact code",
            QrPayload::DeviceLink(_) => "device link",
            QrPayload::DeviceInvite(_) => "device invite",
        };
        out!("{what} for {}", p.server());
        out!("{p}");
    }
}

#[cfg(feature = "camera")]
async fn scan_camera(device: Option<u32>, json: bool) -> Result<QrPayload> {
    let idx = device.unwrap_or(0);
    tokio::task::spawn_blocking(move || {
        let cams = qr::camera::list_cameras().map_err(|e| ClientError::Invalid(e.to_string()))?;
        if cams.len() > 1 && !json {
            for c in &cams {
                eprintln!("camera {}: {}", c.index, c.name);
            }
        }
        let mut src =
            qr::camera::WebcamSource::open(idx).map_err(|e| ClientError::Invalid(e.to_string()))?;
        eprintln!("Hold the QR code in front of the camera…");
        qr::scan(&mut src, qr::ScanLimit::timeout(Duration::from_secs(120)))
            .map_err(|e| ClientError::Invalid(e.to_string()))
    })
    .await
    .map_err(|e| ClientError::Invalid(e.to_string()))?
}

#[cfg(not(feature = "camera"))]
async fn scan_camera(_device: Option<u32>, _json: bool) -> Result<QrPayload> {
    Err(ClientError::Invalid(
        "this build has no camera support: rebuild with `cargo build -p parley-client --features camera`, or scan an image file".into(),
    ))
}
