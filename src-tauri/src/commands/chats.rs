//! Chats and messages: list, history, send (through the outbox), edit,
//! delete, react, read, typing, and contacts to start a chat with.

use crate::{error::CmdResult, state::SessionState};
use parley_client::cache::{self, CachedMessage};
use parley_protocol::{limits, Chat, Connection, UserId};
use serde::Deserialize;
use tauri::State;

/// How many messages a chat view shows when none is asked for.
const PAGE: u32 = 200;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ChatArgs {
    pub chat_id: String,
    /// How many of the latest messages (default 200).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct OlderArgs {
    pub chat_id: String,
    /// Messages before this seq (the oldest one shown).
    pub before_seq: u64,
    /// How many (default 200).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct SendArgs {
    pub chat_id: String,
    pub body: String,
    pub reply_to: Option<String>,
    /// Ids from `upload_attachment` (the body may be empty with one).
    #[serde(default)]
    pub attachment_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct EditArgs {
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct MessageArgs {
    pub message_id: String,
}

/// A message of mine by its client id (one the server refused has no id).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ClientIdArgs {
    pub client_id: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ReactArgs {
    pub message_id: String,
    pub emoji: String,
    /// False removes my reaction.
    pub add: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ReadArgs {
    pub chat_id: String,
    pub up_to_seq: u64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ForwardArgs {
    pub message_id: String,
    /// The contact who gets the copy (their chat is opened if need be).
    pub user_id: UserId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct PinArgs {
    pub chat_id: String,
    pub pinned: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ClearArgs {
    pub chat_id: String,
    /// The newest message the person saw: one that came in meanwhile is
    /// not cleared unseen.
    pub up_to_seq: u64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct MuteArgs {
    pub chat_id: String,
    /// Null unmutes.
    pub mute: Option<parley_protocol::Mute>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct TypingArgs {
    pub chat_id: String,
    pub active: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct OpenChatArgs {
    pub user_id: UserId,
}

/// Chats from the server (refreshing the cache); offline, from the cache.
/// Pinned first, then by activity, newest first (see `Client::chats`).
#[tauri::command]
pub async fn list_chats(session: State<'_, SessionState>) -> CmdResult<Vec<Chat>> {
    Ok(session.client()?.chats().await?)
}

/// The chats as the cache holds them (instant; no request): what the
/// window reloads after each event, the realtime link keeping the cache
/// current. A chat it never held comes with `list_chats`.
#[tauri::command]
pub async fn cached_chats(session: State<'_, SessionState>) -> CmdResult<Vec<Chat>> {
    Ok(session.client()?.cached_chats().await?)
}

/// A chat's latest messages from the cache only (instant; pending last).
#[tauri::command]
pub async fn cached_messages(
    session: State<'_, SessionState>,
    args: ChatArgs,
) -> CmdResult<Vec<CachedMessage>> {
    let limit = args.limit.unwrap_or(PAGE);
    Ok(session
        .client()?
        .cache()
        .run(move |c| cache::messages(c, &args.chat_id, None, limit))
        .await?)
}

/// Fetches what the cache is missing from the server, then answers from the cache.
#[tauri::command]
pub async fn load_history(
    session: State<'_, SessionState>,
    args: ChatArgs,
) -> CmdResult<Vec<CachedMessage>> {
    let limit = args.limit.unwrap_or(PAGE).min(limits::HISTORY_LIMIT_MAX);
    Ok(session.client()?.history(&args.chat_id, limit).await?)
}

/// The page of messages before `before_seq`, for scrolling up through
/// history: from the cache, fetched from the server when missing there.
#[tauri::command]
pub async fn older_messages(
    session: State<'_, SessionState>,
    args: OlderArgs,
) -> CmdResult<Vec<CachedMessage>> {
    let limit = args.limit.unwrap_or(PAGE);
    Ok(session
        .client()?
        .older_messages(&args.chat_id, args.before_seq, limit)
        .await?)
}

/// Queues a message: it is in the cache as pending at once, and the realtime
/// loop sends it (and resends it after a reconnect) until the server has it.
#[tauri::command]
pub async fn send_message(
    session: State<'_, SessionState>,
    args: SendArgs,
) -> CmdResult<CachedMessage> {
    Ok(session
        .client()?
        .queue_message(
            &args.chat_id,
            &args.body,
            args.reply_to,
            args.attachment_ids,
        )
        .await?)
}

/// Edits one of my messages.
#[tauri::command]
pub async fn edit_message(
    session: State<'_, SessionState>,
    args: EditArgs,
) -> CmdResult<CachedMessage> {
    let client = session.client()?;
    let m = client
        .call(|api, t| {
            let (id, body) = (args.message_id.clone(), args.body.clone());
            async move { api.edit_message(&t, &id, &body).await }
        })
        .await?;
    let id = m.id.clone();
    client
        .cache()
        .run(move |c| {
            cache::upsert_message(c, &m)?;
            cache::message_by_id(c, &id)
        })
        .await?
        .ok_or_else(|| crate::error::CommandError::new("local", "edited message not cached"))
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct MessageIdsArgs {
    /// At most a page of them ([`PAGE`]); more are refused.
    pub message_ids: Vec<String>,
}

/// Messages of my chats as the cache holds them, those it does (no
/// request): what the quotes of messages not loaded in the view show, all
/// of a page's in one call.
#[tauri::command]
pub async fn cached_quotes(
    session: State<'_, SessionState>,
    args: MessageIdsArgs,
) -> CmdResult<Vec<CachedMessage>> {
    if args.message_ids.len() > PAGE as usize {
        return Err(crate::error::CommandError::new(
            "invalid",
            format!("at most {PAGE} messages at once"),
        ));
    }
    let ids = args.message_ids;
    Ok(session
        .client()?
        .cache()
        .run(move |c| {
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(cache::message_by_id(c, id)?);
            }
            Ok(found)
        })
        .await?)
}

/// Deletes one of my messages (it stays as a tombstone).
#[tauri::command]
pub async fn delete_message(session: State<'_, SessionState>, args: MessageArgs) -> CmdResult<()> {
    Ok(session
        .client()?
        .call(|api, t| {
            let id = args.message_id.clone();
            async move { api.delete_message(&t, &id).await }
        })
        .await?)
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct SearchArgs {
    /// What to look for (1..=256 characters; words match by prefix).
    pub q: String,
}

/// My messages in every chat that match `q` (the server's full-text
/// search), newest first.
#[tauri::command]
pub async fn search_messages(
    session: State<'_, SessionState>,
    args: SearchArgs,
) -> CmdResult<Vec<parley_protocol::Message>> {
    Ok(session.client()?.search(args.q.trim()).await?)
}

/// Sends again a message the server refused for good (it goes out with the
/// outbox, pending meanwhile).
#[tauri::command]
pub async fn retry_message(session: State<'_, SessionState>, args: ClientIdArgs) -> CmdResult<()> {
    Ok(session.client()?.retry_failed(&args.client_id).await?)
}

/// Drops a message the server refused for good.
#[tauri::command]
pub async fn discard_message(
    session: State<'_, SessionState>,
    args: ClientIdArgs,
) -> CmdResult<()> {
    Ok(session.client()?.discard_failed(&args.client_id).await?)
}

#[tauri::command]
pub async fn react(session: State<'_, SessionState>, args: ReactArgs) -> CmdResult<()> {
    Ok(session
        .client()?
        .react(&args.message_id, &args.emoji, args.add)
        .await?)
}

/// Moves my read watermark (the peer sees "read" when receipts are on).
#[tauri::command]
pub async fn mark_read(session: State<'_, SessionState>, args: ReadArgs) -> CmdResult<()> {
    Ok(session
        .client()?
        .read(&args.chat_id, args.up_to_seq)
        .await?)
}

/// Sends a copy of a message (text and attachments) to a contact; it goes
/// out with the outbox like any send.
#[tauri::command]
pub async fn forward_message(
    session: State<'_, SessionState>,
    args: ForwardArgs,
) -> CmdResult<CachedMessage> {
    Ok(session
        .client()?
        .forward(&args.message_id, &args.user_id, |_, _| {})
        .await?)
}

/// Pins the chat to the top of the list on all my devices, or unpins it.
#[tauri::command]
pub async fn pin_chat(session: State<'_, SessionState>, args: PinArgs) -> CmdResult<()> {
    Ok(session.client()?.pin(&args.chat_id, args.pinned).await?)
}

/// Clears my history of the chat on all my devices (the peer keeps theirs).
#[tauri::command]
pub async fn clear_chat(session: State<'_, SessionState>, args: ClearArgs) -> CmdResult<()> {
    Ok(session
        .client()?
        .clear_chat(&args.chat_id, args.up_to_seq)
        .await?)
}

/// Mutes the chat's notifications on all my devices, or unmutes it.
#[tauri::command]
pub async fn mute_chat(session: State<'_, SessionState>, args: MuteArgs) -> CmdResult<()> {
    Ok(session.client()?.mute(&args.chat_id, args.mute).await?)
}

/// Tells the peer I am typing (ephemeral; dropped while offline).
#[tauri::command]
pub fn set_typing(session: State<'_, SessionState>, args: TypingArgs) -> CmdResult<()> {
    session.client()?.typing(&args.chat_id, args.active);
    Ok(())
}

#[tauri::command]
pub async fn list_contacts(session: State<'_, SessionState>) -> CmdResult<Vec<Connection>> {
    Ok(session.client()?.contacts().await?)
}

/// The chat with a contact (created on first use).
#[tauri::command]
pub async fn open_chat(session: State<'_, SessionState>, args: OpenChatArgs) -> CmdResult<Chat> {
    Ok(session.client()?.chat_with(&args.user_id).await?)
}
