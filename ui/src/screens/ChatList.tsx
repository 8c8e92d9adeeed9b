import { forwardRef, useSyncExternalStore } from "react";
import { drafts } from "../drafts";
import { useDayChange } from "../day";
import type { Chat, Message } from "../bindings";
import { Avatar } from "../components/Avatar";
import { VirtualList } from "../components/VirtualList";
import { chatListNote } from "../emptyStates";
import { filterChats, isMuted, listTime, preview, snippet } from "../format";
import type { Presence } from "../store";

interface Props {
  /** Null until the first answer. */
  chats: Chat[] | null;
  /** Why the list could not be loaded (the last try), or null. */
  error: string | null;
  onRetry: () => void;
  myId: string;
  selected: string | null;
  query: string;
  presence: Record<string, Presence>;
  /** Chats whose peer is typing now. */
  typing: Record<string, unknown>;
  onQuery: (q: string) => void;
  onSelect: (chatId: string) => void;
  /** Messages matching the query (null: no search). */
  found: Message[] | null;
  /** Why no messages are shown for the query (the search failed, or the
   * query is too long), or null. */
  searchError: string | null;
  onOpenMessage: (m: Message) => void;
}

/** What a chat's unsent draft shows in the list, or "" without one. */
function draftPreview(chatId: string): string {
  const text = drafts.get(chatId).replace(/\s+/g, " ").trim();
  if (text) return text;
  const files = drafts.attachments(chatId);
  return files.length ? `📎 ${files[0].name ?? "Attachment"}` : "";
}

/** The chats, most recent activity first, filtered by the box at the top. */
export const ChatList = forwardRef<HTMLInputElement, Props>(function ChatList(
  { chats, error, onRetry, myId, selected, query, presence, typing, onQuery, onSelect, found, searchError, onOpenMessage },
  filterRef,
) {
  useDayChange();
  // A chat with something typed and not sent says so, as it is typed.
  useSyncExternalStore(drafts.subscribe, drafts.version);
  const now = new Date();
  const shown = filterChats(chats ?? [], query);
  const note = chatListNote(chats, shown.length, error !== null);
  return (
    <aside className="chat-list">
      <input
        ref={filterRef}
        className="filter"
        name="filter"
        type="search"
        placeholder="Find a chat or message (Ctrl+K)"
        aria-label="Find a chat or message"
        value={query}
        onChange={(e) => onQuery(e.target.value)}
      />
      {note ? (
        <p className="muted empty" data-testid="chats-note" aria-live="polite">
          {note}
        </p>
      ) : null}
      {error ? (
        <p className="error inline" role="alert" data-testid="chats-error">
          {error}{" "}
          <button className="link" name="retry-chats" onClick={onRetry}>
            Retry
          </button>
        </p>
      ) : null}
      {shown.length === 0 ? null : (
        <VirtualList
          className="rows"
          label="Chats"
          items={shown}
          rowHeight={68}
          keepInView={selected}
          itemKey={(c) => c.id}
          render={(c) => (
            <button
              className={`chat-row${c.id === selected ? " selected" : ""}`}
              aria-current={c.id === selected ? "true" : undefined}
              data-testid="chat-row"
              data-chat-id={c.id}
              onClick={() => onSelect(c.id)}
            >
              <Avatar name={c.peer.display_name} url={c.peer.avatar_url} online={presence[c.peer.id]?.online} />
              <span className="chat-row-main">
                <span className="chat-row-top">
                  <span className="chat-name" dir="auto">{c.peer.display_name}</span>
                  <span className="chat-time">{c.last_message ? listTime(new Date(c.last_message.created_at), now) : ""}</span>
                </span>
                <span className="chat-row-bottom">
                  <span className="chat-preview" dir="auto">
                    {typing[c.id] ? (
                      <span className="typing-label" data-testid="list-typing">
                        typing…
                      </span>
                    ) : draftPreview(c.id) ? (
                      <>
                        <span className="draft-label" data-testid="draft">
                          Draft:
                        </span>{" "}
                        {draftPreview(c.id)}
                      </>
                    ) : (
                      preview(c, myId)
                    )}
                  </span>
                  {c.pinned_at ? (
                    <span className="muted-icon" data-testid="pinned" title="Pinned" aria-label="Pinned">
                      📌
                    </span>
                  ) : null}
                  {isMuted(c, now) ? (
                    <span className="muted-icon" data-testid="muted" title="Muted" aria-label="Muted">
                      🔕
                    </span>
                  ) : null}
                  {c.unread_count > 0 ? (
                    <span className={`badge${isMuted(c, now) ? " quiet" : ""}`} data-testid="unread" aria-label={`${c.unread_count} unread`}>
                      {c.unread_count}
                    </span>
                  ) : null}
                </span>
              </span>
            </button>
          )}
        />
      )}
      {found || searchError ? (
        <section className="found" aria-label="Messages found" data-testid="found">
          <h3>Messages</h3>
          {searchError || !found ? (
            <p className="error empty" role="alert" data-testid="search-error">
              {searchError}
            </p>
          ) : found.length === 0 ? (
            <p className="muted empty">No message matches.</p>
          ) : (
            found.map((m) => {
              const peer = chats?.find((c) => c.id === m.chat_id)?.peer.display_name ?? "";
              return (
                <button key={m.id} className="found-row" data-testid="found-message" onClick={() => onOpenMessage(m)}>
                  <span className="chat-row-top">
                    <span className="chat-name" dir="auto">{peer}</span>
                    <span className="chat-time">{listTime(new Date(m.created_at), now)}</span>
                  </span>
                  <span className="chat-preview" dir="auto">
                    {m.sender_id === myId ? "You: " : ""}
                    {snippet(m)}
                  </span>
                </button>
              );
            })
          )}
        </section>
      ) : null}
    </aside>
  );
});
