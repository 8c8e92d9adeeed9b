import { memo, useId, useRef, useState, type KeyboardEvent } from "react";
import type { CachedMessage } from "../bindings";
import { author, bodyDescribes, messageLabel, reactedBy, whoseMessage } from "../a11y";
import { clock, fullTime, snippet, tick } from "../format";
import { AttachmentView } from "./AttachmentView";
import { ConfirmDelete } from "./ConfirmDelete";
import { ForwardPicker } from "./ForwardPicker";
import { MessageText } from "./MessageText";
import { ReactionPicker } from "./ReactionPicker";

/** What a row asks of the chat. One object for all rows, the same across
 * renders (see `useStableHandlers`): a row renders again only when its own
 * message or state changes, not because the chat made new closures. */
export type RowActions = {
  reply: (m: CachedMessage) => void;
  edit: (m: CachedMessage) => void;
  /** Opens message `id`'s reaction menu, forward list (those two close
   * again on a second press) or "Delete for everyone?": one pop-up at a
   * time in the chat. */
  toggle: (id: string, popup: Popup) => void;
  /** Closes that pop-up of that message (if it is still the one open). */
  closePopup: (id: string, popup: Popup) => void;
  react: (m: CachedMessage, emoji: string) => void;
  /** A reaction picked in the menu: the menu goes, the composer gets the focus. */
  picked: (m: CachedMessage, emoji: string) => void;
  forwarded: (m: CachedMessage, to: string) => void;
  remove: (m: CachedMessage) => void;
  retry: (m: CachedMessage) => void;
  discard: (m: CachedMessage) => void;
  jumpTo: (id: string) => void;
  /** An image in it loaded: the row grew. */
  grew: () => void;
  error: (message: string) => void;
  /** The focus went into row `key` (it becomes the list's Tab stop). */
  focused: (key: string) => void;
  /** A key pressed on a row itself (Up/Down move between rows). */
  keyDown: (e: KeyboardEvent<HTMLDivElement>) => void;
};

export type Popup = "react" | "forward" | "delete";

interface Props {
  m: CachedMessage;
  /** The row's key (`messageKey`: a pending message has no id yet). */
  rowKey: string;
  /** The message it replies to, when loaded. */
  quoted: CachedMessage | undefined;
  myId: string;
  peerName: string;
  /** Why my message is not sent (yet), in words. */
  why: string | undefined;
  /** The message's pop-up that is open. */
  popup: Popup | null;
  /** A retry or discard is under way (in the chat): theirs wait. */
  busy: boolean;
  /** Still in its edit window (when the chat last rendered). */
  editable: boolean;
  /** The list's one Tab stop (see `rovingIndex`). */
  tabbable: boolean;
  /** The day it was sent, in words, when not today (see `spokenDay`): a
   * string, so the memo holds, and the row renders again at midnight. */
  day: string | null;
  on: RowActions;
}

/** One message: its bubble and, on hover or keyboard focus, its actions.
 * Memoized: a refresh keeps the objects of unchanged messages (see
 * `reuseUnchanged`), so in a chat of thousands only the changed rows render. */
