//! Business rules, one module per domain. A service function takes the state and
//! already-parsed input, enforces every rule, and talks to `store`. Handlers only
//! parse and call these; tests pin the rules here and over HTTP.

pub mod account;
pub mod admin;
pub mod attachments;
pub mod auth;
pub mod chats;
pub mod connections;
pub mod devices;
pub mod events;
pub mod links;
pub mod messages;
pub mod presence;
pub mod profile;

/// The authenticated caller, as established by `auth::authenticate`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub device_id: String,
}
