//! `Client`: one signed-in profile. Typed calls for every endpoint (token
//! refresh handled here), the outbox, and the realtime loop.

use crate::{
    api::{is_unauthorized, Api, CALL_TIMEOUT, SESSION_TIMEOUT},
    cache::{self, Cache, CachedMessage, OutboxItem},
    error::{ends_session, fails_only_its_chat, refused_for_now, ClientError, Result},
    events::{ClientEvent, LinkState},
    session::{Profile, ProfileInfo, SecretStore, Secrets},
};
use parley_protocol::*;
use std::{future::Future, sync::Arc, time::Duration};
use tokio::sync::{broadcast, Mutex, Notify};

/// Refresh the access token when it has less than this left (or a quarter of
/// its lifetime, for servers configured with very short tokens).
const REFRESH_MARGIN_SECS: i64 = 60;

/// How soon a device link's poll is tried again after a network failure.
const LINK_POLL_RETRY: Duration = Duration::from_secs(2);

fn margin(s: &Secrets) -> i64 {
    if s.access_ttl > 0 {
        REFRESH_MARGIN_SECS.min(s.access_ttl / 4)
    } else {
        REFRESH_MARGIN_SECS
    }
}

/// A signed-in profile. Cheap to clone.
/// What one flush of the outbox did.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Stored by the server, in order.
    pub sent: Vec<CachedMessage>,
    /// Refused for good (now `failed`): client id and the refusal.
    pub refused: Vec<(String, Problem)>,
    /// Failed on by the server (a 500 about that message): still queued,
    /// and the rest of its chat with it; other chats went on.
    pub deferred: Vec<Deferred>,
}

/// A queued message the server failed on; its chat waits behind it.
#[derive(Debug)]
pub struct Deferred {
    pub client_id: String,
    pub chat_id: String,
    pub problem: Problem,
}

impl Flushed {
    /// What became of the message with `client_id`: stored (`Ok`), refused
    /// (`Err`), or still queued (`None`: the flush stopped before it, or it
    /// or one before it in its chat is in `deferred`).
    pub fn outcome(&self, client_id: &str) -> Option<Result<&CachedMessage, &Problem>> {
        if let Some(m) = self.sent.iter().find(|m| m.message.client_id == client_id) {
            return Some(Ok(m));
        }
        self.refused
            .iter()
            .find(|(c, _)| c == client_id)
            .map(|(_, p)| Err(p))
    }
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    profile: Profile,
    api: Api,
    cache: Cache,
    info: ProfileInfo,
    /// The current tokens; a tokio mutex because refresh awaits under it.
    secrets: Mutex<Secrets>,
    events: broadcast::Sender<ClientEvent>,
    /// Wakes the realtime loop to flush the outbox.
    outbox_kick: Notify,
    /// Ephemeral frames (typing) for the realtime loop's socket.
    frames_tx: tokio::sync::mpsc::UnboundedSender<ClientFrame>,
    frames_rx: Mutex<tokio::sync::mpsc::UnboundedReceiver<ClientFrame>>,
    /// How long the realtime link may hear nothing before it reconnects, ms
    /// (see `realtime`); changed only by tests.
    silence_limit_ms: std::sync::atomic::AtomicU64,
    /// The refresh token this process last spent, and the pair it got for
    /// it: if storing that pair failed, the profile still holds the spent
    /// token, and presenting it again would sign the device out as a thief
    /// (see `refresh_locked`). Set by the rotation task itself, so a caller
    /// that gave up half way does not lose it.
    rotated: std::sync::Mutex<Option<(String, Secrets)>>,
    /// The last refresh refused for a disabled account, and until when the
    /// next one waits (see [`DisabledBackoff`]).
    disabled: std::sync::Mutex<Option<DisabledBackoff>>,
}

/// While an account is disabled, its access token is refused and every call
/// would run a whole refresh again (the profile lock, the stored session, a
/// request), each counted by the server's per-address refresh limit, which
/// other devices behind that address share. So a refusal is answered again
/// from memory for a while: 2 s after the first, doubling to a minute, which
/// is also how soon the device works again once an admin enables it.
#[derive(Clone)]
struct DisabledBackoff {
    refusal: Problem,
    until: std::time::Instant,
    wait: std::time::Duration,
}

impl DisabledBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX: std::time::Duration = std::time::Duration::from_secs(60);

    fn after(previous: Option<&DisabledBackoff>, refusal: Problem) -> Self {
        let wait = previous.map_or(Self::FIRST, |p| (p.wait * 2).min(Self::MAX));
        DisabledBackoff {
            refusal,
            until: std::time::Instant::now() + wait,
            wait,
        }
    }
}

/// Deletes this profile's cache, `cache` first closed, and the attachments
/// kept. A cache another program of the profile still has open (a `parley
/// listen`, the desktop) is emptied in place instead: deleting it under
/// that connection would let it, closing, delete the next cache's WAL by
/// name. Blocking.
fn wipe_local(profile: &Profile, cache: &Cache) -> Result<()> {
    cache.close()?;
    let path = profile.cache_path();
    match cache::ensure_unused(&path) {
        Ok(()) => profile.wipe_cache(),
        Err(_) => {
            cache::empty_in_place(&path)?;
            profile.wipe_media()
        }
    }
}

/// Before a sign-in on a profile without a session: the cache left there (a
/// signed-out account's) may be set aside or deleted once the server says
/// who signed in, which a cache open elsewhere does not allow. Said now,
/// rather than after the server made a device that no one then uses.
async fn cache_free_to_replace(profile: &Profile) -> Result<()> {
    let p = profile.clone();
    blocking(move || {
        if p.info()?.is_none() && p.cache_path().exists() {
            cache::ensure_unused(&p.cache_path())?;
        }
        Ok(())
    })
    .await
}

/// Before `user_id` on `server` signs in with `profile`: signing in again as
/// the same account keeps the cache (its outbox and refused messages are not
/// lost). Another account's cache is deleted, unless it holds messages that
/// never reached the server (or cannot be read): then it is set aside, and
/// comes back when that account signs in here again, as `user_id`'s own
/// set-aside cache comes back now.
///
/// Called under the profile's lock; a cache another program has open is
/// not touched (an error says so: see [`cache::retire`]).
fn make_cache_for(profile: &Profile, server: &str, user_id: &str) -> Result<()> {
    let current = profile.cache_path();
    match cache::inspect(&current)? {
        cache::Found::Nothing => {}
        cache::Found::Cache(f)
            if f.owner
                .as_ref()
                .is_some_and(|(s, u)| s == server && u == user_id) =>
        {
            // A set-aside name left by a move cut short is the same file.
            profile.forget_second_name(&current, &profile.set_aside_cache_path(server, user_id));
            return Ok(());
        }
        cache::Found::Cache(cache::CacheFile {
            owner: Some((s, u)),
            unsent,
        }) if unsent > 0 => {
            cache::retire(&current)?;
            let to = profile.set_aside_cache_path(&s, &u);
            profile.move_cache(&current, &to)?;
            tracing::warn!(
                unsent,
                kept = %to.display(),
                "the account signed in here before has messages that never reached its server; \
                 they are kept, and come back when it signs in here again"
            );
        }
        cache::Found::Cache(_) => {
            cache::retire(&current)?;
            profile.wipe_cache()?;
        }
        cache::Found::Unreadable(e) => {
            // Not a database SQLite can use: no connection to fear, and
            // its files move together.
            let to = profile.dir().join(format!(
                "cache-unreadable-{}.db",
                chrono::Utc::now().timestamp()
            ));
            for suffix in ["-wal", "-shm", ""] {
                let from = std::path::PathBuf::from(format!("{}{suffix}", current.display()));
                if from.exists() {
                    profile.move_cache(
                        &from,
                        &std::path::PathBuf::from(format!("{}{suffix}", to.display())),
                    )?;
                }
            }
            tracing::warn!(error = %e, kept = %to.display(), "the cache could not be read; set aside, not deleted");
        }
    }
    let back = profile.set_aside_cache_path(server, user_id);
    if back.exists() {
        // One file again before it moves (a WAL left beside it would stay
        // behind, its frames lost to it).
        cache::retire(&back)?;
        profile.move_cache(&back, &current)?;
    }
    Ok(())
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secrets_from(tokens: &Tokens) -> Secrets {
    Secrets {
        refresh_token: tokens.refresh_token.clone(),
        access_token: tokens.access_token.clone(),
        access_expires_at: now_secs() + tokens.expires_in as i64,
        access_ttl: tokens.expires_in as i64,
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Invalid(format!("background task failed: {e}")))?
}

/// A local file's size; an error names the file.
async fn file_size(path: &std::path::Path) -> Result<u64> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => Ok(m.len()),
        Ok(_) => Err(ClientError::Invalid(format!(
            "{}: not a file",
            path.display()
        ))),
        Err(e) => Err(ClientError::Invalid(format!("{}: {e}", path.display()))),
    }
}

