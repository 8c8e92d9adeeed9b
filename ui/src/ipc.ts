// The only door to the Rust side: typed `call` for every command (types
// generated from Rust in ./bindings) and the one event channel.
import { Channel, invoke } from "@tauri-apps/api/core";
import { Lru } from "./lru";
import type { Attachment, ClientEvent, CommandError, Commands, ScanEvent, ScanKind, UploadProgress } from "./bindings";
import { untilSettled } from "./progress";
import { problemText } from "./problems";

export type Command = keyof Commands;
type Args<K extends Command> = Commands[K]["args"];
type Result<K extends Command> = Commands[K]["result"];

/** Calls a command; rejects with a `CommandError`. */
export async function call<K extends Command>(
  name: K,
  ...args: Args<K> extends null ? [] : [Args<K>]
): Promise<Result<K>> {
  try {
    return await invoke<Result<K>>(name, args.length ? { args: args[0] } : {});
  } catch (e) {
    throw worded(name, e);
  }
}

/** Anything thrown by `invoke`, as a CommandError. */
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return e as CommandError;
  }
  return { code: "local", message: String(e), status: null, retry_after: null };
}

/** `command`'s failure as a CommandError whose message is for people. */
function worded(command: Command | "scan_start" | "upload_attachment" | "save_attachment", e: unknown): CommandError {
  const err = asCommandError(e);
  return { ...err, message: problemText(command, err) };
}

/** Registers the window's event channel (once, at start). */
export async function subscribe(onEvent: (e: ClientEvent) => void): Promise<void> {
  const channel = new Channel<ClientEvent>();
  channel.onmessage = onEvent;
  await invoke("subscribe_events", { onEvent: channel });
}

/** Starts the scanner (frames decoded in Rust); previews and results come on
 * their own channel. Stop it with `call("scan_stop")`. Rejects with a
 * `CommandError` (`no_camera`, `camera_busy`, `camera_denied`,
 * `camera_failed`). Resolves to the scan's id for `scan_stop`. `kind`: the
 * codes to look for (contact codes by default; others are ignored).
 * `camera`: an index from `list_cameras` (null: the default one). */
export async function startScan(onEvent: (e: ScanEvent) => void, kind: ScanKind = "contact", camera: number | null = null): Promise<number> {
  const channel = new Channel<ScanEvent>();
  channel.onmessage = onEvent;
  try {
    return await invoke<number>("scan_start", { onEvent: channel, kind, camera });
  } catch (e) {
    throw worded("scan_start", e);
  }
}

/** Uploads the file at `path` (read in Rust); progress comes to `onProgress`.
 * Resolves to the attachment whose id `send_message` takes. */
export async function uploadAttachment(path: string, onProgress: (p: UploadProgress) => void): Promise<Attachment> {
  // No report after the answer (see untilSettled).
  return untilSettled(async (progress) => {
    const channel = new Channel<UploadProgress>();
    channel.onmessage = progress;
    try {
      return await invoke<Attachment>("upload_attachment", { path, onProgress: channel });
    } catch (e) {
      throw worded("upload_attachment", e);
    }
  }, onProgress);
}

/** Saves a received attachment (checked against its SHA-256 in Rust): into
 * the Downloads folder under a name that replaces nothing (`path` null), or
 * to the file picked in a save dialog. Progress (bytes received) comes to
 * `onProgress`. Resolves to the path written. */
export async function saveAttachment(attachment: Attachment, path: string | null, onProgress: (p: UploadProgress) => void): Promise<string> {
  return untilSettled(async (progress) => {
    const channel = new Channel<UploadProgress>();
    channel.onmessage = progress;
    try {
      return await invoke<string>("save_attachment", { attachment, path, onProgress: channel });
    } catch (e) {
      throw worded("save_attachment", e);
    }
  }, onProgress);
}

const avatarUrls = new Map<string, Promise<string>>();

/** An avatar (a user's `avatar_url`, versioned) as a data URL, fetched
 * through Rust once per URL. */
export function avatarUrl(url: string): Promise<string> {
  let p = avatarUrls.get(url);
  if (!p) {
    p = call("avatar_data_url", { url });
    p.catch(() => avatarUrls.delete(url));
    avatarUrls.set(url, p);
  }
  return p;
}

/** How much the image data URLs below may take (in characters). */
const ATTACHMENT_URLS_BUDGET = 96 * 1024 * 1024;

/** Data URLs of the images shown lately, by attachment id: a third larger
 * than the files, so not every image of a long session is kept (one
 * scrolled back to is read again from the disk cache). */
const attachmentUrls = new Lru<Promise<string>>(ATTACHMENT_URLS_BUDGET);

/** An attachment's bytes as a data URL, fetched through Rust (once while
 * it is among the images shown lately). */
export function attachmentUrl(a: Attachment): Promise<string> {
  let p = attachmentUrls.get(a.id);
  if (!p) {
    const fetched = call("attachment_data_url", { attachment: a });
    p = fetched;
    fetched.catch(() => {
      if (attachmentUrls.get(a.id) === fetched) attachmentUrls.delete(a.id);
    });
    attachmentUrls.set(a.id, fetched, Math.ceil((a.size * 4) / 3));
  }
  return p;
}
