// The only door to the Rust side: typed `call` for every command (types
// generated from Rust in ./bindings) and the one event channel.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ClientEvent, CommandError, Commands, ScanEvent, ScanKind } from "./bindings";

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
    throw asCommandError(e);
  }
}

/** Anything thrown by `invoke`, as a CommandError. */
export function asCommandError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return e as CommandError;
  }
  return { code: "local", message: String(e), status: null };
}

/** Registers the window's event channel (once, at start). */
export async function subscribe(onEvent: (e: ClientEvent) => void): Promise<void> {
  const channel = new Channel<ClientEvent>();
  channel.onmessage = onEvent;
  await invoke("subscribe_events", { onEvent: channel });
}

/** Starts the scanner (frames decoded in Rust); previews and results come on
 * their own channel. Stop it with `call("scan_stop")`. Rejects with a
 * `CommandError` (`no_camera` when there is no frame source). Resolves to
 * the scan's id for `scan_stop`. `kind`: the codes to look for (contact
 * codes by default; others are ignored). */
export async function startScan(onEvent: (e: ScanEvent) => void, kind: ScanKind = "contact"): Promise<number> {
  const channel = new Channel<ScanEvent>();
  channel.onmessage = onEvent;
  try {
    return await invoke<number>("scan_start", { onEvent: channel, kind });
  } catch (e) {
    throw asCommandError(e);
  }
}
