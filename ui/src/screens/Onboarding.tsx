import { useEffect, useState, type FormEvent } from "react";
import type { CropRect, User } from "../bindings";
import { Avatar } from "../components/Avatar";
import { AvatarCropper } from "../components/AvatarCropper";
import { DISPLAY_NAME_MAX, USERNAME_MAX } from "../bindings/limits";
import { lengthNote } from "../format";
import { asCommandError, call } from "../ipc";
import { pickImage } from "../pickImage";

type Check = { state: "idle" | "checking" } | { state: "ok" | "bad"; text: string };

/** First sign-in: a display name and a username, checked while typing, and
 * optionally a photo (set as soon as it is chosen, so "Continue" only saves
 * the profile). */
export function Onboarding({ user, onDone }: { user: User; onDone: (u: User) => void }) {
  const [avatar, setAvatar] = useState(user.avatar_url);
  const [cropping, setCropping] = useState<string | null>(null);
  const [photoBusy, setPhotoBusy] = useState(false);
  const [name, setName] = useState(user.display_name);
  const [username, setUsername] = useState(user.username ?? "");
  const [check, setCheck] = useState<Check>({ state: "idle" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const u = username.trim();
    if (!u) {
      setCheck({ state: "idle" });
      return;
    }
    setCheck({ state: "checking" });
    let stale = false;
    const t = setTimeout(() => {
      call("username_available", { username: u }).then(
        (r) => !stale && setCheck(r.available ? { state: "ok", text: `@${r.username} is available` } : { state: "bad", text: `@${r.username} is taken` }),
        (e) => !stale && setCheck({ state: "bad", text: asCommandError(e).message }),
      );
    }, 300);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [username]);

  async function choosePhoto() {
    setError(null);
    try {
      const path = await pickImage();
      if (path) setCropping(path);
    } catch (e) {
      setError(asCommandError(e).message);
    }
  }

  async function usePhoto(path: string, crop: CropRect) {
    setPhotoBusy(true);
    setError(null);
    try {
      const me = await call("set_avatar", { path, crop });
      setAvatar(me.avatar_url);
      setCropping(null);
    } catch (e) {
      setError(asCommandError(e).message);
    } finally {
      setPhotoBusy(false);
    }
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await call("update_profile", {
        display_name: name.trim(),
        username: username.trim(),
        bio: null,
        status_text: null,
        settings: null,
      });
      onDone(me);
    } catch (err) {
      setError(asCommandError(err).message);
    } finally {
      setBusy(false);
    }
  }

  // Over the limit: said under the field, and not sent (the server refuses it).
  const nameNote = lengthNote(name, DISPLAY_NAME_MAX);

  return (
    <main className="centered">
      <form className="card" onSubmit={submit} data-testid="onboarding">
        <h1>Welcome to Parley</h1>
        <p className="muted">How should people see you?</p>
        <label>
          Your name
          <input name="display_name" value={name} onChange={(e) => setName(e.target.value)} autoFocus required maxLength={DISPLAY_NAME_MAX * 2} aria-invalid={!!nameNote} />
          {nameNote ? <span className="error">{nameNote}</span> : null}
        </label>
        <label>
          Username
          <input name="username" value={username} onChange={(e) => setUsername(e.target.value.toLowerCase())} placeholder="ana" required maxLength={USERNAME_MAX} />
        </label>
        <p className={`check check-${check.state}`} data-testid="username-check" aria-live="polite">
          {"text" in check ? check.text : check.state === "checking" ? "Checking…" : "3–32 of a–z, 0–9, _ and ."}
        </p>
        <div className="onboarding-photo" data-testid="onboarding-photo">
          <Avatar name={name || user.display_name} url={avatar} size={56} />
          <button type="button" name="choose-avatar" disabled={photoBusy} onClick={() => void choosePhoto()}>
            {avatar ? "Choose another photo" : "Choose a photo"}
          </button>
          <span className="muted">Optional</span>
        </div>
        {cropping ? (
          <AvatarCropper key={cropping} path={cropping} busy={photoBusy} onSave={(crop) => void usePhoto(cropping, crop)} onCancel={() => setCropping(null)} />
        ) : null}
        <button type="submit" name="continue" disabled={busy || !name.trim() || !!nameNote || check.state !== "ok"}>
          Continue
        </button>
        {error ? <p className="error" role="alert">{error}</p> : null}
      </form>
    </main>
  );
}
