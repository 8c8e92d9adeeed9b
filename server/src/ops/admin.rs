//! `parley-server admin ...`: account and device administration on a data
//! directory, safe while the server runs. Changes that must reach a running
//! server at once (a disabled account's sockets, a revoked device's sockets) are
//! also recorded in `admin_actions`, which the server polls every second
//! (`service::admin::watch`).

use super::{human_bytes, io, show_time, OpsError};
use crate::config::AdminCommand;
use crate::store::{self, admin as sql, now_ms};
use parley_protocol::{Event, Identifier};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Runs one admin command against `data_dir`, printing its result on stdout.
pub fn run(data_dir: &Path, command: &AdminCommand) -> Result<(), OpsError> {
    let db_path = data_dir.join("parley.db");
    let mut conn = sql::open_for_admin(&db_path)?;
    match command {
        AdminCommand::Users => users(&conn),
        AdminCommand::Devices { user } => devices(&conn, user),
        AdminCommand::RevokeDevice { device_id } => revoke_device(&mut conn, device_id),
        AdminCommand::Disable { user } => set_disabled(&mut conn, user, true),
        AdminCommand::Enable { user } => set_disabled(&mut conn, user, false),
        AdminCommand::Storage => storage(&conn, data_dir),
    }
}

fn users(conn: &Connection) -> Result<(), OpsError> {
    let users = sql::users(conn)?;
    println!(
        "{:<36}  {:<32}  {:<20}  {:>7}  {:<20}  STATUS",
        "ID", "IDENTIFIER", "USERNAME", "DEVICES", "CREATED"
    );
    for u in &users {
        println!(
            "{:<36}  {:<32}  {:<20}  {:>7}  {:<20}  {}",
            u.id,
            u.identifier,
            u.username.as_deref().unwrap_or("-"),
            u.live_devices,
            show_time(u.created_at),
            match (u.deleted_at, u.disabled_at) {
                (Some(t), _) => format!("deleted {}", show_time(t)),
                (None, Some(t)) => format!("disabled since {}", show_time(t)),
                (None, None) => "active".to_owned(),
            }
        );
    }
    println!("{} user(s)", users.len());
    Ok(())
}

/// Finds a user by id, identifier (normalised like sign-in does) or username.
fn find_user(conn: &Connection, needle: &str) -> Result<sql::AdminUser, OpsError> {
    let normal = Identifier::parse(needle).map(|i| i.as_str().to_owned());
    let found = match &normal {
        Ok(n) => sql::find_user(conn, n)?,
        Err(_) => None,
    };
    match found {
        Some(u) => Ok(u),
        None => sql::find_user(conn, needle)?.ok_or_else(|| {
            OpsError::Refused(format!(
                "no user {needle:?} (give an id, an identifier or a username; see `admin users`)"
            ))
        }),
    }
}

fn devices(conn: &Connection, needle: &str) -> Result<(), OpsError> {
    let user = find_user(conn, needle)?;
    let devices = sql::devices(conn, &user.id)?;
    println!("devices of {} ({})", user.identifier, user.id);
    println!(
        "{:<36}  {:<24}  {:<8}  {:<20}  {:<20}  STATUS",
        "ID", "NAME", "PLATFORM", "CREATED", "LAST SEEN"
    );
    for d in &devices {
        println!(
            "{:<36}  {:<24}  {:<8}  {:<20}  {:<20}  {}",
            d.id,
            d.name,
            d.platform,
            show_time(d.created_at),
            show_time(d.last_seen_at),
            match d.revoked_at {
                Some(t) => format!("revoked {}", show_time(t)),
                None => "live".to_owned(),
            }
        );
    }
    println!("{} device(s)", devices.len());
    Ok(())
}

fn revoke_device(conn: &mut Connection, device_id: &str) -> Result<(), OpsError> {
    let now = now_ms();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some((user_id, revoked)) = sql::device_owner(&tx, device_id)? else {
        return Err(OpsError::Refused(format!(
            "no device {device_id:?} (see `admin devices USER`)"
        )));
    };
    if revoked {
        println!("device {device_id} was already revoked");
        return Ok(());
    }
    store::auth::revoke_device(&tx, &user_id, device_id, now)?;
    store::links::cancel_made_by(&tx, device_id)?;
    // The user's other devices learn it from their event log, as when the user
    // revokes a device themselves.
    let event = Event::DeviceRevoked {
        device_id: device_id.to_owned(),
    };
    let json = serde_json::to_string(&event)
        .map_err(|e| OpsError::Refused(format!("cannot encode the event: {e}")))?;
    store::events::append(&tx, &user_id, &json, now, None)?;
    sql::record_action(&tx, sql::ACTION_REVOKE_DEVICE, device_id, now)?;
    tx.commit()?;
    println!(
        "device {device_id} of user {user_id} revoked; its sockets close within a few seconds"
    );
    Ok(())
}

fn set_disabled(conn: &mut Connection, needle: &str, disable: bool) -> Result<(), OpsError> {
    let now = now_ms();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let user = find_user(&tx, needle)?;
    if user.deleted_at.is_some() {
        return Err(OpsError::Refused(format!(
            "user {} was deleted by its owner; a deleted account cannot be enabled or disabled",
            user.id
        )));
    }
    if user.disabled_at.is_some() == disable {
        println!(
            "user {} ({}) is already {}",
            user.identifier,
            user.id,
            if disable { "disabled" } else { "enabled" }
        );
        return Ok(());
    }
    sql::set_disabled(&tx, &user.id, disable.then_some(now), now)?;
    let action = if disable {
        sql::ACTION_DISABLE_USER
    } else {
        sql::ACTION_ENABLE_USER
    };
    sql::record_action(&tx, action, &user.id, now)?;
    tx.commit()?;
    if disable {
        println!(
            "user {} ({}) disabled: sign-in and token refresh are refused, open sockets close within a few seconds",
            user.identifier, user.id
        );
    } else {
        println!("user {} ({}) enabled", user.identifier, user.id);
    }
    Ok(())
}

fn storage(conn: &Connection, data_dir: &Path) -> Result<(), OpsError> {
    let c = sql::storage_counts(conn)?;
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let db = len(&data_dir.join("parley.db"));
    let wal = len(&data_dir.join("parley.db-wal"));
    let (files, bytes) = dir_usage(&data_dir.join("attachments"))?;
    println!("data directory       {}", data_dir.display());
    println!(
        "database             {} ({} pages of {} B, {} free)",
        human_bytes(db),
        c.page_count,
        c.page_size,
        c.freelist_count
    );
    println!("write-ahead log      {}", human_bytes(wal));
    println!("attachment files     {files} ({})", human_bytes(bytes));
    println!(
        "attachments in db    {} rows, {} distinct files ({})",
        c.attachment_rows,
        c.attachment_blobs,
        human_bytes(c.attachment_bytes.max(0) as u64)
    );
    println!("users                {}", c.users);
    println!("live devices         {}", c.live_devices);
    println!("messages             {}", c.messages);
    println!("event log rows       {}", c.event_rows);
    Ok(())
}

/// Files and bytes under `dir` (recursively), skipping upload leftovers in tmp/.
fn dir_usage(dir: &Path) -> Result<(u64, u64), OpsError> {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("cannot read {}", d.display()))(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(format!("cannot read {}", d.display())))?;
            let meta = entry
                .metadata()
                .map_err(io(format!("cannot read {}", entry.path().display())))?;
            if meta.is_dir() {
                if entry.file_name() != "tmp" {
                    stack.push(entry.path());
                }
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}
