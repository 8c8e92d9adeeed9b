//! Tauri commands, one module per feature. Each command takes at most one
//! argument struct (`args`), calls parley-client, and returns
//! `Result<T, CommandError>`. The list below is the single source for both the
//! invoke handler and the generated TypeScript `Commands` map.

pub mod attachments;
pub mod auth;
pub mod browser;
pub mod chats;
pub mod contacts;
pub mod devices;
pub mod events;
pub mod profile;
pub mod scan;
pub mod window;

/// Lists every command once: `module::name(Args) -> Result`. Expands to
/// `handler()` (the invoke handler) and `signatures()` (for the bindings).
/// The first entry is the command that registers the event channel; its one
/// argument is a `Channel<ClientEvent>` (see `ui/src/ipc.ts`), so it is not in
/// the generated map. The second (`stream`) starts the scanner, whose one
/// argument is a `Channel<ScanEvent>` for previews and results; it is not in
/// the map either (`ui/src/ipc.ts` calls it), nor are `upload_attachment` and
/// `save_attachment`, whose channels carry transfer progress.
macro_rules! commands {
    (
        channel: $cmodule:ident :: $cname:ident;
        streams: $($smodule:ident :: $sname:ident),+;
        $($module:ident :: $name:ident ( $args:ty ) -> $ret:ty ;)*
    ) => {
        /// The invoke handler with every command.
        pub fn handler() -> impl Fn(tauri::ipc::Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$cmodule::$cname, $($smodule::$sname,)+ $($module::$name),*]
        }

        /// Name, argument type and result type of every command.
        pub fn signatures() -> Vec<crate::bindings::Signature> {
            vec![$(crate::bindings::Signature::of::<$args, $ret>(stringify!($name))),*]
        }
    };
}

use parley_client::cache::CachedMessage;
use parley_protocol::{
    Chat, Connection, ConnectionRequest, Device, DeviceLinkInfo, Me, OtpRequested, UpdateMe,
    UsernameAvailability,
};

commands! {
    channel: events::subscribe_events;
    streams: scan::scan_start, attachments::upload_attachment, attachments::save_attachment;
    auth::sign_in_defaults(()) -> auth::SignInDefaults;
    auth::restore_session(()) -> Option<auth::SessionInfo>;
    auth::request_code(auth::RequestCodeArgs) -> OtpRequested;
    auth::verify_code(auth::VerifyCodeArgs) -> auth::SessionInfo;
    auth::sign_out(()) -> ();
    auth::unsent_count(()) -> u64;
    auth::ask_deletion_code(()) -> auth::DeletionCode;
    auth::delete_account(auth::DeleteAccountArgs) -> ();
    profile::get_me(()) -> Me;
    profile::update_profile(UpdateMe) -> Me;
    profile::username_available(profile::UsernameArgs) -> UsernameAvailability;
    profile::set_avatar(profile::AvatarFileArgs) -> Me;
    profile::avatar_data_url(profile::AvatarUrlArgs) -> String;
    chats::list_chats(()) -> Vec<Chat>;
    chats::cached_chats(()) -> Vec<Chat>;
    chats::cached_quotes(chats::MessageIdsArgs) -> Vec<CachedMessage>;
    chats::cached_messages(chats::ChatArgs) -> Vec<CachedMessage>;
    chats::load_history(chats::ChatArgs) -> Vec<CachedMessage>;
    chats::older_messages(chats::OlderArgs) -> Vec<CachedMessage>;
    chats::send_message(chats::SendArgs) -> CachedMessage;
    chats::edit_message(chats::EditArgs) -> CachedMessage;
    chats::delete_message(chats::MessageArgs) -> ();
    chats::retry_message(chats::ClientIdArgs) -> ();
    chats::discard_message(chats::ClientIdArgs) -> ();
    chats::search_messages(chats::SearchArgs) -> Vec<parley_protocol::Message>;
    chats::react(chats::ReactArgs) -> ();
    chats::mark_read(chats::ReadArgs) -> ();
    chats::mute_chat(chats::MuteArgs) -> ();
    chats::pin_chat(chats::PinArgs) -> ();
    chats::clear_chat(chats::ClearArgs) -> ();
    chats::forward_message(chats::ForwardArgs) -> CachedMessage;
    chats::set_typing(chats::TypingArgs) -> ();
    chats::list_contacts(()) -> Vec<Connection>;
    attachments::attachment_data_url(attachments::AttachmentArgs) -> String;
    attachments::paste_image(()) -> String;
    attachments::attachment_file_name(attachments::FileNameArgs) -> String;
    window::set_unread(window::UnreadArgs) -> String;
    browser::open_link(browser::WebLinkArgs) -> ();
    chats::open_chat(chats::OpenChatArgs) -> Chat;
    contacts::my_code(()) -> contacts::MyCode;
    contacts::add_contact(contacts::AddContactArgs) -> ConnectionRequest;
    contacts::decode_image_file(contacts::ImageArgs) -> String;
    contacts::list_requests(contacts::RequestsArgs) -> Vec<ConnectionRequest>;
    contacts::accept_request(contacts::RequestArgs) -> Connection;
    contacts::decline_request(contacts::RequestArgs) -> ();
    contacts::remove_contact(contacts::UserArgs) -> ();
    scan::scan_stop(scan::ScanStopArgs) -> ();
    scan::list_cameras(()) -> Vec<scan::CameraInfo>;
    scan::scan_clipboard(scan::ClipboardArgs) -> String;
    profile::image_preview(profile::ImagePathArgs) -> profile::ImagePreview;
    devices::list_devices(()) -> Vec<Device>;
    devices::revoke_device(devices::DeviceArgs) -> devices::Revoked;
    devices::start_link(devices::StartLinkArgs) -> devices::LinkCode;
    devices::wait_link(devices::LinkIdArgs) -> devices::LinkWait;
    devices::cancel_link(devices::LinkIdArgs) -> ();
    devices::link_info(devices::LinkUriArgs) -> DeviceLinkInfo;
    devices::approve_link(devices::LinkUriArgs) -> ();
    devices::invite_device(()) -> devices::InviteCode;
    devices::join_device(devices::JoinArgs) -> auth::SessionInfo;
}
