import { useEffect, useState, type FormEvent } from "react";
import type { Connection, ConnectionRequest, MyCode } from "../bindings";
import { Avatar } from "../components/Avatar";
import { CodeScanner } from "../components/CodeScanner";
import { PasteButton, usePasteCode } from "../components/PasteCode";
import { countdown } from "../format";
import { localExpiry } from "../expiry";
import { asCommandError, call } from "../ipc";
import { pickImage } from "../pickImage";
import type { Presence } from "../store";
import { useAction } from "../useAction";
import { useLoad } from "../useLoad";
import { CONTACT_CODE_TTL_SECS } from "../bindings/limits";

export type PeopleTab = "code" | "scan" | "add" | "requests" | "contacts";

interface Props {
  tab: PeopleTab;
  onTab: (t: PeopleTab) => void;
  contactsRev: number;
  /** Bumped when my contact code was used (see `MyCodePanel`). */
  codeRev: number;
  incoming: number;
  presence: Record<string, Presence>;
  onOpenChat: (userId: string) => void;
  onClose: () => void;
}

/** Contacts: my code, adding someone, pending requests, the contact list. */
export function People({ tab, onTab, contactsRev, codeRev, incoming, presence, onOpenChat, onClose }: Props) {
  const tabButton = (t: PeopleTab, label: string) => (
    <button className={`tab${tab === t ? " selected" : ""}`} name={`tab-${t}`} onClick={() => onTab(t)} aria-pressed={tab === t}>
      {label}
    </button>
  );
  return (
    <section className="chat-view people" data-testid="people">
      <header className="chat-header">
        <nav className="tabs">
          {tabButton("code", "My code")}
          {tabButton("scan", "Scan")}
          {tabButton("add", "Add contact")}
          {tabButton("requests", incoming ? `Requests (${incoming})` : "Requests")}
          {tabButton("contacts", "Contacts")}
        </nav>
        <button className="link" name="close-people" onClick={onClose} title="Close" aria-label="Close">
          ✕
        </button>
      </header>
      <div className="people-body">
        {tab === "code" ? <MyCodePanel used={codeRev} /> : null}
        {tab === "scan" ? <Scan onFallback={() => onTab("add")} /> : null}
        {tab === "add" ? <AddContact /> : null}
        {tab === "requests" ? <Requests rev={contactsRev} /> : null}
        {tab === "contacts" ? <Contacts rev={contactsRev} presence={presence} onOpenChat={onOpenChat} /> : null}
      </div>
    </section>
  );
}

/** "My code": a code works once and for a few minutes, so a new one is
 * shown on open, on "New code", when it expires and when someone used it
 * (`used` is bumped by `contact_code.consumed`). */
function MyCodePanel({ used }: { used: number }) {
  /** The code shown, when it stops working, and the `used` it came after. */
  const [code, setCode] = useState<{ my: MyCode; expires: number; after: number } | null>(null);
  const [now, setNow] = useState(Date.now());
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  useLoad(
    () => call("my_code"),
    (my) => setCode({ my, expires: localExpiry(my.code.expires_at, Date.now(), CONTACT_CODE_TTL_SECS), after: used }),
    setError,
    [generation, used],
  );

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const expires = code?.expires ?? 0;
  const expired = !!code && now >= expires;
  useEffect(() => {
    if (expired) setGeneration((g) => g + 1);
  }, [expired]);
  // An expired or used code whose renewal failed is not left up: it no
  // longer works.
  const shown = code && !(error && (expired || code.after !== used)) ? code.my : null;

  async function copy() {
    if (!shown) return;
    try {
      await navigator.clipboard.writeText(shown.code.uri);
      setNote("Link copied");
    } catch {
      setNote("Could not copy: select the link below and copy it");
    }
  }

  return (
    <div className="my-code" data-testid="my-code">
      <p className="muted">Show this code to someone you meet. Their Parley app scans it and asks you to accept.</p>
      {error ? (
        <p className="error" role="alert" data-testid="error">
          {error}{" "}
          <button className="link" name="retry-code" onClick={() => setGeneration((g) => g + 1)}>
            Try again
          </button>
        </p>
      ) : null}
      {shown ? (
        <>
          {/* The SVG is drawn by parley-client from our own code's link. */}
          <div className="qr" role="img" aria-label="My contact code" data-testid="my-code-qr" data-uri={shown.code.uri} dangerouslySetInnerHTML={{ __html: shown.svg }} />
          <p className="short-code" data-testid="short-code">
            {shown.code.short_code}
          </p>
          <p className="muted" data-testid="code-countdown">
            {expired ? "Renewing…" : `New code in ${countdown((expires - now) / 1000)}`}
          </p>
          <div className="row">
            <button name="new-code" onClick={() => setGeneration((g) => g + 1)}>
              New code
            </button>
            <button name="copy-link" onClick={() => void copy()}>
              Copy link
            </button>
          </div>
          <input className="my-link" name="my-link" aria-label="My contact link" readOnly value={shown.code.uri} onFocus={(e) => e.target.select()} />
          {note ? <p className="muted">{note}</p> : null}
        </>
      ) : error ? null : (
        <p className="muted">Getting a code…</p>
      )}
    </div>
  );
}

