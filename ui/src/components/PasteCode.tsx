import { useEffect, useRef, useState } from "react";
import type { ScanKind } from "../bindings";
import { asCommandError, call } from "../ipc";
import { pickImage } from "../pickImage";

/** Whether keyboard focus is somewhere that takes typed text: a paste there
 * belongs to that field, not to the code reader. */
function typingInField(): boolean {
  const el = document.activeElement;
  if (!(el instanceof HTMLElement)) return false;
  if (el.isContentEditable || el instanceof HTMLTextAreaElement) return true;
  if (el instanceof HTMLInputElement) return !["button", "checkbox", "radio", "range", "submit", "reset", "file", "color"].includes(el.type);
  return false;
}

/** Reads a Parley link of `kind` from the clipboard (its text, or a screenshot
 * of a code on it) through Rust, on the "Paste" button and on Ctrl/Cmd+V
 * anywhere on the screen except in a text field. `onCode` gets the link as if
 * it had been scanned; `onError` the message to show. */
export function usePasteCode(kind: ScanKind, onCode: (uri: string) => void, onError: (message: string) => void, enabled = true) {
  const [busy, setBusy] = useState(false);
  // The latest callbacks, so the document listener is added once.
  const handlers = useRef({ onCode, onError });
  handlers.current = { onCode, onError };

  const paste = async () => {
    setBusy(true);
    try {
      handlers.current.onCode(await call("scan_clipboard", { kind }));
    } catch (e) {
      handlers.current.onError(asCommandError(e).message);
    } finally {
      setBusy(false);
    }
  };
  const pasteRef = useRef(paste);
  pasteRef.current = paste;

  useEffect(() => {
    if (!enabled) return;
    const onPaste = (e: ClipboardEvent) => {
      if (typingInField()) return;
      e.preventDefault();
      void pasteRef.current();
    };
    document.addEventListener("paste", onPaste);
    return () => document.removeEventListener("paste", onPaste);
  }, [enabled]);

  return { paste, busy };
}

/** The "Paste" button of a scanner surface (see `usePasteCode`). */
export function PasteButton({ onPaste, busy }: { onPaste: () => void; busy: boolean }) {
  return (
    <button type="button" name="paste-code" disabled={busy} onClick={onPaste} title="Paste a link or a screenshot of a code (Ctrl+V)">
      {busy ? "Reading the clipboard…" : "Paste"}
    </button>
  );
}

/** "Open image…": the system's file dialog, then the code of `kind` in the
 * chosen image (decoded in Rust) goes to `onCode` as if it had been scanned. */
export function OpenImageButton({ kind, onCode, onError }: { kind: ScanKind; onCode: (uri: string) => void; onError: (message: string) => void }) {
  const [busy, setBusy] = useState(false);
  async function openImage() {
    setBusy(true);
    try {
      const path = await pickImage();
      if (path) onCode(await call("decode_image_file", { path, kind }));
    } catch (e) {
      onError(asCommandError(e).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" name="open-image-file" disabled={busy} onClick={() => void openImage()} title="Open a screenshot or photo of the code">
      {busy ? "Reading the image…" : "Open image…"}
    </button>
  );
}
