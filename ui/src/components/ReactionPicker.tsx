import { useRef, type KeyboardEvent } from "react";
import { useDismiss } from "../useDismiss";
import { useRestoreFocus } from "../useRestoreFocus";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/** The quick reactions under a message: a menu the keyboard can use too
 * (the first one focused, arrows move, Escape closes and gives the focus
 * back to the React button). A press or the focus elsewhere closes it too;
 * `toggle`: the React button, which closes it by itself. */
export function ReactionPicker({ onPick, onClose, toggle }: { onPick: (emoji: string) => void; onClose: () => void; toggle?: () => Element | null }) {
  useRestoreFocus(true);
  const box = useRef<HTMLDivElement>(null);
  useDismiss(box, onClose, toggle);
  function onKey(e: KeyboardEvent) {
    const items = [...(box.current?.querySelectorAll<HTMLButtonElement>("button") ?? [])];
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (e.key === "Escape") {
      e.stopPropagation();
      onClose();
    } else if (step !== undefined && items.length) {
      e.preventDefault();
      items[(at + step + items.length) % items.length].focus();
    } else if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      items[e.key === "Home" ? 0 : items.length - 1]?.focus();
    }
  }
  return (
    <div className="picker" role="menu" aria-label="React" ref={box} onKeyDown={onKey}>
      {QUICK_REACTIONS.map((emoji, i) => (
        <button key={emoji} role="menuitem" autoFocus={i === 0} aria-label={`React with ${emoji}`} onClick={() => onPick(emoji)}>
          {emoji}
        </button>
      ))}
    </div>
  );
}
