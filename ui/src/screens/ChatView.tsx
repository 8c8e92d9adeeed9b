import { Fragment, useEffect, useId, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type KeyboardEvent } from "react";
import { useDayChange } from "../day";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import type { Attachment, CachedMessage, Chat, UploadProgress } from "../bindings";
import { Avatar } from "../components/Avatar";
import { MessageRow, type Popup, type RowActions } from "../components/MessageRow";
import { MuteMenu } from "../components/MuteMenu";
import { PinButton } from "../components/PinButton";
import { ClearChat } from "../components/ClearChat";
import { UploadFailures } from "../components/UploadFailures";
import { open as openDialog } from "@tauri-apps/plugin-dialog";
import { asCommandError, call, uploadAttachment } from "../ipc";
import { dayKey, lastEditable, unreadText, baseName, bodyLimitText, canEdit, fileSize, groupByDay, isSendKey, presenceText, snippet, deferredText, failedText, waitingBehind, WAITING_BEHIND } from "../format";
import { author, rovingIndex, rowStep, spokenDay } from "../a11y";
import { drafts } from "../drafts";
import { answerFor, Latest } from "../latest";
import { uploadEnded, uploadProgressed, uploadStarted, UploadsStore } from "../progress";
import { messagesNote } from "../emptyStates";
import { arrivals, firstUnread, quotesToLookUp, sameQuotes, messageKey, newestSeq, oldestSeq, PAGE, reachedStart, withLatest, withoutCleared, withOlderPage, withSent } from "../history";
import { newestFromOthers, ReadMarker } from "../readMark";
import { useStableHandlers } from "../stableHandlers";
import type { Presence } from "../store";

/** Send "typing" at most this often while the person types. */
const TYPING_EVERY_MS = 3000;
/** Ask for the page before when scrolled this close to the top, px. */
const LOAD_OLDER_WITHIN_PX = 300;
/** After a failed page, wait this long before asking again (scrolling would
 * otherwise ask on every scroll event). */
const OLDER_RETRY_MS = 5000;
/** A refused read mark is tried again after this long. */
const READ_RETRY_MS = 5000;
/** How long a message jumped to is kept in view while the page settles. */
const ANCHOR_MS = 3000;

/** Uploads on their way, per chat, beyond this view's life (and those that
 * failed, until dismissed). */
const uploadsStore = new UploadsStore<UploadProgress>();

/** Forgets the uploads that failed (see `UploadsStore.forgetFailures`): on
 * signing out. */
export function forgetUploadFailures(): void {
  uploadsStore.forgetFailures();
}

interface Props {
  chat: Chat;
  myId: string;
  rev: number;
  typing: boolean;
  presence: Presence | undefined;
  /** client id -> the problem code with which the server refused it for now. */
  deferred: Record<string, string>;
  /** client id -> the problem code with which the server refused it for good. */
  failed: Record<string, string>;
  /** A message to scroll to (picked in the search results) in chat
   * `chatId`; `n` changes on every pick, so the same message can be picked
   * again. Taken once: `onJumped` says so, and the parent forgets it. */
  jump: { chatId: string; id: string; n: number } | null;
  onJumped: () => void;
  onChanged: () => void;
}

