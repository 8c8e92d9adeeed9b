import { useState } from "react";
import type { Chat } from "../bindings";
import { call } from "../ipc";
import { useAction } from "../useAction";

/** The chat header's "Clear chat": asks first, then clears my history of
 * the chat up to `upTo` (the newest message shown, so one that comes in
 * while the question is open stays) on all my devices. The peer keeps
 * theirs and is not told. `onCleared` reloads the chat list, whose chat
 * then says how far it was cleared. */
export function ClearChat({ chat, upTo, onCleared }: { chat: Chat; upTo: number; onCleared: () => void }) {
  const { busy, error, run } = useAction();
  const [asking, setAsking] = useState(false);
  const peer = chat.peer.display_name;

  const clear = () =>
    run(async () => {
      await call("clear_chat", { chat_id: chat.id, up_to_seq: upTo });
      setAsking(false);
      onCleared();
    });

  return (
    <span className="clear-chat">
      <button
        className="link"
        name="clear-chat"
        title="Clear chat"
        aria-label="Clear chat"
        aria-expanded={asking}
        disabled={busy || upTo === 0}
        onClick={() => setAsking((a) => !a)}
      >
        🧹
      </button>
      {asking ? (
        <div
          className="confirm"
          role="dialog"
          aria-label="Clear chat"
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              e.stopPropagation();
              setAsking(false);
            }
          }}
        >
          <span>
            Clear your messages with {peer} on all your devices? {peer} keeps theirs.
          </span>
          <button name="confirm-clear" disabled={busy} onClick={() => void clear()}>
            Clear
          </button>
          {/* The safe choice has the focus. */}
          <button name="cancel-clear" autoFocus onClick={() => setAsking(false)}>
            Cancel
          </button>
        </div>
      ) : null}
      {error ? (
        <span className="error inline" role="alert" data-testid="clear-error">
          {error}
        </span>
      ) : null}
    </span>
  );
}
