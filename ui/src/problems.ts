// What a failed command says to people. The server's `detail` is written for
// developers ("uri: give `uri` or `code`", "no such device link"); the codes
// people meet get words that say what happened and what to do, by what was
// being done. Codes without words here keep the server's detail, which
// already names the field or the limit.
import type { CommandError } from "./bindings";

/** "in 40 s", "in 3 min", "in 2 h"; "in a moment" when the server did not
 * say. Rounded up: "try again in 1 min" must not come too early. */
export function waitText(secs: number | null): string {
  if (secs == null || !Number.isFinite(secs) || secs <= 0) return "in a moment";
  if (secs < 60) return `in ${Math.ceil(secs)} s`;
  if (secs < 3600) return `in ${Math.ceil(secs / 60)} min`;
  return `in ${Math.ceil(secs / 3600)} h`;
}

const SIGN_IN = new Set(["request_code", "verify_code", "ask_deletion_code", "delete_account"]);
const LINK = new Set(["start_link", "wait_link", "cancel_link", "link_info", "approve_link"]);
const CONTACT = new Set(["my_code", "add_contact", "accept_request", "decline_request", "remove_contact"]);

/** Words for a failed `command`'s error, or null to keep its message. */
function words(command: string, e: CommandError): string | null {
  const wait = waitText(e.retry_after);
  switch (e.code) {
    // Anywhere.
    case "internal":
      return "The server ran into a problem. Try again in a moment.";
    // An answer that is no problem document: a proxy's, or no Parley at all.
    case "http_error":
      if (e.status != null && e.status >= 500) return "The server ran into a problem. Try again in a moment.";
      if (e.status === 429) return words(command, { ...e, code: "rate_limited" });
      if ((e.status === 404 || e.status === 405) && (SIGN_IN.has(command) || command === "start_link" || command === "join_device")) {
        return "This address does not look like a Parley server. Check it.";
      }
      if (e.status === 413) return "This is too large for the server (or a proxy in front of it).";
      return `The server (or a proxy in front of it) refused this (HTTP ${e.status ?? "error"}).`;
    case "busy":
      return `The server is busy. Try again ${wait}.`;
    case "write_rolled_back":
      return "That did not go through. Please try again.";
    case "storage_full":
      return "The server's storage is full, so nothing was saved. Try again later, or tell the server's operator.";
    case "storage_failed":
      return "The server cannot save anything right now. Try again later; its operator may need to restart it.";
    case "account_disabled":
      return "This account is disabled. Contact the server's operator.";
    case "account_deleted":
      return "This account was deleted.";
    case "too_many_connections":
      return "Too many Parley windows or programs are connected from this device. Close one.";
    case "rate_limited":
      if (command === "request_code" || command === "ask_deletion_code") {
        return `A new code can be sent ${wait}. If one arrived already, enter it.`;
      }
      if (command === "add_contact") return `Too many typed codes. Try again ${wait}, or scan their QR code instead.`;
      if (command === "my_code" || command === "invite_device") return `Too many new codes. Try again ${wait}.`;
      if (command === "update_profile" || command === "set_avatar") return `Too many changes at once. Try again ${wait}.`;
      if (command === "search_messages" || command === "username_available") return `Searching too fast. Try again ${wait}.`;
      if (SIGN_IN.has(command) || LINK.has(command) || command === "join_device") {
        return `Too many attempts from this network. Try again ${wait}.`;
      }
      return `Too many requests. Try again ${wait}.`;
    case "too_many_attempts":
      return `Too many wrong codes, so this one no longer works. Ask for a new one ${wait}.`;
    case "code_expired":
      if (CONTACT.has(command)) return "This code has expired. Ask them to show a new one.";
      return "That code has expired. Ask for a new one.";
    case "delivery_failed":
      return "The server could not send your code. Check the address, then try again in a few minutes.";
    // Linking a device.
    case "link_not_found":
      return "This code is not valid. Show a new one on the new device and scan that.";
    case "link_used":
      if (command === "wait_link") {
        return "Another device took this sign-in, or it waited too long. Start again; if it was not yours, check your account's devices.";
      }
      return "This code was already used. Show a new one on the new device.";
    case "link_expired":
      return "This code has expired. Show a new one on the new device.";
    case "invite_not_found":
      return "This code is not valid. Check it, or show a new one on your other device.";
    case "invite_used":
      return "This code was already used. Show a new one on your other device.";
    case "invite_expired":
      return "This code has expired. Show a new one on your other device.";
    case "invalid_field":
      if (command === "join_device") return "That is not an invite code. Check it, or scan the QR code instead.";
      return null;
    case "device_not_found":
      return "This device is no longer in your account.";
    // Contacts.
    case "code_not_found":
      return "This code does not work: it may be mistyped, used or withdrawn. Ask them for a new one.";
    case "own_code":
      return "That is your own code. Scan the other person's code instead.";
    case "already_connected":
      return "You are already connected.";
    case "request_not_found":
      return "This request is no longer waiting: it was answered or withdrawn.";
    case "request_expired":
      return "This request has expired. Ask them to send a new one.";
    case "not_connected":
      return "You are no longer connected with this person.";
    // Profile.
    case "username_taken":
      return "That username is taken. Try another.";
    case "invalid_image":
      return "This image could not be read. Use a PNG, JPEG or WebP file.";
    // Messages.
    case "chat_not_found":
      return "This chat is no longer there.";
    case "message_not_found":
      return "This message is no longer there.";
    case "message_deleted":
      return "This message was deleted.";
    case "not_sender":
      return "You can only change your own messages.";
    case "edit_window_passed":
      return "Messages can only be edited for 24 hours after sending.";
    default:
      return null;
  }
}

/** What to show for `command`'s failure `e`. */
export function problemText(command: string, e: CommandError): string {
  return words(command, e) ?? e.message;
}
