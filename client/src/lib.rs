//! The headless Parley client: transport, outbox, cache, session, QR, and the
//! `parley` CLI.
//!
//! Modules are added as they land; see ARCHITECTURE.md ("Client inside").

pub mod qr;
