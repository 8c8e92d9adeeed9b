import { useState } from "react";
import type { Chat } from "../bindings";
import { call } from "../ipc";
import { useAction } from "../useAction";
import { useRestoreFocus } from "../useRestoreFocus";

/** The chat header's "Clear chat": asks first, then clears my history of
 * the chat up to `upTo` (the newest message shown, so one that comes in
 * while the question is open stays) on all my devices. The peer keeps
 * theirs and is not told. `onCleared` reloads the chat list, whose chat
 * then says how far it was cleared. */
export function ClearChat({ chat, upTo, onCleared }: { chat: Chat; upTo: number; onCleared: () => void }) {
  const { busy, error, run } = useAction();
  // The newest message shown when the question opened: what a "Clear"
  // answers for (one that comes in meanwhile stays).
  const [asking, setAsking] = useState<number | null>(null);
  const peer = chat.peer.display_name;
  useRestoreFocus(asking !== null);

  const clear = () =>
    run(async () => {
      if (asking === null) return;
      await call("clear_chat", { chat_id: chat.id, up_to_seq: asking });
      setAsking(null);
      onCleared();
    });

  return (
    <span className="clear-chat">
      <button
        className="link"
        name="clear-chat"
        title="Clear chat"
        aria-label="Clear chat"
        aria-expanded={asking !== null}
        disabled={busy || upTo === 0}
        onClick={() => setAsking((a) => (a === null ? upTo : null))}
      >
        🧹
      </button>
      {asking !== null ? (
        <div
          className="confirm"
          role="dialog"
          aria-label="Clear chat"
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              e.stopPropagation();
              setAsking(null);
            }
          }}
        >
          <span>
            Clear your messages with {peer} on all your devices? {peer} keeps theirs.
          </span>
          <button className="danger" name="confirm-clear" disabled={busy} onClick={() => void clear()}>
            Clear
          </button>
          {/* The safe choice has the focus. */}
          <button name="cancel-clear" autoFocus onClick={() => setAsking(null)}>
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
