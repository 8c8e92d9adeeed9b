import { useEffect, useState } from "react";
import type { Device, DeviceLinkInfo, InviteCode } from "../bindings";
import { asCommandError, call } from "../ipc";
import { countdown, listTime } from "../format";
import { CodeScanner } from "../components/CodeScanner";
import { OpenImageButton, PasteButton, usePasteCode } from "../components/PasteCode";

/** Settings → Devices: the account's devices, revoke, and linking new ones. */
export function Devices({ onSignedOut }: { onSignedOut: () => void }) {
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
  useEffect(() => {
    void load();
  }, []);

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
                  <button className="danger" name="confirm-revoke" disabled={busy} onClick={() => void revoke(d)}>
                    Revoke
                  </button>{" "}
                  <button className="link" name="cancel-revoke" onClick={() => setConfirm(null)}>
                    Cancel
                  </button>
                </span>
              ) : (
                <button className="link" name="revoke" onClick={() => setConfirm(d)}>
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
        <Invite onDone={() => (setMode(null), void load())} />
      )}
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** Paste the new device's `parley://link`, check the digits, approve. */
function ApproveLink({ onDone }: { onDone: (approved: boolean) => void }) {
  const [uri, setUri] = useState("");
  const [info, setInfo] = useState<DeviceLinkInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [scanning, setScanning] = useState(false);

  // A scanned or pasted link: look it up at once, as "Continue" would.
  function check(found: string) {
    setScanning(false);
    setUri(found);
    void run(() => call("link_info", { uri: found })).then((i) => i && setInfo(i));
  }
  const clipboard = usePasteCode("link", check, setError, info === null);

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

  return (
    <div data-testid="approve-link">
      {info ? (
        <>
          <p>
            <strong data-testid="link-device-name">{info.device_name}</strong> ({info.platform}) asks to join your account.
          </p>
          <p>
            Check code: <strong className="check-code" data-testid="link-check-code">{info.check_code}</strong>
          </p>
          <p className="muted">Approve only if the new device shows the same two digits.</p>
          <button
            name="approve-link"
            disabled={busy}
            onClick={() => void run(() => call("approve_link", { uri })).then((r) => r === null && onDone(true))}
          >
            The digits match — approve
          </button>{" "}
          <button className="link" name="cancel-link" onClick={() => onDone(false)}>
            Cancel
          </button>
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => call("link_info", { uri })).then((i) => i && setInfo(i));
          }}
        >
          {scanning ? (
            <CodeScanner kind="link" small onFound={check} />
          ) : (
            <button type="button" name="scan-link" onClick={() => setScanning(true)}>
              Scan the new device's code
            </button>
          )}{" "}
          <PasteButton onPaste={() => void clipboard.paste()} busy={clipboard.busy} />
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
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** An invite QR for a new device, renewed when it expires. */
function Invite({ onDone }: { onDone: () => void }) {
  const [invite, setInvite] = useState<InviteCode | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const expires = invite ? Date.parse(invite.invite.expires_at) : 0;
  const expired = !!invite && now >= expires;

  useEffect(() => {
    if (invite && !expired) return;
    let live = true;
    call("invite_device").then(
      (i) => live && setInvite(i),
      (e) => live && setError(asCommandError(e).message),
    );
    return () => {
      live = false;
    };
  }, [expired, invite === null]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);

  return (
    <div data-testid="invite">
      {invite ? (
        <>
          <div className="qr" data-testid="invite-qr" data-uri={invite.invite.uri} dangerouslySetInnerHTML={{ __html: invite.svg }} />
          <input readOnly name="invite-uri" value={invite.invite.uri} onFocus={(e) => e.target.select()} />
          <p>
            On the new device choose “Scan a code from my other device” and scan this code, paste its link, or type <strong data-testid="invite-code">{invite.invite.code}</strong>
          </p>
          <p className="muted" data-testid="invite-countdown">
            {expired ? "Renewing…" : `Valid for ${countdown((expires - now) / 1000)}`}
          </p>
        </>
      ) : (
        <p className="muted">Creating a code…</p>
      )}
      <button className="link" name="close-invite" onClick={onDone}>
        Done
      </button>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
