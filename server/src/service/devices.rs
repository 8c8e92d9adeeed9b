//! The caller's devices: list and revoke.

use super::{events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, now_ms},
};
use parley_protocol::{close, Device, Event};

pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Device>> {
    let (uid, did) = (caller.user_id.clone(), caller.device_id.clone());
    state
        .store
        .read(move |conn| store::auth::list_devices(conn, &uid, &did).map_err(Error::from))
        .await
}

/// Revokes one of the caller's devices (possibly the calling one). Its refresh
/// tokens are deleted and its access tokens stop working at once. Signed
/// out from another device (lost, stolen), the invites it made and nobody
/// redeemed go too: it must not leave a way in behind it. Signing itself
/// out, its holder may still hand the invite it shows to a new device.
pub async fn revoke(state: &AppState, caller: &Caller, device_id: &str) -> Result<()> {
    let (uid, did) = (caller.user_id.clone(), device_id.to_owned());
    let itself = caller.device_id == device_id;
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        if !store::auth::revoke_device(conn, &uid, &did, now)? {
            return Err(Error::not_found("device_not_found", "no such device"));
        }
        if !itself {
            store::links::cancel_made_by(conn, &did)?;
        }
        let mut emitted = Emitted::default();
        emitted.emit(
            conn,
            &uid,
            &Event::DeviceRevoked {
                device_id: did.clone(),
            },
            now,
        )?;
        Ok(emitted)
    })
    .await?;
    state.hub.close_device(device_id, close::TOKEN_INVALID);
    Ok(())
}
