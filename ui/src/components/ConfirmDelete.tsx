import { useRestoreFocus } from "../useRestoreFocus";

/** "Delete for everyone?" under a message of mine. The safe choice has the
 * focus; Escape cancels; the focus goes back to the Delete button after. */
export function ConfirmDelete({ onDelete, onCancel }: { onDelete: () => void; onCancel: () => void }) {
  useRestoreFocus(true);
  return (
    <div
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
