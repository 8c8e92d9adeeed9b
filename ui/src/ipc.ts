// The only door to the Rust side: typed `call` for every command (types
// generated from Rust in ./bindings) and the one event channel.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ClientEvent, CommandError, Commands } from "./bindings";

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
