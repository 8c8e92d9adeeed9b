import { useEffect, useRef, type RefObject } from "react";
import { isOutside } from "./dismiss";

/** Calls `onClose` on a press outside `box` or the focus leaving it for
 * something outside (see `isOutside`), except on `toggle()`, the button
 * that opens and closes it, whose own click does that. */
export function useDismiss(box: RefObject<HTMLElement | null>, onClose: () => void, toggle?: () => Element | null) {
  const close = useRef(onClose);
  close.current = onClose;
  const toggleOf = useRef(toggle);
  toggleOf.current = toggle;
  useEffect(() => {
    const el = box.current;
    const outside = (target: EventTarget | null) =>
      target instanceof Node && isOutside<Node>(target, box.current, toggleOf.current?.() ?? null);
    // Capturing: a handler that stops the press on its way must not keep
    // the pop-up open.
    const press = (e: PointerEvent) => {
      if (outside(e.target)) close.current();
    };
    const left = (e: FocusEvent) => {
      if (outside(e.relatedTarget)) close.current();
    };
    document.addEventListener("pointerdown", press, true);
    el?.addEventListener("focusout", left);
    return () => {
      document.removeEventListener("pointerdown", press, true);
      el?.removeEventListener("focusout", left);
    };
  }, [box]);
}
