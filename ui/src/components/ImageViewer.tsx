import { useEffect, useRef } from "react";
import { createPortal } from "react-dom";

/** An image at the size of the window (never larger than itself), over
 * everything; Esc, the close button or a click beside the image closes it.
 * In a portal on `body`, so no bubble or list can clip it. */
export function ImageViewer({ url, name, onClose }: { url: string; name: string; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    close.current?.focus();
    // A modal: no key reaches the app behind it (Ctrl+K, the composer), and
    // Tab stays on the one control it has.
    const onKey = (e: KeyboardEvent) => {
      e.stopPropagation();
      if (e.key === "Escape") onClose();
      else if (e.key === "Tab") {
        e.preventDefault();
        close.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => {
      window.removeEventListener("keydown", onKey, true);
      back?.focus();
    };
  }, [onClose]);
  return createPortal(
    <div className="image-viewer" role="dialog" aria-modal="true" aria-label={name} data-testid="image-viewer" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <img src={url} alt={name} />
      <button ref={close} className="image-viewer-close" name="close-image" aria-label="Close the image" onClick={onClose}>
        ✕
      </button>
    </div>,
    document.body,
  );
}
