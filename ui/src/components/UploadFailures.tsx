import { failuresSince, type UploadFailure } from "../progress";

/** The uploads of the open chat that failed, until dismissed, and what a
 * screen reader is told of them. The list itself is not live: it is there
 * each time the chat is opened (the failures are kept for it), and an
 * alert would be read out again on every visit. The region beside it is,
 * politely, and rendered always (a live region must be in the page before
 * its words change to be heard): it holds only the failures that came
 * while the chat was open (after failure `toldAfter`, see
 * `failuresSince`), each under its own id, so a new one is read alone,
 * not with those before it. */
export function UploadFailures({ failures, toldAfter, onDismiss }: { failures: readonly UploadFailure[]; toldAfter: number; onDismiss: () => void }) {
  return (
    <>
      <div className="sr-only" aria-live="polite" data-testid="upload-failed-announce">
        {failuresSince(failures, toldAfter).map((f) => (
          <p key={f.id}>{failureText(f)}</p>
        ))}
      </div>
      {failures.length ? (
        <div className="error inline upload-failed" data-testid="upload-failed">
          <ul>
            {failures.map((f) => (
              <li key={f.id}>{failureText(f)}</li>
            ))}
          </ul>
          <button className="link" aria-label="Dismiss upload errors" title="Dismiss upload errors" onClick={onDismiss}>
            ✕
          </button>
        </div>
      ) : null}
    </>
  );
}

function failureText(f: UploadFailure): string {
  return `Could not attach ${f.name}: ${f.message}`;
}
