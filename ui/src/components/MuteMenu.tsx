import { useEffect, useRef, useState } from "react";
import type { Chat } from "../bindings";
import { muteLabel, MUTE_CHOICES, muteUntil } from "../format";
import { call } from "../ipc";
import { useAction } from "../useAction";

/** The chat header's notifications control: mute for 8 hours, a week or
 * until unmuted, or unmute. Muting is the user's own (their other devices
 * follow; the peer never knows); `onChanged` reloads the chat list, which
 * shows it. A select, so it works from the keyboard and names its state. */
export function MuteMenu({ chat, onChanged }: { chat: Chat; onChanged: () => void }) {
  const { busy, error, run } = useAction();
  // A fresh select after every choice: WebKit fires `change` only when the
  // chosen index differs from the last one it fired for, which the options
  // (re-ordered once muted) and React's reset of the value would defeat.
  const [choices, setChoices] = useState(0);
  // Focus survives those remounts: a keyboard user stays on the control.
  // Until they go elsewhere: a click or focus anywhere else (even on
  // something that cannot take focus, which leaves no blur target) ends it,
  // so a later remount (a mute ending) never takes the focus from the composer.
  const focused = useRef(false);
  const select = useRef<HTMLSelectElement | null>(null);
  useEffect(() => {
    const away = (e: Event) => {
      if (!(e.target instanceof Node && select.current?.contains(e.target))) focused.current = false;
    };
    document.addEventListener("focusin", away);
    document.addEventListener("pointerdown", away);
    return () => {
      document.removeEventListener("focusin", away);
      document.removeEventListener("pointerdown", away);
    };
  }, []);
  const label = muteLabel(chat, new Date());

  async function choose(key: string) {
    const choice = MUTE_CHOICES.find((c) => c.key === key);
    if (key !== "unmute" && !choice) return;
    const mute = choice ? { until: muteUntil(choice.hours, new Date()) } : null;
    await run(async () => {
      await call("mute_chat", { chat_id: chat.id, mute });
      onChanged();
    });
    setChoices((n) => n + 1);
  }

  return (
    <span className="mute">
      <select
        key={`${label}/${choices}`}
        ref={(el) => {
          select.current = el;
          if (el && focused.current && document.activeElement !== el) el.focus();
        }}
        onFocus={() => (focused.current = true)}
        onBlur={(e) => {
          // Moving elsewhere, not the remount (which blurs towards nothing).
          if (e.relatedTarget) focused.current = false;
        }}
        name="mute"
        aria-label="Notifications"
        data-testid="mute"
        value=""
        disabled={busy}
        onChange={(e) => void choose(e.target.value)}
      >
        <option value="" disabled>
          {label ? `🔕 ${label}` : "🔔 Notifications on"}
        </option>
        {label ? <option value="unmute">Unmute</option> : null}
        {MUTE_CHOICES.map((c) => (
          <option key={c.key} value={c.key}>
            {c.label}
          </option>
        ))}
      </select>
      {error ? (
        <span className="error inline" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}
