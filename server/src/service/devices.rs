//! The caller's devices: list and revoke.

use super::Caller;
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms},
};
use parley_protocol::Device;

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Device>> {
    let (uid, did) = (caller.user_id.clone(), caller.device_id.clone());
    state
        .store
        .read(move |conn| store::auth::list_devices(conn, &uid, &did).map_err(Error::from))
        .await
}

/// Revokes one of the caller's devices (possibly the calling one). Its refresh
/// tokens are deleted and its access tokens stop working at once.
pub async fn revoke(state: &AppState, caller: &Caller, device_id: &str) -> Result<()> {
    let (uid, did) = (caller.user_id.clone(), device_id.to_owned());
    let now = now_ms();
    let found = state
        .store
        .write(move |conn| store::auth::revoke_device(conn, &uid, &did, now).map_err(Error::from))
        .await?;
    if found {
        Ok(())
    } else {
        Err(Error::not_found("device_not_found", "no such device"))
    }
}