export const MessageRow = memo(function MessageRow({ m, rowKey, quoted, myId, peerName, why, popup, busy, editable, tabbable, day, on }: Props) {
  const row = useRef<HTMLDivElement>(null);
  const bodyId = useId();
  /** The focus is in the row: everything in it that takes the focus (its
   * actions, quote, reactions, attachments' buttons, links) is a Tab stop
   * then, and only then. Else each row would add its own, and Tab would
   * walk through every message of the chat instead of leaving the list:
   * the list has one Tab stop, the row (see `rovingIndex`), and the arrows
   * go from row to row. */
  const [inside, setInside] = useState(false);
  const innerTab = inside ? 0 : -1;
  const mine = m.sender_id === myId;
  const whose = whoseMessage(m, myId, peerName);
  const t = why ? { ...tick(m.state), label: why } : tick(m.state);
  const reactions = Object.entries(m.reactions).filter(([, who]) => who && who.length > 0);
  const canAct = !!m.id && !m.deleted;
  const button = (name: string) => () => row.current?.querySelector(`button[name="${name}"]`) ?? null;
  return (
    <div
      ref={row}
      className={`bubble-row ${mine ? "mine" : "theirs"}`}
      data-testid="message"
      data-message-id={m.id}
      data-state={m.state}
      role="article"
      aria-label={messageLabel(m, myId, peerName, quoted, day)}
      // The text is read from the bubble, not repeated in the label.
      aria-describedby={bodyDescribes(m) ? bodyId : undefined}
      tabIndex={tabbable ? 0 : -1}
      onFocus={() => {
        setInside(true);
        on.focused(rowKey);
      }}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setInside(false);
      }}
      onKeyDown={on.keyDown}
    >
      <div className={`bubble${m.deleted ? " deleted" : ""}`}>
        {m.forwarded && !m.deleted ? (
          <div className="forwarded" data-testid="forwarded">
            ↪ Forwarded
          </div>
        ) : null}
        {m.reply_to ? (
          <button className="quote" tabIndex={innerTab} onClick={() => m.reply_to && on.jumpTo(m.reply_to)} data-testid="quote">
            <strong>{quoted ? author(quoted.sender_id, myId, peerName) : "Reply"}</strong>
            <span dir="auto">{quoted ? snippet(quoted) : "An earlier message"}</span>
          </button>
        ) : null}
        {!m.deleted && m.attachments.length ? (
          <div className="attachments">
            {m.attachments.map((a) => (
              <AttachmentView key={a.id} a={a} onLoad={on.grew} tabIndex={innerTab} />
            ))}
          </div>
        ) : null}
        {m.deleted || m.body ? (
          <div className="body" id={bodyId} dir="auto">
            {m.deleted ? "This message was deleted" : <MessageText text={m.body} onError={on.error} tabIndex={innerTab} />}
          </div>
        ) : null}
        {mine && why ? (
          <div className={m.state === "failed" ? "deferred error" : "deferred muted"} data-testid={m.state === "failed" ? "failed" : "deferred"}>
            {why}
            {m.state === "failed" ? (
              <span className="failed-actions">
                {" "}
                <button
                  className="link"
                  name="retry-failed"
                  title="Send it again"
                  aria-label="Retry sending this message"
                  tabIndex={innerTab}
                  disabled={busy}
                  onClick={() => on.retry(m)}
                >
                  Retry
                </button>{" "}
                <button
                  className="link"
                  name="discard-failed"
                  title="Remove it from this device (it was never sent)"
                  aria-label="Delete this unsent message"
                  tabIndex={innerTab}
                  disabled={busy}
                  onClick={() => on.discard(m)}
                >
                  Delete
                </button>
              </span>
            ) : null}
          </div>
        ) : null}
        <div className="meta">
          {m.edited_at && !m.deleted ? <span className="edited">edited</span> : null}
          <time dateTime={m.created_at} title={fullTime(new Date(m.created_at))}>
            {clock(new Date(m.created_at))}
          </time>
          {mine ? (
            <span className={`tick tick-${m.state}`} role="img" title={t.label} aria-label={t.label} data-testid="tick">
              {t.mark}
            </span>
          ) : null}
        </div>
        {reactions.length ? (
          <div className="reactions">
            {reactions.map(([emoji, who]) => (
              <button
                key={emoji}
                className={`reaction${who.includes(myId) ? " mine" : ""}`}
                aria-pressed={who.includes(myId)}
                title={reactedBy(who, myId, peerName)}
                tabIndex={innerTab}
                onClick={() => on.react(m, emoji)}
                data-testid="reaction"
              >
                {emoji} {who.length > 1 ? who.length : ""}
              </button>
            ))}
          </div>
        ) : null}
      </div>
      {canAct ? (
        <div className={`actions${popup ? " open" : ""}`}>
          {/* `name`s stay as they are: the end-to-end test presses these by name. */}
          <button title="Reply" aria-label={`Reply to ${whose}`} name="reply" tabIndex={innerTab} onClick={() => on.reply(m)}>
            ↩
          </button>
          <button title="React" aria-label={`React to ${whose}`} aria-expanded={popup === "react"} name="react" tabIndex={innerTab} onClick={() => on.toggle(m.id, "react")}>
            ☺
          </button>
          <button title="Forward" aria-label={`Forward ${whose}`} aria-expanded={popup === "forward"} name="forward" tabIndex={innerTab} onClick={() => on.toggle(m.id, "forward")}>
            ↪
          </button>
          {mine ? (
            <>
              {editable ? (
                <button title="Edit" aria-label={`Edit ${whose}`} name="edit" tabIndex={innerTab} onClick={() => on.edit(m)}>
                  ✎
                </button>
              ) : null}
              <button title="Delete" aria-label={`Delete ${whose}`} name="delete" tabIndex={innerTab} onClick={() => on.toggle(m.id, "delete")}>
                🗑
              </button>
            </>
          ) : null}
          {popup === "react" ? <ReactionPicker onPick={(e) => on.picked(m, e)} onClose={() => on.closePopup(m.id, "react")} toggle={button("react")} /> : null}
          {popup === "forward" ? <ForwardPicker messageId={m.id} onClose={() => on.closePopup(m.id, "forward")} toggle={button("forward")} onForwarded={(to) => on.forwarded(m, to)} /> : null}
          {popup === "delete" ? <ConfirmDelete onDelete={() => on.remove(m)} onCancel={() => on.closePopup(m.id, "delete")} toggle={button("delete")} /> : null}
        </div>
      ) : null}
    </div>
  );
});