/** One chat: the header, the messages grouped by day, and the composer. */
export function ChatView({ chat, myId, rev, typing, presence, deferred, failed, jump, onJumped, onChanged }: Props) {
  const [loaded, setMessages] = useState<CachedMessage[]>([]);
  // What I cleared, here or on another device (the list's chat says how far
  // once the cache applied it), is not shown: older pages included, and a
  // page that was on its way when it happened.
  const messages = useMemo(() => withoutCleared(loaded, chat.cleared_up_to_seq), [loaded, chat.cleared_up_to_seq]);
  // What is in the composer: this chat's draft (kept across chat switches in
  // `drafts`), or the text of the message being edited.
  const [draft, setDraft] = useState(() => drafts.get(chat.id));
  const [sending, setSending] = useState(false);
  const sendingRef = useRef(false);
  const [replyTo, setReplyTo] = useState<CachedMessage | null>(null);
  const [editing, setEditing] = useState<CachedMessage | null>(null);
  /** The message whose reaction menu, "Forward to" list or "Delete for
   * everyone?" is open (one at a time). */
  const [popup, setPopup] = useState<{ id: string; kind: Popup } | null>(null);
  /** What the last forward said. */
  const [notice, setNotice] = useState<string | null>(null);
  /** The row the focus was last in (by row key): the list's Tab stop. */
  const [activeRow, setActiveRow] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** The refused message being retried or dropped (its client id). */
  const [acting, setActing] = useState<string | null>(null);
  const [attachPath, setAttachPath] = useState<string | null>(null);
  // Files uploaded for the next message (kept per chat in `drafts`).
  // Read from `drafts` on every render, which follows its changes.
  useSyncExternalStore(drafts.subscribe, drafts.version);
  const attached: Attachment[] = drafts.attachments(chat.id);
  // Uploads on their way, per chat (they go on while another chat is open;
  // sending waits for all of its own).
  const uploads = useSyncExternalStore(uploadsStore.subscribe, uploadsStore.snapshot);
  const upload = uploads[chat.id] ?? null;
  // Uploads of this chat that failed, here or while it was not open.
  const failures = useSyncExternalStore(uploadsStore.subscribe, uploadsStore.failures);
  const uploadFailures = failures[chat.id] ?? [];
  /** The newest failure when this chat was opened in this view: only those
   * after it are said to a screen reader (see `UploadFailures`). Set while
   * rendering the switch, not in an effect, so that render does not tell
   * the chat's older failures as new. */
  const [failuresAtOpen, setFailuresAtOpen] = useState(() => ({ chat: chat.id, newest: uploadsStore.newestFailure() }));
  if (failuresAtOpen.chat !== chat.id) setFailuresAtOpen({ chat: chat.id, newest: uploadsStore.newestFailure() });
  const scroller = useRef<HTMLDivElement>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);
  const marker = useRef<ReadMarker | null>(null);
  const onChangedRef = useRef(onChanged);
  onChangedRef.current = onChanged;
  const onJumpedRef = useRef(onJumped);
  onJumpedRef.current = onJumped;
  const atBottom = useRef(true);
  // Scrolling up through history: a page is loading; the first message is
  // shown; the distance from the bottom to keep when a page is put in front.
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [atStart, setAtStart] = useState(false);
  const keepFromBottom = useRef<number | null>(null);
  const loadingOlderRef = useRef(false);
  const olderFailedAt = useRef(0);
  /** My read watermark and unread count when the chat was opened: the
   * "unread messages" divider stays where they put it while the chat is
   * open, though the messages are marked read at once. */
  const [unread, setUnread] = useState<{ from: number; count: number } | null>(null);
  const divider = useRef<HTMLDivElement>(null);
  const unreadShown = useRef(false);
  /** A quoted message to scroll to once older pages bring it in. */
  const pendingJump = useRef<string | null>(null);
  /** The message just jumped to, kept in view while the page settles
   * (refreshes, images sized, the banner going) until the user scrolls. */
  const anchor = useRef<{ id: string; until: number } | null>(null);
  const chatId = useRef(chat.id);
  chatId.current = chat.id;
  // How many are loaded: a refresh re-reads that many, older pages included.
  const loadedCount = useRef(0);
  loadedCount.current = messages.length;
  // Refreshes of the latest window, numbered: an answer still on its way
  // when the next change comes is shown all the same (dropping it would
  // freeze the view while messages keep coming), unless a newer one was.
  // And for each message queued here, how many refreshes had been asked for
  // when `send_message` answered: those may come back without it (see
  // `withLatest`).
  const refreshes = useRef(new Latest());
  /** Times a chat was opened in this view (see `loadOlder`). */
  const opens = useRef(0);
  /** Reactions I asked to add (true) or remove, by message id and emoji,
   * until the messages shown say so. */
  const reacting = useRef(new Map<string, boolean>());
  useEffect(() => {
    for (const [key, want] of reacting.current) {
      const [id, emoji] = key.split("\u0000");
      const m = messages.find((x) => x.id === id);
      if (!m || (m.reactions[emoji] ?? []).includes(myId) === want) reacting.current.delete(key);
    }
  }, [messages, myId]);
  /** Quoted messages not among those loaded, as the cache holds them (one
   * it does not is absent), asked again after every change (an edit, a
   * deletion, a clear), all in one call; forgotten with the chat. */
  const [quotes, setQuotes] = useState<Record<string, CachedMessage>>({});
  const quoteLoads = useRef(new Latest());
  useEffect(() => {
    const n = quoteLoads.current.next();
    const ids = quotesToLookUp(
      messages.filter((m) => m.chat_id === chat.id),
      new Set(),
    );
    if (ids.length === 0) {
      setQuotes((q) => (Object.keys(q).length ? {} : q));
      return;
    }
    call("cached_quotes", { message_ids: ids.slice(0, PAGE) }).then(
      (found) => quoteLoads.current.accept(n) && setQuotes((q) => sameQuotes(q, found)),
      () => {},
    );
  }, [messages, chat.id, rev]);
  const queuedAfter = useRef(new Map<string, number>());
  /** What a screen reader is told of the last message that came in, and
   * how many were told (the same text twice must still change the DOM). */
  const [announce, setAnnounce] = useState({ text: "", n: 0 });
  /** Messages that came in below while the user reads further up. */
  const [below, setBelow] = useState(0);
  /** Scrolled more than a screen up from the newest messages. */
  const [away, setAway] = useState(false);
  /** The chat whose messages were last shown once opened: its cache and
   * what the server had on opening (see `heard`). */
  const loadedFor = useRef<string | null>(null);
  /** The newest seq from the peer already seen in this chat: set when its
   * messages first show (those are not news), null before. */
  const heard = useRef<{ chat: string; seq: number } | null>(null);
  /** The chat whose first load answered (until then its empty pane says
   * "Loading…", not "No messages"), and the one whose history the server
   * could not give (an empty cache is not an empty chat then). */
  const [openedFor, setOpenedFor] = useState<string | null>(null);
  const [historyFailed, setHistoryFailed] = useState<string | null>(null);
  /** Shows the latest window the cache or server gave for refresh `n` of
   * chat `id`, unless the chat changed or a newer refresh was shown. */
  const showLatest = (id: string, latest: CachedMessage[], n: number, opened = false) => {
    const answer = answerFor(refreshes.current, chatId.current, id, n, opened);
    if (answer.opened) {
      loadedFor.current = id;
      setOpenedFor(id);
    }
    if (!answer.show && !answer.opened) return;
    setMessages((cur) => {
      // Not shown when a newer refresh was: what is shown came from the
      // cache after this read (see `answerFor`), so it is the chat as opened.
      const next = answer.show ? withLatest(cur, latest, (m) => (queuedAfter.current.get(m.client_id) ?? 0) >= n) : cur;
      // An unchanged list is kept (no render), but the chat as opened must
      // still be looked at once: only what comes after it is news (`heard`).
      return answer.opened && next === cur ? [...next] : next;
    });
  };
  /** Reads chat `id`'s latest window (`limit` messages, or a page) from the
   * cache: after a change, and after anything whose answer is not itself
   * the newest state (a refresh on its way may be older than it). */
  const refresh = (id: string, limit: number | null = null, opened = false) => {
    const n = refreshes.current.next();
    call("cached_messages", { chat_id: id, limit }).then(
      (m) => showLatest(id, m, n, opened),
      () => {
        // The opening read failed: say so (with a Retry), not "Loading…" for good.
        if (!opened || chatId.current !== id) return;
        setHistoryFailed(id);
        setOpenedFor(id);
      },
    );
  };
  /** Asks the server for what the cache lacks of chat `id` (opened now),
   * then shows the cache. What the server had is in the cache once this
   * answers: read it from there then (this answer itself is older than the
   * refreshes that changes started while it was on its way). What is shown
   * after it is the chat as opened: only messages after that are news
   * (announced, counted on the way-down button). */
  const loadHistory = (id: string) => {
    const opening = opens.current;
    call("load_history", { chat_id: id, limit: null }).then(
      () => refresh(id, null, true),
      (e) => {
        // Another chat, or this one opened again, since.
        if (opens.current !== opening) return;
        setError(asCommandError(e).message);
        setHistoryFailed(id);
        refresh(id, null, true);
      },
    );
  };

  // Open: the cache at once, then whatever the server has that it lacks.
  useEffect(() => {
    const id = chat.id;
    opens.current += 1;
    anchor.current = null;
    setMessages([]);
    // An edit or a reply left in this chat comes back with it.
    const aside = drafts.aside(id);
    setReplyTo(aside?.replyTo ?? null);
    setEditing(aside?.editing ?? null);
    setDraft(aside?.editing ? aside.editText : drafts.get(id));
    setError(null);
    setNotice(null);
    setPopup(null);
    setActiveRow(null);
    setAttachPath(null);
    atBottom.current = true;
    setAtStart(false);
    setLoadingOlder(false);
    loadingOlderRef.current = false;
    keepFromBottom.current = null;
    olderFailedAt.current = 0;
    pendingJump.current = null;
    setAnnounce({ text: "", n: 0 });
    loadedFor.current = null;
    heard.current = null;
    setBelow(0);
    setAway(false);
    setUnread(chat.unread_count > 0 ? { from: chat.read_up_to_seq, count: chat.unread_count } : null);
    unreadShown.current = false;
    setHistoryFailed(null);
    // Not opened until its own first load answers: else a chat opened
    // again (A, B, back to A) before B's answer says "No messages" while
    // it loads.
    setOpenedFor(null);
    refresh(id);
    loadHistory(id);
    composer.current?.focus();
    return () => {
      // Leaving the chat (or the view): its draft is written now, not once
      // typing would have paused.
      drafts.flush();
      // Leaving with "typing" on: tell the peer it stopped, and start afresh
      // in the next chat.
      if (lastTyping.current) void call("set_typing", { chat_id: id, active: false }).catch(() => {});
      lastTyping.current = 0;
    };
  }, [chat.id]);

  // An edit or a reply in progress is kept for its chat (after the open
  // effect, which reads it back): switching chats or to the settings and
  // back does not lose it. Right after a switch these are still the last
  // chat's, and are not its to keep.
  useEffect(() => {
    if ((editing && editing.chat_id !== chat.id) || (replyTo && replyTo.chat_id !== chat.id)) return;
    drafts.setAside(chat.id, { editing, editText: editing ? draft : "", replyTo });
  }, [editing, replyTo, draft, chat.id]);

  // Something changed (an event, a send): reload from the cache.
  useEffect(() => {
    if (rev === 0) return;
    // As many as are loaded (plus room for new ones), so edits, reactions and
    // deletions show on older pages too; older pages stay either way.
    const limit = Math.max(PAGE, loadedCount.current + 50);
    refresh(chat.id, limit);
  }, [rev, chat.id]);

  // Read what is on screen: move my read watermark to the newest message (see
  // ReadMarker: when the window is visible and focused, as WhatsApp does, so
  // a window left open behind others does not tell the sender "read"; and
  // again after a refusal).
  useEffect(() => {
    const id = chat.id;
    const m = new ReadMarker(
      chat.read_up_to_seq,
      (upTo) => call("mark_read", { chat_id: id, up_to_seq: upTo }).then(() => onChangedRef.current()),
      () => document.visibilityState === "visible" && document.hasFocus(),
      READ_RETRY_MS,
    );
    marker.current = m;
    const shown = () => m.flush();
    document.addEventListener("visibilitychange", shown);
    window.addEventListener("focus", shown);
    return () => {
      m.close();
      document.removeEventListener("visibilitychange", shown);
      window.removeEventListener("focus", shown);
    };
    // A new marker per chat, from the watermark it had when opened.
  }, [chat.id]);
  useEffect(() => {
    // Only this chat's: for a moment after a switch, `messages` are the last
    // chat's.
    const id = chatId.current;
    const here = messages.filter((m) => m.chat_id === id);
    marker.current?.saw(newestFromOthers(here, myId));
    // What came in since the last look: said to a screen reader, and
    // counted on the way-down button while the user reads further up.
    if (heard.current?.chat !== id) {
      if (loadedFor.current === id) heard.current = { chat: id, seq: newestFromOthers(here, myId) };
      return;
    }
    const fresh = arrivals(here, myId, heard.current.seq);
    if (!fresh.length) return;
    const last = fresh[fresh.length - 1];
    heard.current = { chat: id, seq: last.seq };
    setAnnounce((a) => ({ text: `${author(last.sender_id, myId, chat.peer.display_name)}: ${snippet(last) || "a message"}`, n: a.n + 1 }));
    if (!atBottom.current) setBelow((n) => n + fresh.length);
  }, [messages, myId]);

  const oldest = oldestSeq(messages);
  const startShown = atStart || oldest === 1 || (oldest > 0 && oldest === chat.cleared_up_to_seq + 1);

  /** The page before the oldest message shown, put in front without moving
   * what is on screen. */
  async function loadOlder() {
    const el = scroller.current;
    if (!el || loadingOlderRef.current || startShown || oldest <= 1) return;
    if (Date.now() - olderFailedAt.current < OLDER_RETRY_MS) return;
    const id = chat.id;
    const opening = opens.current;
    loadingOlderRef.current = true;
    setLoadingOlder(true);
    try {
      const page = await call("older_messages", { chat_id: id, before_seq: oldest, limit: null });
      // Another chat, or this one opened again (its latest window only):
      // the page would leave a gap between it and what is shown.
      if (opens.current !== opening) return;
      keepFromBottom.current = el.scrollHeight - el.scrollTop;
      setMessages((cur) => withOlderPage(cur, page));
      if (reachedStart(page)) setAtStart(true);
    } catch (e) {
      if (opens.current !== opening) return;
      olderFailedAt.current = Date.now();
      pendingJump.current = null;
      setError(asCommandError(e).message);
    } finally {
      if (opens.current === opening) {
        loadingOlderRef.current = false;
        setLoadingOlder(false);
      }
    }
  }
  const loadOlderRef = useRef(loadOlder);
  loadOlderRef.current = loadOlder;

  // A message picked in the search results: at once when this chat's
  // messages are shown, else once they are (see the layout effect). After
  // the open effect, which forgets any earlier jump. Taken once, and only in
  // its own chat: this view is mounted again after the settings or people
  // were shown, with the same `jump`, and would scroll back to an old pick
  // (or, in another chat, page through all of its history looking for it).
  useEffect(() => {
    if (!jump) return;
    onJumpedRef.current();
    if (jump.chatId !== chat.id) return;
    if (messages.length > 0 && messages[0].chat_id === chat.id) jumpTo(jump.id);
    else pendingJump.current = jump.id;
  }, [jump?.n]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (holdAnchor()) {
      keepFromBottom.current = null;
    } else if (keepFromBottom.current !== null) {
      // A page went in front: keep the same distance from the bottom.
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    } else if (atBottom.current) el.scrollTop = el.scrollHeight;
    // Opened with more unread than fits: start at the divider, not the end.
    const line = divider.current;
    if (line && !unreadShown.current) {
      unreadShown.current = true;
      const top = el.scrollTop + line.getBoundingClientRect().top - el.getBoundingClientRect().top - 8;
      if (el.scrollTop > top) {
        el.scrollTop = top;
        atBottom.current = false;
      }
    }
    const target = pendingJump.current;
    // Only once this chat's messages are in (right after a switch, the list
    // is still the previous chat's).
    if (target && messages.length > 0 && messages[0].chat_id === chat.id) {
      // Jumping to a quoted message: page back until it is loaded.
      if (showMessage(target)) pendingJump.current = null;
      else if (startShown) {
        // Paged back to the start without it: cleared from my history.
        pendingJump.current = null;
        setNotice("The original message is no longer in this chat.");
      } else void loadOlderRef.current();
      return;
    }
    // Not enough to scroll yet (or still near the top): fetch further back.
    if (el.scrollTop < LOAD_OLDER_WITHIN_PX && messages.length > 0) void loadOlderRef.current();
  }, [messages, typing]);

  // The view got shorter (the composer grew, a reply bar or an error
  // showed, the window was resized): stay at the bottom if there.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      if (holdAnchorRef.current()) return;
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  /** Content grew below what is shown (an image loaded): stay at the bottom
   * if there. */
  function keepAtBottom() {
    const el = scroller.current;
    if (holdAnchor()) return;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }

  /** Keeps the message just jumped to in view (see `anchor`); false when
   * there is none (any more). */
  function holdAnchor(): boolean {
    const a = anchor.current;
    if (!a) return false;
    const el = messageEl(a.id);
    if (!el || Date.now() > a.until) {
      anchor.current = null;
      return false;
    }
    atBottom.current = false;
    el.scrollIntoView({ block: "center" });
    return true;
  }
  const holdAnchorRef = useRef(holdAnchor);
  holdAnchorRef.current = holdAnchor;

  // The composer grows with its text (up to its max height).
  useLayoutEffect(() => {
    const el = composer.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${el.scrollHeight + el.offsetHeight - el.clientHeight}px`;
  }, [draft]);

  function setTyping(active: boolean) {
    const now = Date.now();
    if (active && now - lastTyping.current < TYPING_EVERY_MS) return;
    lastTyping.current = active ? now : 0;
    void call("set_typing", { chat_id: chat.id, active }).catch(() => {});
  }

  /** Uploads the file at `path` for the next message of chat `id` (the one
   * open when it was asked for: a drop's later files, a paste still
   * encoding); `started`: already counted (a paste, from its start);
   * `era`: the account's it started under (see `UploadsStore.era`: its
   * failure is not kept for the next one). */
  async function attach(path: string, id = chat.id, started = false, era = uploadsStore.era()) {
    const p = path.trim();
    // Nothing to upload, or signed out since it was asked for (a paste
    // still encoding, a drop's later files): not the next account's to send.
    if (!p || era !== uploadsStore.era()) {
      if (started) uploadsStore.update((u) => uploadEnded(u, id));
      return;
    }
    // Its errors show only while its chat is open.
    const here = () => chatId.current === id;
    if (here()) setError(null);
    const name = baseName(p);
    uploadsStore.update((u) => (started ? uploadProgressed(u, id, name, { sent: 0, total: 0 }) : uploadStarted(u, id, name, { sent: 0, total: 0 })));
    try {
      const a = await uploadAttachment(p, (progress) => uploadsStore.update((u) => uploadProgressed(u, id, name, progress)));
      // Kept for its chat even if another one was opened meanwhile.
      drafts.setAttachments(id, [...drafts.attachments(id), a]);
      if (chatId.current !== id) return;
      setAttachPath(null);
      composer.current?.focus();
    } catch (e) {
      // Kept for its chat until dismissed: shown now if it is open, else
      // when it is opened again (not lost with the switch).
      uploadsStore.recordFailure(era, id, name, asCommandError(e).message);
    } finally {
      uploadsStore.update((u) => uploadEnded(u, id));
    }
  }

  /** Attaches `paths` in turn to chat `id`'s next message, counted as one
   * upload from the first file to the last, so Send does not come on
   * between two of them. */
  async function attachAll(paths: string[], id: string) {
    if (paths.length === 0) return;
    const era = uploadsStore.era();
    uploadsStore.update((u) => uploadStarted(u, id, baseName(paths[0]), { sent: 0, total: 0 }));
    try {
      // Under the account they were dropped for (see `attach`).
      for (const p of paths) await attach(p, id, false, era);
    } finally {
      uploadsStore.update((u) => uploadEnded(u, id));
    }
  }
  const attachAllRef = useRef(attachAll);
  attachAllRef.current = attachAll;

  /** The system's "open file" dialog; what is chosen is attached. */
  async function chooseFiles() {
    const id = chat.id;
    try {
      const picked = await openDialog({ multiple: true, directory: false });
      const paths = picked === null ? [] : Array.isArray(picked) ? picked : [picked];
      await attachAllRef.current(paths, id);
    } catch (e) {
      if (chatId.current === id) setError(asCommandError(e).message);
    }
  }

  // Files dropped on the window are attached (Tauri gives their paths).
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    getCurrentWebview()
      .onDragDropEvent((e) => {
        // All of them to the chat open at the drop, even if another is
        // opened while the first uploads.
        if (e.payload.type === "drop") void attachAllRef.current(e.payload.paths, chatId.current);
      })
      .then((u) => (gone ? u() : (unlisten = u)), () => {});
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);

  async function submit() {
    const body = draft.trim();
    if (!body && (editing || attached.length === 0)) return;
    // An upload still on its way would be left out of the message.
    if (tooLong || sendingRef.current || upload) return;
    const id = chat.id;
    setError(null);
    // One at a time: a second Enter while this one is on its way would send
    // the same text twice.
    sendingRef.current = true;
    setSending(true);
    try {
      if (editing) {
        await call("edit_message", { message_id: editing.id, body });
        // Done, in whichever chat is open now: the edit is not kept aside.
        drafts.setAside(id, null);
        if (chatId.current !== id) return;
        setEditing(null);
        // Back to what was being written before the edit.
        setDraft(drafts.get(id));
      } else {
        const sentIds = attached.map((a) => a.id);
        const m = await call("send_message", {
          chat_id: id,
          body,
          reply_to: replyTo?.id ?? null,
          attachment_ids: sentIds,
        });
        // Sent; only what was typed or attached since stays, and no reply.
        if (drafts.get(id).trim() === body) drafts.set(id, "");
        drafts.setAside(id, null);
        // The view goes to the bottom, to it, not back to a message jumped to.
        anchor.current = null;
        drafts.setAttachments(id, drafts.attachments(id).filter((a) => !sentIds.includes(a.id)));
        if (chatId.current !== id) return;
        queuedAfter.current.set(m.client_id, refreshes.current.count());
        setMessages((list) => withSent(list, m));
        setReplyTo(null);
        setDraft((d) => (d.trim() === body ? "" : d));
        atBottom.current = true;
        // Answered: what was unread has been seen (WhatsApp drops the line too).
        setUnread(null);
      }
      setTyping(false);
      onChanged();
      composer.current?.focus();
    } catch (e) {
      if (chatId.current === id) setError(asCommandError(e).message);
    } finally {
      sendingRef.current = false;
      setSending(false);
    }
  }

  /** Back from editing (or replying) to this chat's draft. */
  function cancelContext() {
    setReplyTo(null);
    if (editing) setDraft(drafts.get(chat.id));
    setEditing(null);
    composer.current?.focus();
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (isSendKey({ key: e.key, shiftKey: e.shiftKey, isComposing: e.nativeEvent.isComposing, keyCode: e.nativeEvent.keyCode })) {
      e.preventDefault();
      void submit();
    } else if (e.key === "Escape") {
      cancelContext();
    } else if (e.key === "ArrowUp" && !draft && !editing && !replyTo && attached.length === 0) {
      // As in other messengers: Up in an empty composer edits my last message.
      const m = lastEditable(messages, myId, new Date());
      if (!m) return;
      e.preventDefault();
      setEditing(m);
      setDraft(m.body);
    }
  }

  async function react(m: CachedMessage, emoji: string) {
    setPopup((p) => (p?.kind === "react" ? null : p));
    const id = chat.id;
    // A second click before the first one's change is shown toggles back
    // what the first asked for, not the stale copy again.
    const key = `${m.id}\u0000${emoji}`;
    const mine = reacting.current.get(key) ?? (m.reactions[emoji] ?? []).includes(myId);
    reacting.current.set(key, !mine);
    try {
      await call("react", { message_id: m.id, emoji, add: !mine });
    } catch (e) {
      reacting.current.delete(key);
      if (chatId.current === id) setError(asCommandError(e).message);
    }
  }

  /** Sends a refused message again (once whatever made the server refuse
   * it changed); it shows as pending until the outbox sends it. */
  async function retryFailed(m: CachedMessage) {
    await actOnFailed(m, "retry_message", (list) =>
      list.map((x) => (x.client_id === m.client_id && x.state === "failed" ? { ...x, state: "pending", failure: undefined } : x)),
    );
  }

  /** Drops a refused message from this device. */
  async function discardFailed(m: CachedMessage) {
    await actOnFailed(m, "discard_message", (list) => list.filter((x) => x.client_id !== m.client_id || x.state !== "failed"));
  }

  /** One action on a refused message at a time (a second click would find
   * it no longer refused, and show an error); its answer is shown only in
   * its own chat. */
  async function actOnFailed(m: CachedMessage, command: "retry_message" | "discard_message", after: (list: CachedMessage[]) => CachedMessage[]) {
    if (acting) return;
    const id = chat.id;
    setError(null);
    setActing(m.client_id);
    try {
      await call(command, { client_id: m.client_id });
      onChanged();
      if (chatId.current !== id) return;
      setMessages(after);
      // A refresh on its way from before would undo it until the next change.
      refresh(id);
      // The buttons go with the failure: focus the composer, not nothing.
      composer.current?.focus();
    } catch (e) {
      if (chatId.current === id) setError(asCommandError(e).message);
    } finally {
      setActing(null);
    }
  }

  async function remove(m: CachedMessage) {
    setPopup((p) => (p?.kind === "delete" ? null : p));
    composer.current?.focus();
    const id = chat.id;
    try {
      await call("delete_message", { message_id: m.id });
    } catch (e) {
      if (chatId.current === id) setError(asCommandError(e).message);
    }
  }

  /** Scrolls to a loaded message and flashes it; false when not loaded. */
  /** The bubble row of message `id`, when it is loaded. */
  function messageEl(id: string): Element | null {
    return scroller.current?.querySelector(`[data-message-id="${CSS.escape(id)}"]`) ?? null;
  }

  function showMessage(id: string): boolean {
    const el = messageEl(id);
    if (!el) return false;
    atBottom.current = false;
    // At once, not smoothly: the scroll events of a smooth scroll start near
    // the bottom and would set `atBottom` again, and the next reload (any
    // event) would then scroll back down, undoing the jump.
    el.scrollIntoView({ block: "center" });
    anchor.current = { id, until: Date.now() + ANCHOR_MS };
    el.classList.add("flash");
    setTimeout(() => el.classList.remove("flash"), 1200);
    return true;
  }

  /** Back down to the newest message (the way-down button). */
  function toBottom() {
    const el = scroller.current;
    anchor.current = null;
    atBottom.current = true;
    setBelow(0);
    setAway(false);
    if (el) el.scrollTop = el.scrollHeight;
    composer.current?.focus();
  }

  function jumpTo(id: string) {
    if (showMessage(id)) return;
    if (startShown) {
      setNotice("The original message is no longer in this chat.");
      return;
    }
    // Older than what is loaded: fetch pages until it is (see the layout effect).
    pendingJump.current = id;
    void loadOlder();
  }

  /** The chat's empty pane's Retry: asks the server again. */
  function retryHistory() {
    setError(null);
    setHistoryFailed(null);
    setOpenedFor(null);
    loadHistory(chat.id);
  }
  const note = messagesNote(messages.length, openedFor === chat.id, historyFailed === chat.id, chat.cleared_up_to_seq > 0);

  const limit = bodyLimitText(draft);
  const limitId = useId();
  const tooLong = !!limit?.over;
  const canSend = !sending && !upload && !tooLong && !(!draft.trim() && (!!editing || attached.length === 0));
  // Only once the first unread is loaded (more than a page of them: the
  // first loaded one is not it, so no line rather than a wrong one).
  const unreadAt =
    unread && messages[0]?.chat_id === chat.id && (startShown || oldestSeq(messages) <= unread.from + 1) ? firstUnread(messages, myId, unread.from) : null;
  useDayChange();
  const now = new Date();
  const status = typing ? "typing…" : presenceText(presence, now);

  // What the rows ask of the chat: one object for the view's life, whose
  // methods run this render's code (so they see the current state).
  const rowActions = useStableHandlers<RowActions>({
    reply: (m) => {
      setReplyTo(m);
      composer.current?.focus();
    },
    edit: (m) => {
      // The rows are not made again as time passes: the edit window may
      // have closed since.
      if (!canEdit(m, new Date())) {
        setError("A message can be edited only in the 24 hours after it was sent.");
        return;
      }
      setEditing(m);
      setReplyTo(null);
      setDraft(m.body);
      composer.current?.focus();
    },
    toggle: (id, kind) => setPopup((p) => (kind !== "delete" && p?.id === id && p.kind === kind ? null : { id, kind })),
    closePopup: (id, kind) => setPopup((p) => (p?.id === id && p.kind === kind ? null : p)),
    react: (m, emoji) => void react(m, emoji),
    picked: (m, emoji) => {
      // The picker goes: focus the composer, not nothing.
      composer.current?.focus();
      void react(m, emoji);
    },
    forwarded: (m, to) => {
      // Still this chat (a forward can outlast a switch).
      if (chatId.current === m.chat_id) setNotice(`Forwarded to ${to}`);
      onChangedRef.current();
    },
    remove: (m) => void remove(m),
    retry: (m) => void retryFailed(m),
    discard: (m) => void discardFailed(m),
    jumpTo: (id) => jumpTo(id),
    grew: () => keepAtBottom(),
    error: (message) => setError(message),
    focused: (key) => setActiveRow(key),
    keyDown: (e) => {
      // Keys pressed in the row's buttons and pop-ups (the reaction menu
      // has its own arrows) are theirs.
      if (e.target !== e.currentTarget) return;
      const all = [...(scroller.current?.querySelectorAll<HTMLElement>('[data-testid="message"]') ?? [])];
      const to = rowStep(e, all.indexOf(e.currentTarget), all.length);
      if (to === null) return;
      e.preventDefault();
      // Focusing scrolls it into view (and near the top, older pages load).
      all[to].focus();
    },
  });

  // The rows, made again only when what they show changes: not on every
  // keystroke in the composer (a chat scrolled far back holds thousands).
  // Each row is memoized on its props, so of those made again only the
  // ones whose message (kept as the same object while unchanged, see
  // `withLatest`) or state changed render.
  const rows = useMemo(() => {
    const byId = new Map(messages.filter((m) => m.id).map((m) => [m.id, m]));
    const behind = waitingBehind(messages, deferred);
    const keys = messages.map(messageKey);
    const tabStop = keys[rovingIndex(keys, activeRow)];
    const peerName = chat.peer.display_name;
    return groupByDay(messages, now).map((g) => {
      const day = spokenDay(new Date(g.messages[0].created_at), now);
      return (
        <div key={g.key} className="day">
          <div className="day-label">
            <span>{g.label}</span>
          </div>
          {g.messages.map((m) => {
            const key = messageKey(m);
            const why =
              m.state === "pending" && deferred[m.client_id]
                ? deferredText(deferred[m.client_id])
                : behind.has(m.client_id)
                  ? WAITING_BEHIND
                  : m.state === "failed"
                    ? failedText(m.failure?.code ?? failed[m.client_id] ?? "")
                    : undefined;
            // One keyed fragment per message, divider or not: the row keeps
            // its identity (and its images) when the divider comes or goes.
            return (
              <Fragment key={key}>
                {m.id === unreadAt ? (
                  <div className="unread-divider" data-testid="unread-divider" ref={divider}>
                    <span>{unreadText(unread?.count ?? 0)}</span>
                  </div>
                ) : null}
                <MessageRow
                  m={m}
                  rowKey={key}
                  quoted={m.reply_to ? (byId.get(m.reply_to) ?? quotes[m.reply_to] ?? undefined) : undefined}
                  myId={myId}
                  peerName={peerName}
                  why={why}
                  popup={popup?.id === m.id ? popup.kind : null}
                  busy={acting !== null}
                  editable={m.sender_id === myId && canEdit(m, now)}
                  tabbable={key === tabStop}
                  day={day}
                  on={rowActions}
                />
              </Fragment>
            );
          })}
        </div>
      );
    });
  }, [messages, myId, chat.peer.display_name, deferred, failed, popup, acting, unreadAt, unread?.count, dayKey(now), activeRow, quotes]);

  return (
    <section className="chat-view" data-testid="chat-view">
      <header className="chat-header">
        <Avatar name={chat.peer.display_name} url={chat.peer.avatar_url} size={36} online={presence?.online} />
        <div className="chat-heading">
          <div className="chat-title" dir="auto" title={chat.peer.display_name}>
            {chat.peer.display_name}
          </div>
          <div className="chat-status" data-testid="chat-status">
            {status || (chat.peer.username ? `@${chat.peer.username}` : "")}
          </div>
        </div>
        <PinButton key={`pin-${chat.id}`} chat={chat} onChanged={onChanged} />
        <MuteMenu key={chat.id} chat={chat} onChanged={onChanged} />
        <ClearChat
          key={`clear-${chat.id}`}
          chat={chat}
          upTo={newestSeq(messages.filter((m) => m.chat_id === chat.id)) || (chat.last_message?.seq ?? 0)}
          onCleared={onChanged}
        />
      </header>
      <div
        className="messages"
        ref={scroller}
        // With messages, a row is the list's Tab stop (see `rovingIndex`):
        // the keys scroll it from there (Page Up/Down scroll the focused
        // row's scroller; Home/End go to the first or last row, and past
        // it scroll on), so it is no second stop of its own. Without, it
        // is the stop, so the keyboard still reaches it (-1 still takes a
        // click's focus).
        tabIndex={messages.length ? -1 : 0}
        // A log: a screen reader knows it as the conversation, newest last.
        // Not live itself ("off" overrides the log's implicit "polite"):
        // every row added would be read, a page of older ones scrolled in
        // or a whole chat opened too, and my own messages and "typing…".
        // New messages from the peer are said once each by the `announce`
        // region below, which knows what is news.
        role="log"
        aria-live="off"
        aria-label="Messages"
        // The user scrolls: the jump's hold ends.
        onWheel={() => (anchor.current = null)}
        onPointerDown={() => (anchor.current = null)}
        onKeyDown={() => (anchor.current = null)}
        onScroll={(e) => {
          const el = e.currentTarget;
          const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
          atBottom.current = fromBottom < 40;
          if (atBottom.current) setBelow(0);
          setAway(fromBottom > el.clientHeight);
          if (el.scrollTop < LOAD_OLDER_WITHIN_PX) void loadOlder();
        }}
      >
        {/* Always there, one line high, so showing or hiding it never moves the messages. */}
        <div className="history-edge muted" data-testid="history-edge" aria-live="polite">
          {loadingOlder ? "Loading earlier messages…" : startShown && messages.length > 0 ? "Start of the conversation" : "\u00a0"}
        </div>
        {note ? (
          <p className="messages-note muted" data-testid="messages-note" aria-live="polite">
            {note.text}
            {note.retry ? (
              <>
                {" "}
                <button className="link" name="retry-messages" onClick={retryHistory}>
                  Retry
                </button>
              </>
            ) : null}
          </p>
        ) : null}
        {rows}
        {typing ? (
          <div className="typing" data-testid="typing">
            {chat.peer.display_name} is typing…
          </div>
        ) : null}
        {away || below > 0 ? (
          // Stuck to the bottom of the view, taking no room in the list.
          <div className="to-bottom">
            <button
              name="to-bottom"
              title="Go to the newest message"
              aria-label={below ? `${below} new message${below === 1 ? "" : "s"}: go to the newest` : "Go to the newest message"}
              onClick={toBottom}
            >
              ↓{below ? <span className="badge" data-testid="new-below">{below}</span> : null}
            </button>
          </div>
        ) : null}
      </div>
      <div className="sr-only" aria-live="polite" data-testid="announce">
        {/* A zero-width space every other time: the same words twice are
            still a change to announce. */}
        {announce.text + (announce.n % 2 ? "\u200b" : "")}
      </div>
      {notice ? (
        <p className="muted inline" role="status" data-testid="notice">
          {notice}{" "}
          <button className="link" aria-label="Dismiss" title="Dismiss" onClick={() => setNotice(null)}>
            ✕
          </button>
        </p>
      ) : null}
      {error ? (
        <p className="error inline" role="alert">
          {error}{" "}
          <button className="link" aria-label="Dismiss" title="Dismiss" onClick={() => setError(null)}>
            ✕
          </button>
        </p>
      ) : null}
      {replyTo || editing ? (
        <div className="composer-context" data-testid="composer-context">
          <div>
            <strong>{editing ? "Edit message" : `Reply to ${author(replyTo!.sender_id, myId, chat.peer.display_name)}`}</strong>
            <span dir="auto">{snippet((editing ?? replyTo)!)}</span>
          </div>
          <button title="Cancel (Esc)" aria-label={editing ? "Cancel the edit" : "Cancel the reply"} onClick={cancelContext}>
            ✕
          </button>
        </div>
      ) : null}
      {attachPath !== null ? (
        <form
          className="attach-path"
          onSubmit={(e) => {
            e.preventDefault();
            void attach(attachPath);
          }}
          onKeyDown={(e) => {
            if (e.key !== "Escape") return;
            setAttachPath(null);
            composer.current?.focus();
          }}
        >
          <button type="button" name="attach-choose" autoFocus disabled={!!upload} onClick={() => void chooseFiles()}>
            Choose files…
          </button>
          <input
            name="attach-path"
            aria-label="Or the path of a file to attach"
            placeholder="or a file's path (or drop files on the window)"
            value={attachPath}
            onChange={(e) => setAttachPath(e.target.value)}
          />
          <button name="attach-upload" type="submit" disabled={!attachPath.trim() || !!upload}>
            Attach
          </button>
          <button
            type="button"
            onClick={() => {
              setAttachPath(null);
              composer.current?.focus();
            }}
          >
            Cancel
          </button>
        </form>
      ) : null}
      <UploadFailures
        failures={uploadFailures}
        toldAfter={failuresAtOpen.chat === chat.id ? failuresAtOpen.newest : Infinity}
        onDismiss={() => {
          uploadsStore.dismissFailures(chat.id);
          composer.current?.focus();
        }}
      />
      {upload ? (
        <div className="upload" data-testid="upload">
          <span>{upload.name}</span>
          <progress
            value={upload.progress.sent}
            max={upload.progress.total || 1}
            data-testid="upload-progress"
          />
        </div>
      ) : null}
      {attached.length ? (
        <div className="attached" data-testid="attached">
          {attached.map((a) => (
            <span key={a.id} className="file-chip">
              <span className="file-name">{a.name ?? "file"}</span>
              <span className="file-size">{fileSize(a.size)}</span>
              <button
                title="Remove"
                aria-label={`Remove ${a.name ?? "file"}`}
                onClick={() => {
                  drafts.setAttachments(chat.id, drafts.attachments(chat.id).filter((x) => x.id !== a.id));
                }}
              >
                ✕
              </button>
            </span>
          ))}
        </div>
      ) : null}
      <div className="composer">
        <button
          name="attach"
          title="Attach a file"
          aria-label="Attach a file"
          className="attach"
          onClick={() => setAttachPath(attachPath === null ? "" : null)}
          disabled={!!editing}
        >
          📎
        </button>
        <textarea
          ref={composer}
          name="composer"
          dir="auto"
          rows={1}
          placeholder="Write a message"
          aria-label="Message"
          aria-invalid={tooLong}
          aria-describedby={limit ? limitId : undefined}
          value={draft}
          onChange={(e) => {
            setDraft(e.target.value);
            if (!editing) drafts.set(chat.id, e.target.value);
            setTyping(e.target.value.length > 0);
          }}
          onKeyDown={onKey}
          onPaste={(e) => {
            // A screenshot or a copied picture is attached, as if chosen;
            // text pastes as usual.
            const types = [...e.clipboardData.types];
            const image = [...e.clipboardData.items].some((i) => i.kind === "file" && i.type.startsWith("image/"));
            if (!image && types.includes("text/plain")) return;
            e.preventDefault();
            // A big screenshot takes a moment to encode: say so meanwhile.
            const id = chat.id;
            const era = uploadsStore.era();
            uploadsStore.update((u) => uploadStarted(u, id, "pasted image", { sent: 0, total: 0 }));
            void call("paste_image").then(
              (path) => attach(path, id, true, era),
              (err) => {
                uploadsStore.update((u) => uploadEnded(u, id));
                // Nothing the composer could take: say so only if it looked
                // like an image (kept for its chat, as a failed upload is).
                if (image || asCommandError(err).code !== "no_image") {
                  uploadsStore.recordFailure(era, id, "pasted image", asCommandError(err).message);
                }
              },
            );
          }}
        />
        <button name="send" onClick={() => void submit()} disabled={!canSend}>
          {editing ? "Save" : "Send"}
        </button>
      </div>
      {limit ? (
        <p id={limitId} className={`${limit.over ? "error" : "muted"} inline`} data-testid="body-limit" aria-live="polite">
          {limit.text}
        </p>
      ) : null}
    </section>
  );
}