/** The scanner (frames decoded in Rust), or the clipboard: a confirmation
 * before anything is sent. */
function Scan({ onFallback }: { onFallback: () => void }) {
  const [found, setFound] = useState<string | null>(null);
  const [sent, setSent] = useState<ConnectionRequest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [run, setRun] = useState(0);
  const clipboard = usePasteCode(
    "contact",
    (uri) => {
      setError(null);
      setSent(null);
      setFound(uri);
    },
    setError,
  );

  // One request at a time: a double click would send it twice (the second
  // refused, its error shown under the first one's success).
  const [sending, setSending] = useState(false);
  async function send(uri: string) {
    setError(null);
    setSending(true);
    try {
      setSent(await call("add_contact", { code: uri }));
      setFound(null);
    } catch (e) {
      setError(asCommandError(e).message);
    } finally {
      setSending(false);
    }
  }

  function again() {
    setFound(null);
    setSent(null);
    setError(null);
    setRun((r) => r + 1);
  }

  return (
    <div className="scan" data-testid="scan">
      <CodeScanner
        key={run}
        kind="contact"
        onFound={setFound}
        fallback={
          <button name="use-fallback" onClick={onFallback}>
            Paste a link, type a code or open an image
          </button>
        }
      />
      <PasteButton onPaste={() => void clipboard.paste()} busy={clipboard.busy} />
      {found ? (
        <div className="card" data-testid="scan-found">
          <p>Found a Parley contact code. Send a connection request?</p>
          <div className="row">
            <button name="confirm-scan" disabled={sending} onClick={() => void send(found)}>
              Send request
            </button>
            <button name="scan-again" onClick={again}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {sent ? (
        <div className="card" data-testid="request-sent">
          <p>
            Request sent to <strong>{sent.to.display_name}</strong>. You become contacts when they accept.
          </p>
          <button name="scan-again" onClick={again}>
            Scan another
          </button>
        </div>
      ) : null}
      {error ? (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function AddContact() {
  const [text, setText] = useState("");
  const [path, setPath] = useState("");
  const [found, setFound] = useState<string | null>(null);
  const [sent, setSent] = useState<ConnectionRequest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A pasted link (or screenshot of a code) asks to confirm, like a scan.
  const clipboard = usePasteCode(
    "contact",
    (uri) => {
      setError(null);
      setSent(null);
      setText(uri);
      setFound(uri);
    },
    setError,
  );

  async function send(code: string) {
    setBusy(true);
    setError(null);
    try {
      setSent(await call("add_contact", { code }));
      setFound(null);
      setText("");
    } catch (e) {
      setError(asCommandError(e).message);
    } finally {
      setBusy(false);
    }
  }

  async function decode(file: string) {
    setError(null);
    setSent(null);
    try {
      setFound(await call("decode_image_file", { path: file, kind: "contact" }));
    } catch (err) {
      setError(asCommandError(err).message);
    }
  }

  // One "open image" button: it opens the typed path when there is one,
  // else the system's file dialog (whose choice lands in the path field).
  async function openImage(e: FormEvent) {
    e.preventDefault();
    if (path.trim()) return decode(path);
    try {
      const picked = await pickImage();
      if (!picked) return;
      setPath(picked);
      await decode(picked);
    } catch (err) {
      setError(asCommandError(err).message);
    }
  }

  return (
    <div className="add-contact" data-testid="add-contact">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setSent(null);
          void send(text);
        }}
      >
        <label>
          Paste a link or type a code
          <input name="contact-code" placeholder="parley://contact?… or XXXXX-XXXXX" value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        <PasteButton onPaste={() => void clipboard.paste()} busy={clipboard.busy} />
        <button name="send-request" disabled={busy || !text.trim()}>
          Send request
        </button>
      </form>
      <form onSubmit={(e) => void openImage(e)}>
        <label>
          Or open an image file with a QR code (choose it, or type its path)
          <input name="image-path" placeholder="/home/me/Pictures/code.png" value={path} onChange={(e) => setPath(e.target.value)} />
        </label>
        <button name="open-image" type="submit">
          {path.trim() ? "Open image file" : "Open image…"}
        </button>
      </form>
      {found ? (
        <div className="card" data-testid="found-code">
          <p>
            Found a Parley contact code. Send a connection request? <span className="muted">The name of its owner shows once the request is sent.</span>
          </p>
          <div className="row">
            <button name="confirm-request" disabled={busy} onClick={() => void send(found)}>
              Send request
            </button>
            <button name="cancel-request" onClick={() => setFound(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {sent ? (
        <div className="card card-row" data-testid="request-sent">
          <Avatar name={sent.to.display_name} />
          <p>
            Request sent to <strong>{sent.to.display_name}</strong>. You become contacts when they accept.
          </p>
        </div>
      ) : null}
      {error ? (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function Requests({ rev }: { rev: number }) {
  const [incoming, setIncoming] = useState<ConnectionRequest[]>([]);
  const [outgoing, setOutgoing] = useState<ConnectionRequest[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useLoad(
    () => Promise.all([call("list_requests", { direction: "incoming" }), call("list_requests", { direction: "outgoing" })]),
    ([i, o]) => {
      setIncoming(i);
      setOutgoing(o);
    },
    setError,
    [rev, reload],
  );

  // One answer at a time (a double click would answer twice and show the
  // second one's "not found" under the first one's success).
  const answering = useAction();
  async function act(kind: "accept_request" | "decline_request", id: string) {
    if (answering.busy) return;
    await answering.run(async () => {
      await call(kind, { request_id: id });
    });
    setReload((r) => r + 1);
  }

  return (
    <div className="requests" data-testid="requests">
      <h3>Incoming</h3>
      {incoming.length === 0 ? <p className="muted">No requests.</p> : null}
      {incoming.map((r) => (
        <div className="person" key={r.id} data-testid="incoming-request">
          <Avatar name={r.from.display_name} />
          <span className="person-name">{r.from.display_name}</span>
          <button name="accept" disabled={answering.busy} onClick={() => void act("accept_request", r.id)}>
            Accept
          </button>
          <button name="decline" disabled={answering.busy} onClick={() => void act("decline_request", r.id)}>
            Decline
          </button>
        </div>
      ))}
      <h3>Sent</h3>
      {outgoing.length === 0 ? <p className="muted">No pending requests.</p> : null}
      {outgoing.map((r) => (
        <div className="person" key={r.id} data-testid="outgoing-request">
          <Avatar name={r.to.display_name} />
          <span className="person-name">{r.to.display_name}</span>
          <span className="muted">waiting</span>
        </div>
      ))}
      {answering.error || error ? <p className="error" role="alert">{answering.error ?? error}</p> : null}
    </div>
  );
}

function Contacts({ rev, presence, onOpenChat }: { rev: number; presence: Record<string, Presence>; onOpenChat: (userId: string) => void }) {
  const [contacts, setContacts] = useState<Connection[]>([]);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useLoad(() => call("list_contacts"), setContacts, setError, [rev, reload]);

  const removing = useAction();
  async function remove(userId: string) {
    if (removing.busy) return;
    await removing.run(async () => {
      await call("remove_contact", { user_id: userId });
    });
    setConfirm(null);
    setReload((r) => r + 1);
  }

  return (
    <div className="contacts" data-testid="contacts">
      {contacts.length === 0 ? <p className="muted">No contacts yet. Show your code or add someone.</p> : null}
      {contacts.map((c) => {
        const online = presence[c.user.id]?.online ?? c.online;
        return (
          <div className="person" key={c.user.id} data-testid="contact">
            <Avatar name={c.user.display_name} online={online} />
            <span className="person-name">
              {c.user.display_name}
              <span className="muted"> {online ? "online" : ""}</span>
            </span>
            {confirm === c.user.id ? (
              <>
                <span>Remove {c.user.display_name}?</span>
                <button name="confirm-remove" disabled={removing.busy} onClick={() => void remove(c.user.id)}>
                  Remove
                </button>
                <button name="cancel-remove" onClick={() => setConfirm(null)}>
                  Keep
                </button>
              </>
            ) : (
              <>
                <button name="message" onClick={() => onOpenChat(c.user.id)}>
                  Message
                </button>
                <button name="remove" onClick={() => setConfirm(c.user.id)}>
                  Remove
                </button>
              </>
            )}
          </div>
        );
      })}
      {removing.error || error ? <p className="error" role="alert">{removing.error ?? error}</p> : null}
    </div>
  );
}
