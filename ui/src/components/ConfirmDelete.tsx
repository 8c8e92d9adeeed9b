import { useRef } from "react";
import { useDismiss } from "../useDismiss";
import { useRestoreFocus } from "../useRestoreFocus";

/** "Delete for everyone?" under a message of mine. The safe choice has the
 * focus; Escape cancels; the focus goes back to the Delete button after.
 * Like the other pop-ups of a message, a press or the focus elsewhere
 * cancels it too (else it stays open under a row the user has left, and
 * Tab walks on past it); `toggle`: the Delete button, which opens it and
 * must not close it on its way. */
export function ConfirmDelete({ onDelete, onCancel, toggle }: { onDelete: () => void; onCancel: () => void; toggle?: () => Element | null }) {
  useRestoreFocus(true);
  const box = useRef<HTMLDivElement>(null);
  useDismiss(box, onCancel, toggle);
  return (
    <div
      ref={box}
      className="confirm"
      role="dialog"
      aria-label="Delete for everyone"
      onKeyDown={(e) => {
        if (e.key !== "Escape") return;
        e.stopPropagation();
        onCancel();
      }}
    >
      Delete for everyone?{" "}
      <button name="confirm-delete" className="danger" onClick={onDelete}>
        Delete
      </button>{" "}
      <button name="cancel-delete" autoFocus onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
