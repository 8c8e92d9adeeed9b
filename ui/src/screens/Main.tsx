import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Chat, Connection, Message, User } from "../bindings";
import { Avatar } from "../components/Avatar";
import { filterChats, nextMuteEnd, searchQuery, stepChat, unreadTotal, withChat } from "../format";
import { asCommandError, call } from "../ipc";
import { Latest } from "../latest";
import { listSource } from "../listSource";
import { chatRev, mergePresence, type State } from "../store";
import { ChatList } from "./ChatList";
import { ChatView, forgetUploadFailures } from "./ChatView";
import { People, type PeopleTab } from "./People";
import { Settings } from "./Settings";

interface Props {
  me: User;
  store: State;
  onProfile: (u: User) => void;
  onSignOut: () => Promise<void>;
  onAccountDeleted: () => void;
}

/** The main window: chat list on the left, the open chat (or settings) on the right. */
export function Main({ me, store, onProfile, onSignOut, onAccountDeleted }: Props) {
  // Null until list_chats first answers: not loaded yet is not "no chats".
  const [chats, setChats] = useState<Chat[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [settings, setSettings] = useState(false);
  const [people, setPeople] = useState<PeopleTab | null>(null);
  const [incoming, setIncoming] = useState(0);
  // My profile changed on another device: the header follows.
  const onProfileRef = useRef(onProfile);
  onProfileRef.current = onProfile;
  useEffect(() => {
    const u = store.profile?.user;
    if (u && u.id === me.id) onProfileRef.current(u);
  }, [store.profile, me.id]);
  const [error, setError] = useState<string | null>(null);
  /** Why the chat list could not be loaded (shown in it, with a Retry). */
  const [listError, setListError] = useState<string | null>(null);
  const [refresh, setRefresh] = useState(0);
  const [contacts, setContacts] = useState<{ list: Connection[]; loadedAt: number } | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  // Messages matching the box at the top (the server's full-text search), or
  // why there are none to show (a failed search is not "no match"), and the
  // one picked from them, to scroll to in its chat (taken once by the view).
  const [found, setFound] = useState<Message[] | null>(null);
  const [searchError, setSearchError] = useState<string | null>(null);
  const [jump, setJump] = useState<{ chatId: string; id: string; n: number } | null>(null);
  const jumps = useRef(0);
  const onJumped = useCallback(() => setJump(null), []);
  useEffect(() => {
    const s = searchQuery(query);
    if (!s || "error" in s) {
      setFound(null);
      setSearchError(s ? s.error : null);
      return;
    }
    let stale = false;
    const t = setTimeout(() => {
      call("search_messages", { q: s.q }).then(
        (list) => {
          if (stale) return;
          setFound(list);
          setSearchError(null);
        },
        (e) => {
          if (stale) return;
          setFound(null);
          setSearchError(`Could not search messages: ${asCommandError(e).message}`);
        },
      );
    }, 250);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [query]);

  // Reload the list on start and after changes, at most one waiting (events
  // come in bursts: the changes of the next 150 ms go with it; a timer put
  // back at every change would never fire while a busy chat keeps changing).
  // A reload still on its way when the next change comes is shown all the
  // same, unless a newer one was (see Latest).
  const listLoads = useRef(new Latest());
  const listTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  /** The chat opened last, and how many reloads had been asked for then. */
  const opened = useRef<{ chat: Chat; after: number } | null>(null);
  useEffect(
    () => () => {
      if (listTimer.current) clearTimeout(listTimer.current);
      listTimer.current = null;
    },
    [],
  );
  /** Whether the next reload asks the server (`list_chats`) rather than
   * this device's cache (`cached_chats`, no request): see `listSource`. */
  const fromServer = useRef(true);
  const seen = useRef({ refresh, all: store.allChatsRev, elsewhere: store.chatListRev, link: store.link.state });
  const chatsNow = useRef(chats);
  chatsNow.current = chats;
  useEffect(() => {
    const now = { refresh, all: store.allChatsRev, elsewhere: store.chatListRev, link: store.link.state };
    if (listSource(seen.current, now, store.chatRevs, chatsNow.current) === "server") fromServer.current = true;
    seen.current = now;
    if (listTimer.current) return;
    listTimer.current = setTimeout(() => {
      listTimer.current = null;
      const n = listLoads.current.next();
      const load = fromServer.current ? call("list_chats") : call("cached_chats");
      fromServer.current = false;
      load.then(
        (c) => {
          if (!listLoads.current.accept(n)) return;
          const o = opened.current;
          setChats(o && n <= o.after ? withChat(c, o.chat) : c);
          setError(null);
          setListError(null);
        },
        (e) => {
          // Asked again next time (the cache may lack what failed).
          fromServer.current = true;
          if (listLoads.current.accept(n)) setListError(asCommandError(e).message);
        },
      );
    }, 150);
  }, [store.rev, refresh, store.allChatsRev, store.chatListRev, store.link.state]);
  // Back to the front: what the server has is checked (a change the
  // realtime link cannot bring, such as an empty chat opened elsewhere).
  useEffect(() => {
    const front = () => setRefresh((r) => r + 1);
    window.addEventListener("focus", front);
    return () => window.removeEventListener("focus", front);
  }, []);

  // Where each contact stands (online, last seen): the server pushes only
  // changes, so the contacts list says what they were before; reloaded when
  // contacts change and after a reconnect (changes while offline were missed).
  // Not while offline: the cached list would undo newer events.
  const online = store.link.state === "online";
  useEffect(() => {
    if (!online) return;
    let stale = false;
    const loadedAt = Date.now();
    call("list_contacts").then(
      (list) => !stale && setContacts({ list, loadedAt }),
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [store.contactsRev, online]);
  const presence = useMemo(() => mergePresence(store.presence, contacts), [store.presence, contacts]);

  // The incoming requests badge, live: reloaded when requests change.
  useEffect(() => {
    let stale = false;
    call("list_requests", { direction: "incoming" }).then(
      (r) => !stale && setIncoming(r.length),
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [store.contactsRev, people]);

  async function openChatWith(userId: string) {
    try {
      const c = await call("open_chat", { user_id: userId });
      // A new chat is not in the list until it reloads: show it at once,
      // below the pinned ones, and through the answers of reloads asked
      // for before it existed.
      opened.current = { chat: c, after: listLoads.current.count() };
      setChats((list) => withChat(list ?? [], c));
      setPeople(null);
      setSettings(false);
      setSelected(c.id);
      setRefresh((r) => r + 1);
    } catch (e) {
      setError(asCommandError(e).message);
    }
  }

  const onChanged = useCallback(() => setRefresh((r) => r + 1), []);
  const retryList = useCallback(() => {
    setListError(null);
    // An empty list that then failed to reload is not known to be empty:
    // "Loading chats…" until the answer, not "No chats yet".
    setChats((list) => (list?.length ? list : null));
    setRefresh((r) => r + 1);
  }, []);

  // Ctrl/Cmd+K: find a chat. Alt+Up/Down: the previous or next chat in
  // the list as shown (filtered, pinned first).
  const shownIds = useRef<string[]>([]);
  shownIds.current = filterChats(chats ?? [], query).map((c) => c.id);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setSettings(false);
        setPeople(null);
        filterRef.current?.focus();
        filterRef.current?.select();
      } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        const next = stepChat(shownIds.current, selectedRef.current, e.key === "ArrowDown" ? 1 : -1);
        if (!next) return;
        e.preventDefault();
        setSettings(false);
        setPeople(null);
        setSelected(next);
      } else if (e.key === "Escape" && !e.defaultPrevented && !document.querySelector('[role="dialog"]')) {
        // Escape leaves Settings or People for the chat (a dialog open in
        // them takes its Escape first).
        setSettings(false);
        setPeople(null);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // A mute that ends changes the list and the count: render again then.
  const [, setMuteEnded] = useState(0);
  useEffect(() => {
    const ms = nextMuteEnd(chats ?? [], new Date());
    if (ms === null) return;
    // setTimeout's longest wait is about 24.8 days; a longer one re-arms.
    const t = setTimeout(() => setMuteEnded((n) => n + 1), Math.min(ms + 50, 2_000_000_000));
    return () => clearTimeout(t);
  });
  // Muted chats keep their count in the list, not in the title or tray.
  const unread = unreadTotal(chats ?? [], new Date());
  useEffect(() => {
    // The window title (set in Rust) and the document's, e.g. "Parley (3)".
    call("set_unread", { count: unread }).then(
      (title) => (document.title = title),
      () => {},
    );
  }, [unread]);
  // Signed out (here or elsewhere): the next account starts without this
  // one's count in the title and on the tray icon, nor its failed uploads
  // (see `forgetUploadFailures`).
  useEffect(
    () => () => {
      forgetUploadFailures();
      void call("set_unread", { count: 0 }).then(
        (title) => (document.title = title),
        () => {},
      );
    },
    [],
  );

  const chat = chats?.find((c) => c.id === selected) ?? null;
  return (
    <div className="main">
      <div className="sidebar">
        <header className="me">
          <Avatar name={me.display_name} url={me.avatar_url} size={32} />
          <span className="me-name" dir="auto" title={me.display_name}>
            {me.display_name}
          </span>
          <button className="link" name="open-my-code" onClick={() => (setSettings(false), setPeople("code"))} title="My code" aria-label="My code">
            ▦
          </button>
          <button className="link badge-host" name="open-people" onClick={() => (setSettings(false), setPeople(incoming ? "requests" : "contacts"))} title="Contacts and requests" aria-label={incoming ? `Contacts and requests (${incoming} new)` : "Contacts and requests"}>
            👥
            {incoming ? (
              <span className="badge" data-testid="requests-badge" aria-label={`${incoming} contact requests`}>
                {incoming}
              </span>
            ) : null}
          </button>
          <button className="link" name="open-settings" onClick={() => (setPeople(null), setSettings(true))} title="Settings" aria-label="Settings">
            ⚙
          </button>
        </header>
        <ChatList
          ref={filterRef}
          chats={chats}
          error={listError}
          onRetry={retryList}
          myId={me.id}
          selected={selected}
          query={query}
          presence={presence}
          typing={store.typing}
          onQuery={setQuery}
          onSelect={(id) => {
            setSelected(id);
            setSettings(false);
            setPeople(null);
          }}
          found={found}
          searchError={searchError}
          onOpenMessage={(m) => {
            setSelected(m.chat_id);
            setSettings(false);
            setPeople(null);
            jumps.current += 1;
            setJump({ chatId: m.chat_id, id: m.id, n: jumps.current });
          }}
        />
        {error ? <p className="error inline">{error}</p> : null}
      </div>
      {people ? (
        <People
          tab={people}
          onTab={setPeople}
          contactsRev={store.contactsRev}
          codeRev={store.codeRev}
          incoming={incoming}
          presence={presence}
          onOpenChat={(id) => void openChatWith(id)}
          onClose={() => setPeople(null)}
        />
      ) : settings ? (
        <Settings onClose={() => setSettings(false)} onProfile={onProfile} onSignOut={onSignOut} onAccountDeleted={onAccountDeleted} profileRev={store.profile?.n ?? 0} devicesRev={store.devicesRev} joinedRev={store.joinedRev} />
      ) : chat ? (
        <ChatView
          chat={chat}
          myId={me.id}
          rev={chatRev(store, chat.id)}
          typing={!!store.typing[chat.id]}
          presence={presence[chat.peer.id]}
          deferred={store.deferred}
          failed={store.failed}
          jump={jump}
          onJumped={onJumped}
          onChanged={onChanged}
        />
      ) : (
        <section className="chat-view empty-state">
          <p className="muted">Select a chat</p>
        </section>
      )}
    </div>
  );
}
