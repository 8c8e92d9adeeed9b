import { useLayoutEffect, useRef } from "react";

/** Gives the focus back to what had it when a popup opened (the button that
 * opened it, for a keyboard user) once the popup closes. Without this,
 * closing one (Escape, Cancel, done) leaves the focus on the page itself,
 * and the next Tab starts over at the top of the window. Left alone when
 * the popup's own action put the focus somewhere on purpose (the composer
 * after a reaction), or when that control is gone. */
export function useRestoreFocus(open: boolean) {
  const opener = useRef<HTMLElement | null>(null);
  const wasOpen = useRef(false);
  // Read while rendering the opening: by the time effects run, an
  // `autoFocus` inside the popup has taken the focus already.
  if (open && !wasOpen.current) opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  wasOpen.current = open;
  useLayoutEffect(() => {
    if (!open) return;
    // Not forgotten on cleanup: React's StrictMode runs a cleanup and the
    // effect again while the popup stays open.
    return () => {
      const el = opener.current;
      // After the popup's elements went (the focus is on the body then).
      setTimeout(() => {
        const now = document.activeElement;
        if (el?.isConnected && (!now || now === document.body)) el.focus();
      }, 0);
    };
  }, [open]);
}
