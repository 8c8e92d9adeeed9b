import { useEffect, useRef, useState } from "react";
import type { Device, DeviceLinkInfo, InviteCode } from "../bindings";
import { asCommandError, call } from "../ipc";
import { countdown, listTime } from "../format";
import { checkCodeChoices, seededRandom } from "../checkCode";
import { localExpiry } from "../expiry";
import { CodeScanner } from "../components/CodeScanner";
import { OpenImageButton, PasteButton, usePasteCode } from "../components/PasteCode";
import { DEVICE_LINK_TTL_SECS } from "../bindings/limits";

/** Settings → Devices: the account's devices, revoke, and linking new ones. */
export function Devices({ changed, joined, onSignedOut }: { changed: number; joined: number; onSignedOut: () => void }) {
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [confirm, setConfirm] = useState<Device | null>(null);
  const [mode, setMode] = useState<null | "link" | "invite">(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () =>
    call("list_devices").then(
      (d) => setDevices(d),
      (e) => setError(asCommandError(e).message),
    );
  // Again when a device joins or leaves (here or on another device).
  useEffect(() => {
    void load();
  }, [changed]);

  // An approved device joins when it picks up its session (its long poll
  // returns), a moment after the approval: refresh until it shows up.
  async function loadUntilMoreThan(count: number) {
    for (let i = 0; i < 40; i++) {
      try {
        const d = await call("list_devices");
        setDevices(d);
        if (d.length > count) return;
      } catch (e) {
        setError(asCommandError(e).message);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function revoke(d: Device) {
    setBusy(true);
    setError(null);
    try {
      const r = await call("revoke_device", { device_id: d.id });
      setConfirm(null);
      if (r.signed_out) onSignedOut();
      else await load();
    } catch (e) {
      setError(asCommandError(e).message);
    } finally {
      setBusy(false);
    }
  }

  const now = new Date();
  return (
    <div className="card flat" data-testid="devices">
      <h3>Devices</h3>
      {devices ? (
        <ul className="devices">
          {devices.map((d) => (
            <li key={d.id} data-testid="device" data-current={d.current ? "true" : "false"}>
              <span>
                <strong>{d.name}</strong> {d.current ? <span className="badge-this">This device</span> : null}
                <br />
                <span className="muted">
                  {d.platform} · {d.current ? "online now" : `last seen ${listTime(new Date(d.last_seen_at), now)}`}
                </span>
              </span>
              {confirm?.id === d.id ? (
                <span>
                  {d.current ? "This signs you out here. " : ""}
                  <button className="danger" name="confirm-revoke" aria-label={`Revoke ${d.name}`} disabled={busy} onClick={() => void revoke(d)}>
                    Revoke
                  </button>{" "}
                  <button className="link" name="cancel-revoke" autoFocus onClick={() => setConfirm(null)}>
                    Cancel
                  </button>
                </span>
              ) : (
                <button className="link" name="revoke" aria-label={`Revoke ${d.name}`} onClick={() => setConfirm(d)}>
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">Loading…</p>
      )}
      {mode === null ? (
        <p>
          <button name="link-new-device" onClick={() => setMode("link")}>
            Link a new device
          </button>{" "}
          <button name="show-invite" onClick={() => setMode("invite")}>
            Show a code for a new device
          </button>
        </p>
      ) : mode === "link" ? (
        <ApproveLink
          onDone={(approved) => {
            setMode(null);
            void (approved ? loadUntilMoreThan(devices?.length ?? 0) : load());
          }}
        />
      ) : (
        <Invite joined={joined} onDone={() => (setMode(null), void load())} />
      )}
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** Paste or scan the new device's `parley://link`, then say which two
 * digits it shows (number matching: picking the wrong ones approves
 * nothing), and it is approved. */
function ApproveLink({ onDone }: { onDone: (approved: boolean) => void }) {
  const [uri, setUri] = useState("");
  /** The link being approved and what the server says of it, together: the
   * device shown is the device approved. */
  const [asked, setAsked] = useState<{ uri: string; info: DeviceLinkInfo; choices: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [scanning, setScanning] = useState(false);
  /** Lookups started: only the latest one's answer is shown. */
  const lookups = useRef(0);

  /** Looks up link `found` (scanned, pasted or typed). */
  function check(found: string) {
    setScanning(false);
    setUri(found);
    const n = ++lookups.current;
    void run(() => call("link_info", { uri: found })).then((info) => {
      if (info && n === lookups.current) setAsked({ uri: found, info, choices: checkCodeChoices(info.check_code, seededRandom(found)) });
    });
  }
  const clipboard = usePasteCode("link", (found) => !busy && check(found), setError, asked === null);

  async function run<T>(f: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    try {
      return await f();
    } catch (e) {
      setError(asCommandError(e).message);
    } finally {
      setBusy(false);
    }
  }

  function pick(digits: string) {
    if (!asked) return;
    if (digits !== asked.info.check_code) {
      // A wrong pick is not retried on the same link: the one who made it
      // may be someone else trying to get into the account.
      setAsked(null);
      setUri("");
      setError(
        "Those are not the digits the new device shows, so nothing was approved. If you did not start linking a device yourself, someone may be trying to get into your account: do not approve it.",
      );
      return;
    }
    void run(() => call("approve_link", { uri: asked.uri })).then((r) => r === null && onDone(true));
  }

  return (
    <div data-testid="approve-link">
      {asked ? (
        <div role="group" aria-labelledby="link-question">
          <p>
            <strong data-testid="link-device-name">{asked.info.device_name}</strong> ({asked.info.platform}) asks to join your account.
          </p>
          <p id="link-question">Which two digits does the new device show? Pick them to approve it.</p>
          <p className="check-code-choices">
            {asked.choices.map((c, i) => (
              <button key={c} className="check-code" name="check-code" data-code={c} disabled={busy} autoFocus={i === 0} onClick={() => pick(c)}>
                {c}
              </button>
            ))}
          </p>
          <p className="muted">If the new device is not yours or shows none of these, cancel.</p>
          <button className="link" name="cancel-link" onClick={() => onDone(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            check(uri.trim());
          }}
        >
          {scanning ? (
            <CodeScanner kind="link" small onFound={check} />
          ) : (
            <button type="button" name="scan-link" disabled={busy} onClick={() => setScanning(true)}>
              Scan the new device's code
            </button>
          )}{" "}
          <PasteButton onPaste={() => void clipboard.paste()} busy={clipboard.busy || busy} />
          <OpenImageButton kind="link" onCode={check} onError={setError} />
          <label>
            The link shown by the new device
            <input name="link-uri" value={uri} onChange={(e) => setUri(e.target.value)} placeholder="parley://link?…" autoFocus />
          </label>
          <button type="submit" name="check-link" disabled={busy || !uri.trim()}>
            Continue
          </button>{" "}
          <button type="button" className="link" onClick={() => onDone(false)}>
            Cancel
          </button>
        </form>
      )}
      {error ? (
        <p className="error" role="alert" data-testid="link-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** An invite QR for a new device. Not renewed by itself: anyone who scans
 * it gets into the account, so a screen left open does not keep offering
 * fresh ones. It goes once a device joined (`joined` changes). */
function Invite({ joined, onDone }: { joined: number; onDone: () => void }) {
  // (`joined` counts `device.added` only: a device leaving elsewhere does
  // not close it.)
  const [invite, setInvite] = useState<{ code: InviteCode; expires: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [round, setRound] = useState(0);
  const expired = !!invite && now >= invite.expires;

  useEffect(() => {
    let live = true;
    setInvite(null);
    setError(null);
    call("invite_device").then(
      (code) => live && setInvite({ code, expires: localExpiry(code.invite.expires_at, Date.now(), DEVICE_LINK_TTL_SECS) }),
      (e) => live && setError(asCommandError(e).message),
    );
    return () => {
      live = false;
    };
  }, [round]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);
  // A device joined my account: this code did its job (or another one did).
  const joinedAtOpen = useRef(joined);
  useEffect(() => {
    if (joined !== joinedAtOpen.current) onDone();
  }, [joined]);

  return (
    <div data-testid="invite">
      {invite && !expired ? (
        <>
          <p className="warning">Whoever scans this code can use your account. Show it only to your own new device.</p>
          <div
            className="qr"
            role="img"
            aria-label="Invite code for a new device"
            data-testid="invite-qr"
            data-uri={invite.code.invite.uri}
            dangerouslySetInnerHTML={{ __html: invite.code.svg }}
          />
          <input readOnly name="invite-uri" aria-label="Invite link" value={invite.code.invite.uri} onFocus={(e) => e.target.select()} />
          <p>
            On the new device choose “Scan a code from my other device” and scan this code, paste its link, or type{" "}
            <strong data-testid="invite-code">{invite.code.invite.code}</strong>
          </p>
          <p className="muted" data-testid="invite-countdown">
            Valid for {countdown((invite.expires - now) / 1000)}
          </p>
        </>
      ) : invite ? (
        <p data-testid="invite-expired">
          This code expired.{" "}
          <button name="renew-invite" onClick={() => setRound((n) => n + 1)}>
            Show a new code
          </button>
        </p>
      ) : error ? null : (
        <p className="muted">Creating a code…</p>
      )}
      <button className="link" name="close-invite" onClick={onDone}>
        Done
      </button>
      {error ? (
        <p className="error" role="alert">
          {error}{" "}
          <button className="link" name="retry-invite" onClick={() => setRound((n) => n + 1)}>
            Try again
          </button>
        </p>
      ) : null}
    </div>
  );
}
