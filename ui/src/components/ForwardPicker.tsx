import { useEffect, useRef, useState } from "react";
import type { Connection } from "../bindings";
import { asCommandError, call } from "../ipc";
import { useAction } from "../useAction";
import { useDismiss } from "../useDismiss";
import { useRestoreFocus } from "../useRestoreFocus";

/** "Forward to…": the contacts, one click sends a copy of the message
 * (text and attachments) to the one picked. Says where it went, or why
 * not; `onClose` when done or cancelled (Escape, Cancel, a press or the
 * focus elsewhere; `toggle`: the Forward button, which closes it by itself). */
export function ForwardPicker({
  messageId,
  onClose,
  onForwarded,
  toggle,
}: {
  messageId: string;
  onClose: () => void;
  onForwarded: (to: string) => void;
  toggle?: () => Element | null;
}) {
  const [contacts, setContacts] = useState<Connection[] | null>(null);
  /** Who the copy is going to while it goes. */
  const [target, setTarget] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const { busy, error: sendError, run } = useAction();
  const error = sendError ?? loadError;
  const box = useRef<HTMLDivElement>(null);
  useRestoreFocus(true);
  useDismiss(box, onClose, toggle);
  // The focus goes into the picker at once, onto itself while the contacts
  // load (or fail to), then onto the first of them: left on the Forward
  // button outside it, Escape (handled here) and Tab away (see
  // `useDismiss`) would not close it.
  useEffect(() => {
    const first = contacts ? box.current?.querySelector<HTMLButtonElement>("button") : null;
    (first ?? box.current)?.focus();
  }, [contacts]);
  useEffect(() => {
    let stale = false;
    call("list_contacts").then(
      (list) => !stale && setContacts(list),
      (e) => !stale && setLoadError(asCommandError(e).message),
    );
    return () => {
      stale = true;
    };
  }, []);

  async function forward(c: Connection) {
    setTarget(c.user.id);
    const done = await run(() => call("forward_message", { message_id: messageId, user_id: c.user.id }).then(() => {}));
    setTarget(null);
    if (done) {
      onForwarded(c.user.display_name);
      onClose();
    }
  }

  return (
    <div
      ref={box}
      className="forward"
      role="dialog"
      aria-label="Forward to"
      // Focusable by script only (see above), not a Tab stop of its own.
      tabIndex={-1}
      data-testid="forward-picker"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <strong>Forward to</strong>
      {contacts === null && !error ? <p className="muted">Loading contacts…</p> : null}
      {contacts?.length === 0 ? <p className="muted">No contacts yet.</p> : null}
      {contacts?.map((c) => (
        <button key={c.user.id} name="forward-to" data-user-id={c.user.id} disabled={busy} onClick={() => void forward(c)}>
          {target === c.user.id ? `Forwarding to ${c.user.display_name}…` : c.user.display_name}
        </button>
      ))}
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button className="link" name="cancel-forward" onClick={onClose}>
        Cancel
      </button>
    </div>
  );
}
