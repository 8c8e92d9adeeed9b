import { useState } from "react";
import type { DeletionCode } from "../bindings";
import { call } from "../ipc";
import { useAction } from "../useAction";

/** Settings' "Delete account": says what goes, sends a sign-in code to my
 * own address or number, and deletes the account for good once it is typed
 * (a device left signed in is not enough). `onDeleted` leaves for the
 * sign-in screen; this device is signed out by then. */
export function DeleteAccount({ onDeleted }: { onDeleted: () => void }) {
  const { busy, error, run } = useAction();
  const [open, setOpen] = useState(false);
  const [sent, setSent] = useState<DeletionCode | null>(null);
  const [code, setCode] = useState("");

  const close = () => {
    setOpen(false);
    setSent(null);
    setCode("");
  };
  const send = () => run(async () => setSent(await call("ask_deletion_code")));
  const remove = () =>
    run(async () => {
      await call("delete_account", { code: code.trim() });
      onDeleted();
    });

  return (
    <div className="card flat delete-account" data-testid="delete-account">
      <h3>Delete account</h3>
      {!open ? (
        <button className="danger" name="delete-account" onClick={() => setOpen(true)}>
          Delete my account…
        </button>
      ) : (
        <>
          <p>
            This deletes your account for good: every device is signed out, your contacts lose you (they keep your chats,
            showing “Deleted account”), and your profile and photo are erased. It cannot be undone.
          </p>
          {!sent ? (
            <div className="row">
              <button name="send-deletion-code" disabled={busy} onClick={() => void send()}>
                Send me a code
              </button>
              <button name="keep-account" onClick={close} autoFocus>
                Keep my account
              </button>
            </div>
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                if (code.trim()) void remove();
              }}
            >
              <label>
                Code sent to {sent.sent_to}
                <input
                  name="deletion-code"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  value={code}
                  onChange={(e) => setCode(e.target.value)}
                  autoFocus
                />
              </label>
              <div className="row">
                <button className="danger" type="submit" name="confirm-delete-account" disabled={busy || !code.trim()}>
                  Delete my account for good
                </button>
                <button type="button" name="resend-deletion-code" disabled={busy} onClick={() => void send()}>
                  Send a new code
                </button>
                <button type="button" name="keep-account" onClick={close}>
                  Keep my account
                </button>
              </div>
            </form>
          )}
        </>
      )}
      {error ? (
        <p className="error" role="alert" data-testid="delete-account-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}
