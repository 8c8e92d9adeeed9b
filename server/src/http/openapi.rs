//! The served OpenAPI 3.1 document, generated from the handlers and the
//! parley-protocol types.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parley",
        description = "Parley server REST API (protocol v1). Errors are application/problem+json \
                       with a stable `code`. Any request that changes something may also get 503 \
                       `storage_full` (the server's disk is full), `write_rolled_back` (another \
                       change committed with it failed) or `storage_failed` (the disk failed; the \
                       server saves nothing until restarted): a retry is safe. \
                       The WebSocket at /v1/ws is described in PROTOCOL.md."
    ),
    paths(
        super::meta::healthz,
        super::meta::openapi,
        super::auth::request_otp,
        super::auth::verify_otp,
        super::auth::refresh,
        super::auth::logout,
        super::profile::get_me,
        super::profile::patch_me,
        super::profile::delete_me,
        super::profile::put_avatar,
        super::profile::get_user,
        super::profile::get_avatar,
        super::profile::username_available,
        super::devices::list,
        super::devices::revoke,
        super::connections::create_code,
        super::connections::create_request,
        super::connections::list_requests,
        super::connections::accept,
        super::connections::decline,
        super::connections::list,
        super::connections::remove,
        super::links::create_link,
        super::links::poll,
        super::links::info,
        super::links::approve,
        super::links::create_invite,
        super::links::redeem,
        super::chats::list,
        super::chats::open,
        super::chats::history,
        super::chats::send,
        super::chats::read,
        super::chats::mute,
        super::chats::unmute,
        super::chats::pin,
        super::chats::unpin,
        super::chats::one,
        super::chats::clear,
        super::chats::edit,
        super::chats::delete,
        super::chats::react,
        super::chats::unreact,
        super::chats::search,
        super::attachments::upload,
        super::attachments::download,
    ),
    components(schemas(
        parley_protocol::Direction,
        // The durable events of the WebSocket (`{"type":"event","seq","event"}`).
        parley_protocol::Event,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "service", description = "health and this document"),
        (name = "auth", description = "sign-in with one-time codes, tokens"),
        (name = "profile", description = "profiles and avatars"),
        (name = "devices", description = "signed-in devices and linking new ones by QR"),
        (name = "contacts", description = "contact codes, connection requests, connections"),
        (name = "chats", description = "chats, messages, reactions, receipts, attachments, search"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
