import type { Chat } from "../bindings";
import { call } from "../ipc";
import { useAction } from "../useAction";

/** Pins the chat to the top of the list on all my devices, or unpins it;
 * the server allows three (`too_many_pinned` past that, said here). */
export function PinButton({ chat, onChanged }: { chat: Chat; onChanged: () => void }) {
  const { busy, error, run } = useAction();
  const pinned = chat.pinned_at !== null;

  const toggle = () =>
    run(async () => {
      await call("pin_chat", { chat_id: chat.id, pinned: !pinned });
      onChanged();
    });

  return (
    <span className="pin">
      <button
        className={`link${pinned ? " on" : ""}`}
        name="pin"
        aria-pressed={pinned}
        title={pinned ? "Pinned: click to unpin" : "Pin chat"}
        aria-label="Pin chat"
        disabled={busy}
        onClick={() => void toggle()}
      >
        📌
      </button>
      {error ? (
        <span className="error inline" role="alert" data-testid="pin-error">
          {error}
        </span>
      ) : null}
    </span>
  );
}