/// Asks the server to send a sign-in code.
pub async fn request_code(server: &str, identifier: &str) -> Result<OtpRequested> {
    Api::new(server)?.request_otp(identifier).await
}

/// How long a device link just made has left: until it expires by this
/// computer's clock, unless that clock is so far off the server's that the
/// answer makes no sense (a clock two minutes ahead would say "expired",
/// and a screen renewing it would make link after link into the rate
/// limit): then a link's usual lifetime. The server's 410 says when it
/// really expired.
pub fn link_time_left(
    expires_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Duration {
    let ttl = Duration::from_secs(parley_protocol::limits::DEVICE_LINK_TTL_SECS);
    match (expires_at - now).to_std() {
        Ok(d) if d >= Duration::from_secs(5) && d <= ttl * 2 => d,
        _ => ttl,
    }
}

/// Runs a call whose answer carries a new session (a refresh, an invite's
/// redeem), trying it again when the answer may have been lost: no answer
/// (the connection broke, `SESSION_TIMEOUT` passed: twice at most, so an
/// offline computer hears so in seconds), a server error that may come
/// after the work was done (500, or a proxy's 502 or 504; a 503 means
/// nothing was done), or a rate limit that ends in time. The server takes
/// the same request again as a retry only for `REFRESH_RETRY_SECS` after
/// the first, so every try starts within three quarters of that; the last
/// one waits as long as any call (`CALL_TIMEOUT`): a slow answer is still
/// an answer.
async fn retry_lost_answer<T, F, Fut>(what: &str, call: F) -> Result<T>
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = tokio::time::Instant::now();
    let budget =
        Duration::from_secs(parley_protocol::limits::REFRESH_RETRY_SECS.unsigned_abs() * 3 / 4);
    let (mut unanswered, mut pause) = (0, Duration::from_secs(1));
    loop {
        let last = budget.saturating_sub(start.elapsed()) <= SESSION_TIMEOUT;
        let timeout = if last { CALL_TIMEOUT } else { SESSION_TIMEOUT };
        let e = match call(timeout).await {
            Err(e) if !last => e,
            other => return other,
        };
        let left = budget.saturating_sub(start.elapsed());
        let wait = match &e {
            ClientError::Network(_) if unanswered < 2 => {
                unanswered += 1;
                Some(pause)
            }
            ClientError::Api(p) if matches!(p.status, 500 | 502 | 504) => Some(pause),
            ClientError::Api(p) if p.status == 429 => p.retry_after.map(Duration::from_secs),
            _ => None,
        };
        let Some(wait) = wait.filter(|w| *w < left) else {
            return Err(e);
        };
        tracing::info!(error = %e, "{what} got no answer it could use; trying again");
        tokio::time::sleep(wait).await;
        pause = (pause * 2).min(Duration::from_secs(8));
    }
}

/// Starts linking a signed-out device: show `uri` as a QR and `check_code`.
pub async fn start_link(server: &str, device_name: &str, platform: Platform) -> Result<DeviceLink> {
    Api::new(server)?
        .create_link(&NewDeviceLink {
            device_name: device_name.into(),
            platform,
            // Whoever sees the QR must not be able to take the session.
            poll_secret_only: true,
        })
        .await
}

impl Client {
    /// Signs in with a code; stores the session in `profile`.
    pub async fn login(
        profile: Profile,
        server: &str,
        identifier: &str,
        code: &str,
        device_name: &str,
    ) -> Result<(Client, bool, SecretStore)> {
        let api = Api::new(server)?;
        cache_free_to_replace(&profile).await?;
        let s = api
            .verify_otp(&OtpVerify {
                identifier: identifier.into(),
                code: code.trim().into(),
                device_name: device_name.into(),
                platform: Platform::current_or_cli(),
            })
            .await?;
        let (client, store) = Client::adopt(profile, api, &s.tokens, &s.user).await?;
        Ok((client, s.new_user, store))
    }

    /// Waits (long polls, up to `timeout`) for a device link to be approved,
    /// then signs this profile in. `tick` is called after each unanswered poll.
    pub async fn finish_link(
        profile: Profile,
        server: &str,
        link: &DeviceLink,
        timeout: Duration,
        mut tick: impl FnMut(),
    ) -> Result<(Client, SecretStore)> {
        let api = Api::new(server)?;
        cache_free_to_replace(&profile).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        // A poll whose answer was lost may have carried the approval: its
        // retry is answered for a while after (`REFRESH_RETRY_SECS`), even
        // past the link's own expiry, so the wait does not end on it.
        let after_loss =
            Duration::from_secs(parley_protocol::limits::REFRESH_RETRY_SECS.unsigned_abs() / 2);
        let mut lost = false;
        loop {
            let until = if lost {
                deadline + after_loss
            } else {
                deadline
            };
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(ClientError::LinkNotApproved);
            }
            match api.poll_link(link, left.as_secs().clamp(1, 30)).await {
                Ok(LinkStatus::Pending) => tick(),
                Ok(LinkStatus::Approved { tokens, user }) => {
                    return Client::adopt(profile, api, &tokens, &user).await
                }
                // A blip of the network (or a busy server) does not end a
                // wait of minutes: poll again shortly.
                Err(e) if e.is_transient() => {
                    lost = true;
                    tick();
                    tokio::time::sleep(LINK_POLL_RETRY.min(left)).await;
                }
                // Expired while the retry was under way: it was not approved.
                Err(ClientError::Api(p)) if lost && p.code == "link_expired" => {
                    return Err(ClientError::LinkNotApproved)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Redeems a device invite (`parley://join` URI or code) on a new profile.
    pub async fn join(
        profile: Profile,
        server: &str,
        uri_or_code: &str,
        device_name: &str,
    ) -> Result<(Client, SecretStore)> {
        let api = Api::new(server)?;
        cache_free_to_replace(&profile).await?;
        let (uri, code) = if uri_or_code.trim().starts_with("parley://") {
            (Some(uri_or_code.trim().to_owned()), None)
        } else {
            (None, Some(uri_or_code.trim().to_owned()))
        };
        let req = RedeemDeviceInvite {
            uri,
            code,
            device_name: device_name.into(),
            platform: Platform::current_or_cli(),
            // Lets a retry after a lost answer get the session it gave.
            retry_key: Some(crate::session::random_key()),
        };
        let s = retry_lost_answer("redeeming an invite", |t| api.redeem_invite(&req, t)).await?;
        Client::adopt(profile, api, &s.tokens, &s.user).await
    }

    async fn adopt(
        profile: Profile,
        api: Api,
        tokens: &Tokens,
        me: &Me,
    ) -> Result<(Client, SecretStore)> {
        let secrets = secrets_from(tokens);
        let (server, uid, did) = (
            api.server(),
            me.user.id.0.clone(),
            tokens.device_id.0.clone(),
        );
        let (p, s) = (profile.clone(), secrets.clone());
        let store = blocking(move || {
            // One hold of the lock for the cache and the session: a process
            // stopped in between (see the CLI's Ctrl+C) waits for both.
            let _lock = p.lock()?;
            make_cache_for(&p, &server, &uid)?;
            let store = p.save(&server, &uid, &did, &s)?;
            // The retry secret, made now rather than during the first
            // refresh (whose answer may be the one that is lost).
            if let Err(e) = p.refresh_retry_key(&s.refresh_token) {
                tracing::warn!(error = %e, "cannot keep a retry secret in the profile");
            }
            Ok(store)
        })
        .await?;
        let client = Client::from_parts(profile, api, secrets).await?;
        let me_json =
            serde_json::to_string(&me.user).map_err(|e| ClientError::Invalid(e.to_string()))?;
        client
            .cache()
            // `user_id` is already set by `from_parts`.
            .run(move |c| cache::set_kv(c, "me_user", &me_json))
            .await?;
        Ok((client, store))
    }

    /// Opens the stored session of `profile`.
    pub async fn open(profile: Profile) -> Result<Client> {
        let p = profile.clone();
        let (info, secrets) = blocking(move || {
            let info = p.info()?.ok_or(ClientError::NotSignedIn)?;
            let secrets = p.secrets(&info)?.ok_or(ClientError::NotSignedIn)?;
            Ok((info, secrets))
        })
        .await?;
        let api = Api::new(&info.server)?;
        Client::from_parts(profile, api, secrets).await
    }

    async fn from_parts(profile: Profile, api: Api, secrets: Secrets) -> Result<Client> {
        let p = profile.clone();
        let (info, cache) = blocking(move || {
            let info = p.info()?.ok_or(ClientError::NotSignedIn)?;
            let cache = Cache::open(&p.cache_path())?;
            let (uid, server) = (info.user_id.clone(), info.server.clone());
            cache.with(|c| {
                cache::set_kv(c, "user_id", &uid)?;
                cache::set_kv(c, "server", &server)
            })?;
            Ok((info, cache))
        })
        .await?;
        let (events, _) = broadcast::channel(1024);
        let (frames_tx, frames_rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Client {
            inner: Arc::new(Inner {
                profile,
                api,
                cache,
                info,
                secrets: Mutex::new(secrets),
                events,
                outbox_kick: Notify::new(),
                frames_tx,
                frames_rx: Mutex::new(frames_rx),
                rotated: std::sync::Mutex::new(None),
                disabled: std::sync::Mutex::new(None),
                silence_limit_ms: std::sync::atomic::AtomicU64::new(
                    crate::realtime::SILENCE_LIMIT.as_millis() as u64,
                ),
            }),
        })
    }

    pub fn api(&self) -> &Api {
        &self.inner.api
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn profile(&self) -> &Profile {
        &self.inner.profile
    }

    pub fn user_id(&self) -> &str {
        &self.inner.info.user_id
    }

    pub fn device_id(&self) -> &str {
        &self.inner.info.device_id
    }

    pub fn server(&self) -> &str {
        &self.inner.info.server
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, e: ClientEvent) {
        let _ = self.inner.events.send(e);
    }

    /// A valid access token, refreshed when close to expiry. Refreshing holds
    /// the profile's file lock and re-reads the stored session first, so
    /// several processes of one profile rotate the token only once.
    pub async fn token(&self) -> Result<String> {
        let mut secrets = self.inner.secrets.lock().await;
        if secrets.access_expires_at - now_secs() > margin(&secrets) {
            return Ok(secrets.access_token.clone());
        }
        self.refresh_locked(&mut secrets).await?;
        Ok(secrets.access_token.clone())
    }

    /// Forces a refresh (after a 401 or a 4001 close).
    pub async fn force_refresh(&self) -> Result<()> {
        let current = self.inner.secrets.lock().await.access_token.clone();
        self.refresh_after(&current).await
    }

    /// Refreshes after access token `stale` was refused, unless another
    /// task has replaced it meanwhile (two calls refused at once rotate
    /// once, not twice).
    async fn refresh_after(&self, stale: &str) -> Result<()> {
        let mut secrets = self.inner.secrets.lock().await;
        if secrets.access_token != stale {
            return Ok(());
        }
        self.refused_lately()?;
        // Another process may have refreshed already.
        let p = self.inner.profile.clone();
        let info = self.inner.info.clone();
        if let Some(stored) = blocking(move || p.secrets(&info)).await? {
            if stored.access_token != stale
                && stored.access_expires_at - now_secs() > REFRESH_MARGIN_SECS
            {
                *secrets = stored;
                return Ok(());
            }
        }
        secrets.access_expires_at = 0;
        self.refresh_locked(&mut secrets).await
    }

    async fn refresh_locked(&self, secrets: &mut Secrets) -> Result<()> {
        self.refused_lately()?;
        let p = self.inner.profile.clone();
        let info = self.inner.info.clone();
        let (lock, stored) = blocking(move || {
            let lock = p.lock()?;
            let stored = p.secrets(&info)?;
            Ok((lock, stored))
        })
        .await?;
        let Some(stored) = stored else {
            let reason = "the session was removed from this profile".to_owned();
            // Said on the event channel too: the desktop signs out on it.
            self.emit(ClientEvent::SignedOut {
                reason: reason.clone(),
                code: None,
            });
            return Err(ClientError::SignedOut(reason));
        };
        if stored.access_expires_at - now_secs() > REFRESH_MARGIN_SECS
            && stored.access_token != secrets.access_token
        {
            *secrets = stored;
            drop(lock);
            return Ok(());
        }
        // The stored pair, unless its refresh token is one this process spent
        // already (storing the successor failed): then that successor, which
        // may still be good as it is.
        let successor = self
            .inner
            .rotated
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .filter(|(spent, _)| *spent == stored.refresh_token)
            .map(|(_, pair)| pair);
        if let Some(pair) = &successor {
            if pair.access_expires_at - now_secs() > REFRESH_MARGIN_SECS
                && pair.access_token != secrets.access_token
            {
                *secrets = pair.clone();
                drop(lock);
                return Ok(());
            }
        }
        let presented = successor.map_or_else(|| stored.refresh_token.clone(), |p| p.refresh_token);
        // The rotation and the storing of its result run as a task of their
        // own: a caller given up halfway (a reconnect's timeout, a shutdown)
        // must not leave the new pair unstored with the old one spent. The
        // profile lock goes with the task.
        let (api, p, info) = (
            self.inner.api.clone(),
            self.inner.profile.clone(),
            self.inner.info.clone(),
        );
        let inner = self.inner.clone();
        let rotation = tokio::spawn(async move {
            let _lock = lock;
            // The same key for every try, in any process of this profile.
            // Without one (the profile's folder cannot be written) the
            // refresh still goes, as a client without keys does.
            let key = {
                let (p, t) = (p.clone(), presented.clone());
                match blocking(move || p.refresh_retry_key(&t)).await {
                    Ok(k) => Some(k),
                    Err(e) => {
                        tracing::warn!(error = %e, "no retry key for this refresh; refreshing without");
                        None
                    }
                }
            };
            let refreshed = retry_lost_answer("a token refresh", |t| {
                api.refresh_within(&presented, key.as_deref(), t)
            })
            .await?;
            let new = secrets_from(&refreshed);
            if let Ok(mut r) = inner.rotated.lock() {
                *r = Some((presented, new.clone()));
            }
            let s = new.clone();
            if let Err(e) = blocking(move || p.save_secrets(&info, &s)).await {
                tracing::error!(error = %e, "cannot store the refreshed session; it lasts until this process ends");
            }
            Ok::<_, ClientError>(new)
        });
        let rotated = rotation
            .await
            .map_err(|e| ClientError::Invalid(format!("token refresh: {e}")))?;
        if let Ok(mut d) = self.inner.disabled.lock() {
            match &rotated {
                Err(ClientError::Api(p)) if p.code == "account_disabled" => {
                    *d = Some(DisabledBackoff::after(d.as_ref(), p.clone()));
                }
                Ok(_) => *d = None,
                // The network, say: the account is as disabled as it was.
                Err(_) => {}
            }
        }
        match rotated {
            Ok(new) => {
                // The old refresh token is spent now: keep the new pair even
                // if it could not be stored (the task noted it too).
                *secrets = new;
                Ok(())
            }
            // A disabled account keeps its session (calls fail with
            // `account_disabled` until an admin enables it again).
            Err(e) if ends_session(&e) => {
                let reason = e.to_string();
                let p = self.inner.profile.clone();
                // A deleted account leaves nothing behind here either (this
                // device was offline, or its own deletion lost its answer).
                let deleted = e.code() == Some("account_deleted");
                let cache = self.cache().clone();
                blocking(move || {
                    p.clear()?;
                    if deleted {
                        wipe_local(&p, &cache)?;
                    }
                    Ok(())
                })
                .await?;
                self.emit(ClientEvent::SignedOut {
                    reason: reason.clone(),
                    code: e.code().map(str::to_owned),
                });
                Err(ClientError::SignedOut(reason))
            }
            Err(e) => Err(e),
        }
    }

    /// The refusal of a disabled account's last refresh, while its back-off
    /// lasts (see [`DisabledBackoff`]): answered before any file, keyring
    /// or network work.
    fn refused_lately(&self) -> Result<()> {
        let d = self.inner.disabled.lock().ok().and_then(|d| d.clone());
        match d {
            Some(b) if std::time::Instant::now() < b.until => Err(ClientError::Api(b.refusal)),
            _ => Ok(()),
        }
    }

    /// Runs an authenticated call, refreshing and retrying once on 401.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(Api, String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = self.token().await?;
        match f(self.inner.api.clone(), token.clone()).await {
            Err(e) if is_unauthorized(&e) => {
                self.refresh_after(&token).await?;
                let token = self.token().await?;
                f(self.inner.api.clone(), token).await
            }
            other => other,
        }
    }

    /// My message with `client_id` as this device has it (queued, sent or
    /// refused), if it does.
    pub async fn my_message(&self, client_id: &str) -> Result<Option<CachedMessage>> {
        let (me, cid) = (self.user_id().to_owned(), client_id.to_owned());
        self.cache()
            .run(move |c| cache::my_message(c, &me, &cid))
            .await
    }

    /// How many of my messages never reached the server (queued or refused):
    /// a sign-out deletes them with the cache.
    pub async fn unsent_count(&self) -> Result<u64> {
        let me = self.user_id().to_owned();
        self.cache().run(move |c| cache::unsent_count(c, &me)).await
    }

    /// Signs this device out on the server and forgets the session locally.
    pub async fn logout(&self) -> Result<()> {
        let r = self
            .call(|api, t| async move { api.logout(&t).await })
            .await;
        self.forget_here().await?;
        match r {
            Ok(()) | Err(ClientError::SignedOut(_)) => Ok(()),
            Err(e) if is_unauthorized(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Asks the server to send a sign-in code to my own address or number,
    /// the proof [`Client::delete_account`] needs.
    pub async fn ask_deletion_code(&self) -> Result<(String, OtpRequested)> {
        let me = self.me().await?;
        let identifier = me.identifier.clone();
        let sent = self
            .call(|api, _| {
                let id = identifier.clone();
                async move { api.request_otp(&id).await }
            })
            .await?;
        Ok((me.identifier, sent))
    }

    /// Deletes my account for good with the code from
    /// [`Client::ask_deletion_code`] (see `parley_protocol::DeleteAccount`),
    /// then forgets the session and the cache here, as a sign-out does. A
    /// wrong code changes nothing (and counts as an attempt).
    pub async fn delete_account(&self, code: &str) -> Result<()> {
        let code = code.trim().to_owned();
        self.call(|api, t| {
            let code = code.clone();
            async move { api.delete_me(&t, &code).await }
        })
        .await?;
        self.forget_here().await
    }

    /// Forgets the session and the cache of this profile (the server is not
    /// asked: after a logout, a deletion, or revoking this very device).
    pub async fn forget_here(&self) -> Result<()> {
        let p = self.inner.profile.clone();
        let cache = self.cache().clone();
        blocking(move || {
            p.clear()?;
            wipe_local(&p, &cache)
        })
        .await
    }

    // --- profile ---------------------------------------------------------

    pub async fn me(&self) -> Result<Me> {
        self.call(|api, t| async move { api.me(&t).await }).await
    }

    pub async fn update_profile(&self, patch: UpdateMe) -> Result<Me> {
        self.call(|api, t| {
            let patch = patch.clone();
            async move { api.update_me(&t, &patch).await }
        })
        .await
    }

    pub async fn set_avatar(&self, path: &std::path::Path) -> Result<Me> {
        // Checked before reading it all: the server takes at most 5 MiB.
        let size = file_size(path).await?;
        if size > limits::AVATAR_MAX_BYTES as u64 {
            return Err(ClientError::Invalid(format!(
                "{}: {size} bytes; an avatar may be at most {} (5 MiB)",
                path.display(),
                limits::AVATAR_MAX_BYTES
            )));
        }
        let bytes = tokio::fs::read(path).await?;
        self.set_avatar_bytes(mime_of(path), bytes).await
    }

    /// Sets my avatar from image bytes already in memory (a cropped image).
    pub async fn set_avatar_bytes(&self, mime: &'static str, bytes: Vec<u8>) -> Result<Me> {
        self.call(|api, t| {
            let bytes = bytes.clone();
            async move { api.set_avatar(&t, mime, bytes).await }
        })
        .await
    }

    // --- contacts --------------------------------------------------------

    pub async fn contact_code(&self) -> Result<ContactCode> {
        self.call(|api, t| async move { api.contact_code(&t).await })
            .await
    }

    /// Sends a connection request with a scanned or typed code.
    pub async fn request_connection(&self, code: &str) -> Result<ConnectionRequest> {
        let r = self
            .call(|api, t| {
                let code = code.to_owned();
                async move { api.request_connection(&t, &code).await }
            })
            .await?;
        let r2 = r.clone();
        self.cache()
            .run(move |c| cache::upsert_request(c, &r2, false))
            .await?;
        Ok(r)
    }

    /// Pending requests (refreshing the cache).
    pub async fn requests(&self, direction: Direction) -> Result<Vec<ConnectionRequest>> {
        let list = self
            .call(|api, t| async move { api.requests(&t, direction).await })
            .await?;
        Ok(list)
    }

    pub async fn accept(&self, request_id: &str) -> Result<Connection> {
        let c = self
            .call(|api, t| {
                let id = request_id.to_owned();
                async move { api.accept(&t, &id).await }
            })
            .await?;
        let (c2, id) = (c.clone(), request_id.to_owned());
        self.cache()
            .run(move |db| {
                cache::upsert_contact(db, &c2)?;
                cache::remove_request(db, &id)
            })
            .await?;
        Ok(c)
    }

    pub async fn decline(&self, request_id: &str) -> Result<()> {
        self.call(|api, t| {
            let id = request_id.to_owned();
            async move { api.decline(&t, &id).await }
        })
        .await?;
        let id = request_id.to_owned();
        self.cache()
            .run(move |db| cache::remove_request(db, &id))
            .await
    }

    /// Contacts from the server (refreshing the cache); offline, from the cache.
    pub async fn contacts(&self) -> Result<Vec<Connection>> {
        match self
            .call(|api, t| async move { api.connections(&t).await })
            .await
        {
            Ok(list) => {
                let l2 = list.clone();
                self.cache()
                    .run(move |c| cache::replace_contacts(c, &l2))
                    .await?;
                Ok(list)
            }
            Err(e) if e.is_transient() => self.cache().run(|c| cache::contacts(c)).await,
            Err(e) => Err(e),
        }
    }

    /// The chat with `who`: a contact (by id, username or name; the chat is
    /// opened if need be), or else someone whose chat I still have though
    /// they are no longer a contact (removed, or a deleted account: its
    /// history stays readable), by name or id (the server no longer shows
    /// an ex-contact's username).
    pub async fn resolve_chat(&self, who: &str) -> Result<Chat> {
        if let Some(c) = self.find_contact(who).await? {
            return self.chat_with(&c.user.id).await;
        }
        self.ex_contact_chat(who).await
    }

    /// Like [`Client::resolve_chat`], but never opens a chat on the server:
    /// for reading (a search in one chat), `None` when there is none yet.
    pub async fn existing_chat(&self, who: &str) -> Result<Option<Chat>> {
        if let Some(c) = self.find_contact(who).await? {
            let chats = self.chats().await?;
            return Ok(chats.into_iter().find(|ch| ch.peer.id == c.user.id));
        }
        self.ex_contact_chat(who).await.map(Some)
    }

    /// The chat with someone no longer a contact, by name or id.
    async fn ex_contact_chat(&self, who: &str) -> Result<Chat> {
        let contacts = self.contacts().await?;
        let chats: Vec<Chat> = self
            .chats()
            .await?
            .into_iter()
            .filter(|c| !contacts.iter().any(|k| k.user.id == c.peer.id))
            .collect();
        let w = who.trim().trim_start_matches('@').to_lowercase();
        let sets: [Vec<&Chat>; 2] = [
            chats
                .iter()
                .filter(|c| c.peer.id.as_str() == who.trim())
                .collect(),
            chats
                .iter()
                .filter(|c| c.peer.display_name.to_lowercase() == w)
                .collect(),
        ];
        for set in sets {
            match set.len() {
                0 => continue,
                1 => return Ok(set[0].clone()),
                _ => {
                    return Err(ClientError::Invalid(format!(
                        "{who:?} matches several chats; use the user id (`parley --json chats`)"
                    )))
                }
            }
        }
        Err(ClientError::Invalid(format!(
            "no contact or chat {who:?} (see `parley contacts` and `parley chats`)"
        )))
    }

    /// Finds a contact by user id, username (with or without `@`) or display
    /// name (case-insensitive, must be unique).
    pub async fn resolve_contact(&self, who: &str) -> Result<Connection> {
        self.find_contact(who).await?.ok_or_else(|| {
            ClientError::Invalid(format!("no contact {who:?} (see `parley contacts`)"))
        })
    }

    /// The contact `who` names (id, username or display name), if one does;
    /// an error when several do.
    async fn find_contact(&self, who: &str) -> Result<Option<Connection>> {
        let contacts = self.contacts().await?;
        let w = who.trim().trim_start_matches('@').to_lowercase();
        let by_id: Vec<&Connection> = contacts
            .iter()
            .filter(|c| c.user.id.as_str() == who.trim())
            .collect();
        let by_username: Vec<&Connection> = contacts
            .iter()
            .filter(|c| c.user.username.as_deref().is_some_and(|u| u == w))
            .collect();
        let by_name: Vec<&Connection> = contacts
            .iter()
            .filter(|c| c.user.display_name.to_lowercase() == w)
            .collect();
        for set in [by_id, by_username, by_name] {
            match set.len() {
                0 => continue,
                1 => return Ok(Some(set[0].clone())),
                _ => {
                    return Err(ClientError::Invalid(format!(
                        "{who:?} matches several contacts; use the username or user id"
                    )))
                }
            }
        }
        Ok(None)
    }

    pub async fn remove_contact(&self, user_id: &str) -> Result<()> {
        self.call(|api, t| {
            let id = user_id.to_owned();
            async move { api.remove_connection(&t, &id).await }
        })
        .await
    }

    // --- devices ---------------------------------------------------------

    pub async fn devices(&self) -> Result<Vec<Device>> {
        self.call(|api, t| async move { api.devices(&t).await })
            .await
    }

    pub async fn revoke_device(&self, id: &str) -> Result<()> {
        self.call(|api, t| {
            let id = id.to_owned();
            async move { api.revoke_device(&t, &id).await }
        })
        .await
    }

    pub async fn invite_device(&self) -> Result<DeviceInvite> {
        self.call(|api, t| async move { api.create_invite(&t).await })
            .await
    }

    pub async fn link_info(&self, link: &qr::DeviceLinkQr) -> Result<DeviceLinkInfo> {
        self.call(|api, t| {
            let l = link.clone();
            async move { api.link_info(&t, &l.link_id, &l.secret).await }
        })
        .await
    }

    pub async fn approve_link(&self, link: &qr::DeviceLinkQr) -> Result<()> {
        self.call(|api, t| {
            let l = link.clone();
            async move { api.approve_link(&t, &l.link_id, &l.secret).await }
        })
        .await
    }

    // --- chats -----------------------------------------------------------

    /// Chats from the server (refreshing the cache); offline, from the cache.
    /// Every chat (paging through the server's list), or the cached ones
    /// while the server cannot be reached: pinned ones first (latest pinned
    /// on top), then by newest activity.
    pub async fn chats(&self) -> Result<Vec<Chat>> {
        let mut list = self.chats_by_activity().await?;
        in_list_order(&mut list);
        Ok(list)
    }

    /// The chats as this device's cache holds them, in [`Client::chats`]'
    /// order, without asking the server: the realtime link keeps them
    /// current (new messages, reads, mutes, pins, clears, names), all but a
    /// chat the cache never held, which only [`Client::chats`] brings.
    pub async fn cached_chats(&self) -> Result<Vec<Chat>> {
        let mut list = self.cache().run(|c| cache::chats(c)).await?;
        in_list_order(&mut list);
        Ok(list)
    }

    async fn chats_by_activity(&self) -> Result<Vec<Chat>> {
        match self.all_chats().await {
            Ok(list) => {
                let l2 = list.clone();
                self.cache()
                    .run(move |c| {
                        for chat in &l2 {
                            cache::store_server_chat(c, chat)?;
                        }
                        Ok(())
                    })
                    .await?;
                Ok(list)
            }
            Err(e) if e.is_transient() => self.cache().run(|c| cache::chats(c)).await,
            Err(e) => Err(e),
        }
    }

    async fn all_chats(&self) -> Result<Vec<Chat>> {
        let mut all: Vec<Chat> = Vec::new();
        loop {
            let after = all.last().cloned();
            let page = self
                .call(|api, t| {
                    let after = after.clone();
                    async move { api.chats(&t, limits::CHATS_LIMIT_MAX, after.as_ref()).await }
                })
                .await?;
            let last_page = page.len() < limits::CHATS_LIMIT_MAX as usize;
            all.extend(page);
            if last_page {
                return Ok(all);
            }
        }
    }

    /// The chat with a contact (created on first use). Offline, the chat
    /// as cached, if there is one: a message to it can still be queued.
    pub async fn chat_with(&self, user_id: &UserId) -> Result<Chat> {
        let opened = self
            .call(|api, t| {
                let id = user_id.clone();
                async move { api.open_chat(&t, &id).await }
            })
            .await;
        let chat = match opened {
            Ok(chat) => chat,
            Err(e) if e.is_transient() => {
                let peer = user_id.clone();
                let cached = self
                    .cache()
                    .run(move |c| Ok(cache::chats(c)?.into_iter().find(|ch| ch.peer.id == peer)))
                    .await?;
                return cached.ok_or(e);
            }
            Err(e) => return Err(e),
        };
        let c2 = chat.clone();
        self.cache()
            .run(move |c| cache::store_server_chat(c, &c2))
            .await?;
        Ok(chat)
    }

    /// Fetches messages newer than the cache holds, then answers from the cache.
    pub async fn history(&self, chat_id: &str, limit: u32) -> Result<Vec<CachedMessage>> {
        // Resume from what was fetched contiguously before, not from the
        // highest seq cached: a message sent from here lands in the cache
        // without the ones before it.
        let key = format!("synced:{chat_id}");
        let k = key.clone();
        let mut after = self
            .cache()
            .run(move |c| {
                Ok(cache::get_kv(c, &k)?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0))
            })
            .await?;
        loop {
            let page = self
                .call(|api, t| {
                    let id = chat_id.to_owned();
                    async move {
                        api.history(&t, &id, None, Some(after), limits::HISTORY_LIMIT_MAX)
                            .await
                    }
                })
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) if e.is_transient() => break,
                Err(e) => return Err(e),
            };
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            // A page that does not move forward (a server ignoring
            // `after_seq`) would be asked for again forever.
            let full = page.len() as u32 == limits::HISTORY_LIMIT_MAX && last > after;
            self.cache_page(page).await?;
            after = after.max(last);
            let (k, v) = (key.clone(), last.to_string());
            self.cache().run(move |c| cache::set_kv(c, &k, &v)).await?;
            if !full {
                break;
            }
        }
        // The latest page again: statuses, edits and reactions of messages
        // already cached may have changed while no realtime loop ran.
        let latest = self
            .call(|api, t| {
                let id = chat_id.to_owned();
                async move {
                    api.history(
                        &t,
                        &id,
                        None,
                        None,
                        limit.clamp(1, limits::HISTORY_LIMIT_MAX),
                    )
                    .await
                }
            })
            .await;
        match latest {
            Ok(page) => self.cache_page(page).await?,
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e),
        }
        let id = chat_id.to_owned();
        self.cache()
            .run(move |c| cache::messages(c, &id, None, limit))
            .await
    }

    /// Stores a page of messages from the server in the cache.
    async fn cache_page(&self, page: Vec<Message>) -> Result<()> {
        self.cache()
            .run(move |c| {
                for m in &page {
                    cache::upsert_message(c, m)?;
                }
                Ok(())
            })
            .await
    }

    /// Older messages of a chat (scrolling up): the `limit` before
    /// `before_seq`, fetched from the server into the cache when the cache
    /// lacks some of them, then answered from the cache. A page shorter than
    /// `limit` is the start of the chat; so offline, a page the cache holds
    /// only part of is the network error, to be tried again.
    pub async fn older_messages(
        &self,
        chat_id: &str,
        before_seq: u64,
        limit: u32,
    ) -> Result<Vec<CachedMessage>> {
        let limit = limit.clamp(1, limits::HISTORY_LIMIT_MAX);
        let id = chat_id.to_owned();
        let (cached, chat) = self
            .cache()
            .run(move |c| {
                Ok((
                    cache::messages(c, &id, Some(before_seq), limit)?,
                    cache::chat(c, &id)?,
                ))
            })
            .await?;
        let first = chat.map_or(1, |c| c.cleared_up_to_seq + 1);
        if before_seq <= first || page_is_complete(&cached, before_seq, limit, first) {
            return Ok(cached);
        }
        let page = self
            .call(|api, t| {
                let id = chat_id.to_owned();
                async move { api.history(&t, &id, Some(before_seq), None, limit).await }
            })
            .await;
        // Offline too: the cache's part of the page is not the whole of it,
        // and a short page would read as the start of the chat.
        self.cache_page(page?).await?;
        let id = chat_id.to_owned();
        self.cache()
            .run(move |c| cache::messages(c, &id, Some(before_seq), limit))
            .await
    }

    /// Queues a message (shown as pending at once) and wakes the realtime loop.
    /// A message the server would refuse on every try (see
    /// [`SendMessage::validate`]) is refused here instead, with
    /// [`ClientError::Invalid`], and not queued.
    pub async fn queue_message(
        &self,
        chat_id: &str,
        body: &str,
        reply_to: Option<String>,
        attachment_ids: Vec<String>,
    ) -> Result<CachedMessage> {
        self.queue(chat_id, body, reply_to, attachment_ids, false)
            .await
    }

    /// [`Client::queue_message`], or a forwarded copy (`forwarded`).
    async fn queue(
        &self,
        chat_id: &str,
        body: &str,
        reply_to: Option<String>,
        attachment_ids: Vec<String>,
        forwarded: bool,
    ) -> Result<CachedMessage> {
        let item = OutboxItem {
            client_id: uuid::Uuid::now_v7().to_string(),
            chat_id: chat_id.to_owned(),
            body: body.to_owned(),
            reply_to,
            attachment_ids,
            attempts: 0,
            forwarded,
        };
        // Refused here, not queued: the server would refuse it on every try.
        SendMessage {
            client_id: item.client_id.clone(),
            body: item.body.clone(),
            reply_to: None,
            attachment_ids: item.attachment_ids.clone(),
            forwarded,
        }
        .validate()
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let me = self.user_id().to_owned();
        let m = self
            .cache()
            .run(move |c| cache::enqueue(c, &me, &item, chrono::Utc::now()))
            .await?;
        self.inner.outbox_kick.notify_one();
        Ok(m)
    }

    /// Sends every queued message over REST (idempotent: a retry of something
    /// the server already has returns the original). Returns what was stored;
    /// the first refusal for good, if any, as the error (see
    /// [`Client::flush_outbox_report`] for each message's outcome).
    pub async fn flush_outbox(&self) -> Result<Vec<CachedMessage>> {
        let report = self.flush_outbox_report().await?;
        let deferred = report
            .deferred
            .into_iter()
            .map(|d| (d.client_id, d.problem));
        match report.refused.into_iter().chain(deferred).next() {
            Some((_, p)) => Err(ClientError::Api(p)),
            None => Ok(report.sent),
        }
    }

    /// Sends every queued message over REST, in order, going on past those
    /// the server refuses for good (each becomes `failed`, and one refusal
    /// must not hold back, or make someone send twice, the messages after
    /// it). Stops at the first error that is not final (the network, a full
    /// disk, a rate limit): what is left stays queued, and that error is
    /// returned. A server error on one message (500) holds back only its
    /// chat: the rest of that chat stays queued (in `deferred`), the other
    /// chats go on.
    pub async fn flush_outbox_report(&self) -> Result<Flushed> {
        let items = self.cache().run(|c| cache::outbox(c)).await?;
        let mut done = Vec::new();
        let mut refused = Vec::new();
        let mut deferred = Vec::new();
        let mut held = std::collections::HashSet::new();
        for item in items {
            if held.contains(&item.chat_id) {
                continue;
            }
            let req = SendMessage {
                client_id: item.client_id.clone(),
                body: item.body.clone(),
                reply_to: item.reply_to.clone(),
                attachment_ids: item.attachment_ids.clone(),
                forwarded: item.forwarded,
            };
            let chat = item.chat_id.clone();
            match self
                .call(|api, t| {
                    let (req, chat) = (req.clone(), chat.clone());
                    async move { api.send_message(&t, &chat, &req).await }
                })
                .await
            {
                Ok(m) => done.push(self.outbox_done(m).await?),
                Err(ClientError::Api(p)) if !refused_for_now(&p) && p.status != 401 => {
                    self.outbox_failed(&item.client_id, p.clone()).await?;
                    refused.push((item.client_id.clone(), p));
                }
                Err(e) => {
                    let problem = match &e {
                        ClientError::Api(p) if refused_for_now(p) => Some(p.clone()),
                        _ => None,
                    };
                    self.outbox_deferred(&item.client_id, e.to_string(), problem.clone())
                        .await?;
                    match problem {
                        Some(p) if fails_only_its_chat(&p) => {
                            held.insert(item.chat_id.clone());
                            deferred.push(Deferred {
                                client_id: item.client_id.clone(),
                                chat_id: item.chat_id.clone(),
                                problem: p,
                            });
                        }
                        _ => return Err(e),
                    }
                }
            }
        }
        Ok(Flushed {
            sent: done,
            refused,
            deferred,
        })
    }

    async fn outbox_done(&self, m: Message) -> Result<CachedMessage> {
        let m2 = m.clone();
        self.cache()
            .run(move |c| cache::outbox_done(c, &m2))
            .await?;
        let id = m.id.clone();
        let cached = self
            .cache()
            .run(move |c| cache::message_by_id(c, &id))
            .await?
            .ok_or_else(|| ClientError::Invalid("sent message missing from cache".into()))?;
        self.emit(ClientEvent::Sent {
            message: Box::new(cached.clone()),
        });
        Ok(cached)
    }

    /// A queued message stays queued after a failure that is not final (the
    /// network, an expired session, or the server's "not now"); `problem`,
    /// the server's "not now", is told to the UI.
    async fn outbox_deferred(
        &self,
        client_id: &str,
        text: String,
        problem: Option<Problem>,
    ) -> Result<()> {
        let cid = client_id.to_owned();
        self.cache()
            .run(move |c| cache::outbox_attempt_failed(c, &cid, &text))
            .await?;
        if let Some(error) = problem {
            self.emit(ClientEvent::SendDeferred {
                client_id: client_id.to_owned(),
                error,
            });
        }
        Ok(())
    }

    async fn outbox_failed(&self, client_id: &str, error: Problem) -> Result<()> {
        let (me, cid, p) = (
            self.user_id().to_owned(),
            client_id.to_owned(),
            error.clone(),
        );
        self.cache()
            .run(move |c| cache::outbox_refused(c, &me, &cid, &p))
            .await?;
        self.emit(ClientEvent::SendFailed {
            client_id: client_id.to_owned(),
            error,
        });
        Ok(())
    }

    /// Queues a message the server refused for good again (after whatever
    /// made it refuse changed, e.g. the contact is back); it goes out with
    /// the outbox, under its first client id.
    pub async fn retry_failed(&self, client_id: &str) -> Result<()> {
        let (me, cid) = (self.user_id().to_owned(), client_id.to_owned());
        let moved = self
            .cache()
            .run(move |c| cache::retry_failed(c, &me, &cid))
            .await?;
        if !moved {
            return Err(ClientError::Invalid(format!(
                "no failed message {client_id} to send again"
            )));
        }
        self.inner.outbox_kick.notify_one();
        Ok(())
    }

    /// Drops a message the server refused for good.
    pub async fn discard_failed(&self, client_id: &str) -> Result<()> {
        let (me, cid) = (self.user_id().to_owned(), client_id.to_owned());
        let gone = self
            .cache()
            .run(move |c| cache::discard_failed(c, &me, &cid))
            .await?;
        if !gone {
            return Err(ClientError::Invalid(format!(
                "no failed message {client_id}"
            )));
        }
        Ok(())
    }

    pub async fn read(&self, chat_id: &str, up_to_seq: u64) -> Result<()> {
        self.call(|api, t| {
            let id = chat_id.to_owned();
            async move { api.read(&t, &id, up_to_seq).await }
        })
        .await
    }

    /// Mutes a chat's notifications on all my devices (`Some`: until
    /// `until`, or until unmuted when it is `None`), or unmutes it (`None`).
    /// The cache follows at once, from the server's chat read after the
    /// change (so a newer mute from another device is never overwritten
    /// with this one), not only when the `chat.muted` event comes.
    pub async fn mute(&self, chat_id: &str, mute: Option<Mute>) -> Result<()> {
        if let Some(m) = &mute {
            m.validate(chrono::Utc::now())
                .map_err(|e| ClientError::Invalid(e.to_string()))?;
        }
        self.call(|api, t| {
            let id = chat_id.to_owned();
            async move { api.mute(&t, &id, mute).await }
        })
        .await?;
        self.refresh_chat(chat_id).await
    }

    /// Pins a chat to the top of my lists on all my devices, or unpins it.
    /// At most [`limits::PINNED_CHATS_MAX`]: the server refuses one more
    /// (`too_many_pinned`).
    pub async fn pin(&self, chat_id: &str, pinned: bool) -> Result<()> {
        self.call(|api, t| {
            let id = chat_id.to_owned();
            async move { api.pin(&t, &id, pinned).await }
        })
        .await?;
        self.refresh_chat(chat_id).await
    }

    /// Clears my history of a chat up to `up_to_seq` on all my devices
    /// ("Clear chat"; my peer keeps theirs): pass the newest seq the person
    /// saw, so a message that came in meanwhile is not cleared unseen. The
    /// cache drops those messages at once, not only when `chat.cleared`
    /// comes back.
    pub async fn clear_chat(&self, chat_id: &str, up_to_seq: u64) -> Result<()> {
        self.call(|api, t| {
            let id = chat_id.to_owned();
            async move { api.clear_chat(&t, &id, up_to_seq).await }
        })
        .await?;
        // The server's chat says how far it cleared (a seq past the newest
        // counts as the newest) and the unread count after; caching it drops
        // the cleared messages. Should that read fail, the clear still
        // happened: drop what this cache knows to be cleared.
        if let Err(e) = self.refresh_chat(chat_id).await {
            let id = chat_id.to_owned();
            self.cache()
                .run(move |c| {
                    let newest = cache::last_seq(c, &id)?;
                    let unread = cache::chat(c, &id)?.map_or(0, |ch| ch.unread_count);
                    cache::clear_chat(c, &id, up_to_seq.min(newest), unread)
                })
                .await?;
            if !e.is_transient() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Caches the server's state of a chat after I changed it, so a newer
    /// change from another device is never overwritten with mine. A read
    /// (`GET /v1/chats/{id}`), which also works for a chat with someone no
    /// longer a contact.
    async fn refresh_chat(&self, chat_id: &str) -> Result<()> {
        self.fetch_chat(chat_id).await.map(|_| ())
    }

    /// The server's state of one chat, cached.
    async fn fetch_chat(&self, chat_id: &str) -> Result<Chat> {
        let chat = self
            .call(|api, t| {
                let id = chat_id.to_owned();
                async move { api.chat(&t, &id).await }
            })
            .await?;
        let c2 = chat.clone();
        self.cache()
            .run(move |c| cache::store_server_chat(c, &c2))
            .await?;
        Ok(chat)
    }

    /// A chat by id for naming what is in it (search results): the cached
    /// copy when there is one (its peer's name may be a little old), else
    /// the server's, one request, not the whole chat list.
    pub async fn known_chat(&self, chat_id: &str) -> Result<Chat> {
        let id = chat_id.to_owned();
        match self.cache().run(move |c| cache::chat(c, &id)).await? {
            Some(chat) => Ok(chat),
            None => self.fetch_chat(chat_id).await,
        }
    }

    pub async fn react(&self, message_id: &str, emoji: &str, add: bool) -> Result<()> {
        self.call(|api, t| {
            let (id, e) = (message_id.to_owned(), emoji.to_owned());
            async move { api.react(&t, &id, &e, add).await }
        })
        .await
    }

    pub async fn search(&self, q: &str) -> Result<Vec<Message>> {
        self.search_page(q, None, None).await
    }

    /// A page of search results: in one chat or all, older than `before`
    /// (the last result of the previous page) or from the newest.
    pub async fn search_page(
        &self,
        q: &str,
        chat_id: Option<&str>,
        before: Option<&str>,
    ) -> Result<Vec<Message>> {
        self.call(|api, t| {
            let (q, c, b) = (
                q.to_owned(),
                chat_id.map(str::to_owned),
                before.map(str::to_owned),
            );
            async move { api.search(&t, &q, c.as_deref(), b.as_deref()).await }
        })
        .await
    }

    /// Uploads a file; `progress(sent, total)`.
    pub async fn upload(
        &self,
        path: &std::path::Path,
        progress: impl Fn(u64) + Send + Sync + Clone + 'static,
    ) -> Result<Attachment> {
        // A missing or unreadable file is named, not a bare OS error.
        file_size(path).await?;
        let mime = mime_of(path);
        let att = self
            .call(|api, t| {
                let (path, progress) = (path.to_owned(), progress.clone());
                async move { api.upload(&t, &path, mime, progress).await }
            })
            .await?;
        let a = att.clone();
        self.cache()
            .run(move |c| cache::remember_upload(c, &a, chrono::Utc::now()))
            .await?;
        Ok(att)
    }

    /// Saves an attachment to `dest`, checked against its size and SHA-256;
    /// `progress(received)`. Returns the path written (in a folder, a free
    /// name: see [`crate::download`]).
    pub async fn save_attachment(
        &self,
        att: &Attachment,
        dest: crate::download::Destination,
        progress: impl Fn(u64),
    ) -> Result<std::path::PathBuf> {
        let resp = self
            .call(|api, t| {
                let id = att.id.clone();
                async move { api.download_response(&t, &id).await }
            })
            .await?;
        crate::download::save(resp, att, dest, progress).await
    }

    /// An attachment's bytes, to show: from this device's copy (see
    /// [`crate::media`]), else downloaded, checked against its size and
    /// SHA-256, and kept for next time. So an image scrolled past again, or
    /// shown offline, costs no download.
    pub async fn attachment_bytes(&self, att: &Attachment) -> Result<Vec<u8>> {
        let info = &self.inner.info;
        let media =
            crate::media::Media::new(self.inner.profile.media_dir(&info.server, &info.user_id));
        let Some(path) = media.path_of(att) else {
            // Not a SHA-256 to name a file by: nothing is kept.
            return self
                .call(|api, t| {
                    let id = att.id.clone();
                    async move { api.download(&t, &id).await }
                })
                .await;
        };
        let kept = {
            let (m, a) = (media.clone(), att.clone());
            blocking(move || m.read(&a)).await?
        };
        if let Some(bytes) = kept {
            return Ok(bytes);
        }
        {
            let m = media.clone();
            blocking(move || m.make_dir()).await?;
        }
        self.save_attachment(
            att,
            crate::download::Destination::File(path.clone()),
            |_| {},
        )
        .await?;
        let (a, p, me) = (
            att.clone(),
            self.inner.profile.clone(),
            info.user_id.clone(),
        );
        blocking(move || {
            let bytes = std::fs::read(&path)?;
            // Signed out while it came (the cache and the kept files are
            // gone): nothing of this account stays behind.
            if p.info()?.is_none_or(|i| i.user_id != me) {
                let _ = std::fs::remove_file(&path);
            }
            if bytes.len() as u64 != a.size {
                return Err(ClientError::Invalid(
                    "the attachment kept on this device changed while it was read".into(),
                ));
            }
            media.trim(crate::media::KEPT_BYTES);
            Ok(bytes)
        })
        .await
    }

    /// A message of one of my chats by id: from the cache, or else from
    /// each chat's recent history (fetched, and so cached), for an id from
    /// `search` or seen on another device. `None` when it is older than
    /// that or not mine to see.
    pub async fn find_message(&self, message_id: &str) -> Result<Option<CachedMessage>> {
        let lookup = |id: String| {
            let cache = self.cache().clone();
            async move { cache.run(move |conn| cache::message_by_id(conn, &id)).await }
        };
        if let Some(m) = lookup(message_id.to_owned()).await? {
            return Ok(Some(m));
        }
        for chat in self.chats().await? {
            self.history(&chat.id, limits::HISTORY_LIMIT_MAX).await?;
            if let Some(m) = lookup(message_id.to_owned()).await? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Sends a copy of the message `message_id` to the contact `to`: its
    /// text, and its attachments as my own uploads (downloaded, checked
    /// against their SHA-256, uploaded again under the same name and type;
    /// the server keeps one copy of the bytes). Queued like any send, in
    /// our chat (opened if need be, once the message is found).
    /// `progress(done, total)` counts the attachments' bytes, down and up.
    pub async fn forward(
        &self,
        message_id: &str,
        to: &UserId,
        progress: impl Fn(u64, u64) + Send + Sync + Clone + 'static,
    ) -> Result<CachedMessage> {
        let m = self.find_message(message_id).await?.ok_or_else(|| {
            ClientError::Invalid(format!(
                "message {message_id} is not among the recent messages of your chats"
            ))
        })?;
        if m.message.deleted {
            return Err(ClientError::Invalid(
                "a deleted message cannot be forwarded".into(),
            ));
        }
        let to_chat = self.chat_with(to).await?.id;
        let atts = m.message.attachments.clone();
        let total: u64 = atts.iter().map(|a| a.size * 2).sum();
        let mut done = 0u64;
        let mut ids = Vec::with_capacity(atts.len());
        // In the profile, not the system's temp folder: what an interrupted
        // forward left (Ctrl+C) is cleared by the next one.
        let root = self.profile().dir().join(FORWARDING_DIR);
        let count = atts.len();
        // Off the runtime: clear what an earlier forward left, then one
        // folder per file, so that every file keeps its own name.
        let dirs: Vec<tempfile::TempDir> = blocking(move || {
            std::fs::create_dir_all(&root)?;
            crate::download::clear_stale(&root, FORWARDING_KEPT);
            (0..count)
                .map(|_| Ok(tempfile::tempdir_in(&root)?))
                .collect()
        })
        .await?;
        for (att, dir) in atts.iter().zip(&dirs) {
            let p = progress.clone();
            let path = self
                .save_attachment(
                    att,
                    crate::download::Destination::Folder(dir.path().to_owned()),
                    move |got| p(done + got, total),
                )
                .await?;
            done += att.size;
            let (p, at) = (progress.clone(), done);
            let mime = att.mime.clone();
            let copy = self
                .call(|api, t| {
                    let (path, mime, p) = (path.clone(), mime.clone(), p.clone());
                    async move {
                        api.upload(&t, &path, &mime, move |sent| p(at + sent, total))
                            .await
                    }
                })
                .await?;
            done += att.size;
            // The pending copy shows it, as for any upload.
            let c = copy.clone();
            self.cache()
                .run(move |db| cache::remember_upload(db, &c, chrono::Utc::now()))
                .await?;
            ids.push(copy.id);
        }
        // The downloaded copies go with their folders, off the runtime too.
        blocking(move || {
            drop(dirs);
            Ok(())
        })
        .await?;
        self.queue(&to_chat, &m.message.body, None, ids, true).await
    }

    /// Tells the peer I am (or stopped) typing, over the realtime loop's
    /// socket; dropped when the loop is not connected (typing is ephemeral).
    pub fn typing(&self, chat_id: &str, active: bool) {
        let _ = self.inner.frames_tx.send(ClientFrame::Typing {
            chat_id: chat_id.to_owned(),
            active,
        });
    }

    pub(crate) fn frames(&self) -> &Mutex<tokio::sync::mpsc::UnboundedReceiver<ClientFrame>> {
        &self.inner.frames_rx
    }

    /// How long the realtime link may hear nothing before it reconnects
    /// (it pings at a third of that). A test seam: the default is what a
    /// real network wants.
    #[doc(hidden)]
    pub fn set_link_silence_limit(&self, limit: Duration) {
        self.inner.silence_limit_ms.store(
            limit.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub(crate) fn link_silence_limit(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .silence_limit_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub(crate) fn outbox_kick(&self) -> &Notify {
        &self.inner.outbox_kick
    }

    pub(crate) fn emit_event(&self, e: ClientEvent) {
        self.emit(e)
    }

    pub(crate) async fn sent_over_ws(&self, m: Message) -> Result<()> {
        self.outbox_done(m).await.map(|_| ())
    }

    pub(crate) async fn failed_over_ws(&self, client_id: &str, p: Problem) -> Result<()> {
        if !refused_for_now(&p) {
            self.outbox_failed(client_id, p).await
        } else {
            self.outbox_deferred(client_id, p.to_string(), Some(p))
                .await
        }
    }

    /// Reloads chats, recent messages, contacts and requests over REST (after
    /// `resync_required`).
    ///
    /// All or nothing: any failure (offline, a refusal for now) is returned,
    /// so the caller leaves the cursor where it was and tries again, instead
    /// of stepping past a stretch it never learnt. What was cached of each
    /// chat may be stale in ways no event will tell now (edits, deletions,
    /// reactions and ticks from the missed stretch): it is replaced by the
    /// server's chat and its latest page; older pages come back from the
    /// server when scrolled to. Queued and refused messages stay.
    pub async fn resync(&self) -> Result<()> {
        let chats = self.all_chats().await?;
        let mut pages = Vec::with_capacity(chats.len());
        for chat in &chats {
            let page = self
                .call(|api, t| {
                    let id = chat.id.clone();
                    async move {
                        api.history(&t, &id, None, None, limits::HISTORY_LIMIT_MAX)
                            .await
                    }
                })
                .await?;
            pages.push(page);
        }
        let contacts = self
            .call(|api, t| async move { api.connections(&t).await })
            .await?;
        self.cache()
            .run(move |c| {
                let tx = c.unchecked_transaction()?;
                for (chat, page) in chats.iter().zip(&pages) {
                    cache::forget_chat(&tx, &chat.id)?;
                    cache::store_server_chat(&tx, chat)?;
                    for m in page {
                        cache::upsert_message(&tx, m)?;
                    }
                    let newest = page.iter().map(|m| m.seq).max().unwrap_or(0);
                    cache::set_kv(&tx, &format!("synced:{}", chat.id), &newest.to_string())?;
                }
                cache::replace_contacts(&tx, &contacts)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        let incoming = self.requests(Direction::Incoming).await?;
        let outgoing = self.requests(Direction::Outgoing).await?;
        self.cache()
            .run(move |c| cache::replace_requests(c, &incoming, &outgoing))
            .await?;
        self.emit(ClientEvent::Resynced);
        Ok(())
    }

    /// Says how the realtime link stands; `why` (offline): the reason, and
    /// the server's problem code when it refused.
    pub(crate) fn link_state(
        &self,
        state: LinkState,
        retry_in: Option<Duration>,
        why: Option<(String, Option<String>)>,
    ) {
        let (reason, code) = why.map_or((None, None), |(r, c)| (Some(r), c));
        self.emit(ClientEvent::Link {
            state,
            retry_in_ms: retry_in.map(|d| d.as_millis() as u64),
            reason,
            code,
        });
    }
}

/// A media type from a file extension (the server re-checks images).
pub fn mime_of(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        Some("txt" | "md") => "text/plain",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Platform helpers for this client.
pub trait PlatformExt {
    /// The OS platform for desktop builds; `cli` for the terminal client.
    fn current_or_cli() -> Platform;
}

impl PlatformExt for Platform {
    fn current_or_cli() -> Platform {
        if std::env::var("PARLEY_PLATFORM").is_ok_and(|p| p == "desktop") {
            Platform::current()
        } else {
            Platform::Cli
        }
    }
}

/// Pinned chats first, the latest pinned on top; the rest keep their order.
/// Newest activity first, then the pinned ones on top.
fn in_list_order(list: &mut [Chat]) {
    list.sort_by_key(|c| std::cmp::Reverse(c.updated_at));
    pinned_first(list);
}

pub fn pinned_first(list: &mut [Chat]) {
    list.sort_by_key(|c| std::cmp::Reverse(c.pinned_at));
}

/// Where `forward` keeps the files it downloads until they are uploaded
/// again (in the profile), and how old a leftover must be to be cleared.
const FORWARDING_DIR: &str = "forwarding";
const FORWARDING_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Whether cached messages (in seq order, all before `before_seq`) are the
/// page before `before_seq` with nothing missing: they run without a gap up
/// to `before_seq - 1`, and fill the page or reach `first` (seq 1, or the
/// one after what I cleared). Seqs have no gaps on the server, so a gap in
/// the cache is a range never fetched (a sync cut short by the network),
/// and must be fetched, not shown as if those messages did not exist.
fn page_is_complete(cached: &[CachedMessage], before_seq: u64, limit: u32, first: u64) -> bool {
    let (Some(lo), Some(hi)) = (cached.first(), cached.last()) else {
        return false;
    };
    let (lo, hi) = (lo.message.seq, hi.message.seq);
    let unbroken = hi + 1 == before_seq && hi - lo + 1 == cached.len() as u64;
    unbroken && (cached.len() as u32 == limit || lo <= first)
}

#[cfg(test)]
mod link_time_tests {
    use super::link_time_left;
    use std::time::Duration;

    #[test]
    fn a_clock_far_off_the_servers_counts_the_usual_lifetime() {
        let now = chrono::Utc::now();
        let at = |secs: i64| now + chrono::Duration::seconds(secs);
        assert_eq!(link_time_left(at(120), now), Duration::from_secs(120));
        assert_eq!(link_time_left(at(30), now), Duration::from_secs(30));
        // This clock 2+ minutes ahead (expired already), or hours behind.
        assert_eq!(link_time_left(at(0), now), Duration::from_secs(120));
        assert_eq!(link_time_left(at(-300), now), Duration::from_secs(120));
        assert_eq!(link_time_left(at(3 * 3600), now), Duration::from_secs(120));
    }
}
