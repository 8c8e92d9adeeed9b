import { useEffect, useRef, useState, type FormEvent } from "react";
import type { CropRect, Me, UpdateMe, User } from "../bindings";
import { Avatar } from "../components/Avatar";
import { AvatarCropper } from "../components/AvatarCropper";
import { BIO_MAX, DISPLAY_NAME_MAX, STATUS_TEXT_MAX, USERNAME_MAX } from "../bindings/limits";
import { lengthNote } from "../format";
import { formOf, profilePatch, type ProfileForm } from "../profileForm";
import { asCommandError, call } from "../ipc";
import { pickImage } from "../pickImage";
import { Devices } from "./Devices";
import { DeleteAccount } from "../components/DeleteAccount";

const NO_CHANGE: UpdateMe = { display_name: null, username: null, bio: null, status_text: null, settings: null };

/** Each profile field's limit, in characters. */
const LIMITS = { display_name: DISPLAY_NAME_MAX, username: USERNAME_MAX, status_text: STATUS_TEXT_MAX, bio: BIO_MAX };

/** Profile edit, privacy toggles and sign-out. */
export function Settings({
  onClose,
  onProfile,
  onSignOut,
  onAccountDeleted,
  profileRev,
  devicesRev,
  joinedRev,
}: {
  onClose: () => void;
  onProfile: (u: User) => void;
  onSignOut: () => Promise<void>;
  /** The account was deleted (this device is signed out already). */
  onAccountDeleted: () => void;
  /** Bumped by each `profile.updated`: my settings may have changed on another device. */
  profileRev: number;
  /** Bumped when a device joins or leaves the account. */
  devicesRev: number;
  /** Bumped when a device joins the account. */
  joinedRev: number;
}) {
  const [me, setMe] = useState<Me | null>(null);
  const [form, setForm] = useState<ProfileForm>({ display_name: "", username: "", bio: "", status_text: "" });
  /** Signing out: how many messages it would delete, while asked. */
  const [leaving, setLeaving] = useState<{ unsent: number } | null>(null);
  const [signingOut, setSigningOut] = useState(false);
  /** Loads of the profile asked for (Try again), and whether the last failed. */
  const [loads, setLoads] = useState(0);
  const [loadFailed, setLoadFailed] = useState(false);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [avatarPath, setAvatarPath] = useState("");
  /** The image being cropped (from the path field or the file dialog). */
  const [cropping, setCropping] = useState<string | null>(null);

  useEffect(() => {
    call("get_me").then(
      (m) => {
        setMe(m);
        setForm(formOf(m));
        setNote(null);
        setLoadFailed(false);
      },
      (e) => {
        setNote({ ok: false, text: asCommandError(e).message });
        setLoadFailed(true);
      },
    );
  }, [loads]);

  // Changed on another device: the toggles and the photo follow at once;
  // the text fields only where they still hold what was loaded (never
  // under someone typing).
  const loaded = useRef<Me | null>(null);
  loaded.current = me;
  useEffect(() => {
    if (profileRev === 0) return;
    let stale = false;
    call("get_me").then(
      (m) => {
        if (stale) return;
        const was = loaded.current;
        setMe(m);
        if (!was) return;
        setForm((f) => ({
          display_name: f.display_name === was.display_name ? m.display_name : f.display_name,
          username: f.username === (was.username ?? "") ? (m.username ?? "") : f.username,
          bio: f.bio === was.bio ? m.bio : f.bio,
          status_text: f.status_text === was.status_text ? m.status_text : f.status_text,
        }));
      },
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [profileRev]);

  async function update(patch: UpdateMe, done: string): Promise<Me | null> {
    setBusy(true);
    setNote(null);
    try {
      const m = await call("update_profile", patch);
      setMe(m);
      onProfile(m);
      setNote({ ok: true, text: done });
      return m;
    } catch (e) {
      setNote({ ok: false, text: asCommandError(e).message });
      return null;
    } finally {
      setBusy(false);
    }
  }

  // A path (typed or chosen) opens the cropper; "Use this photo" sets it.
  function openCropper(e: FormEvent) {
    e.preventDefault();
    setNote(null);
    if (avatarPath.trim()) setCropping(avatarPath.trim());
  }

  async function chooseImage() {
    try {
      const path = await pickImage();
      if (!path) return;
      setAvatarPath(path);
      setNote(null);
      setCropping(path);
    } catch (e) {
      setNote({ ok: false, text: asCommandError(e).message });
    }
  }

  async function setAvatar(path: string, crop: CropRect) {
    setBusy(true);
    setNote(null);
    try {
      const m = await call("set_avatar", { path, crop });
      setMe(m);
      onProfile(m);
      setAvatarPath("");
      setCropping(null);
      setNote({ ok: true, text: "Avatar set" });
    } catch (err) {
      setNote({ ok: false, text: asCommandError(err).message });
    } finally {
      setBusy(false);
    }
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    if (!me) return;
    const patch = profilePatch(form, me);
    if (!patch) {
      setNote({ ok: true, text: "Nothing to save" });
      return;
    }
    const m = await update(patch, "Profile saved");
    // The fields sent, as the server keeps them (trimmed, lowercased), so
    // later changes from another device show here; only where they still
    // hold what was sent (typing meanwhile is kept).
    if (m) {
      const kept = formOf(m);
      setForm((f) => {
        const next = { ...f };
        for (const k of Object.keys(kept) as (keyof ProfileForm)[]) if (patch[k] !== null && f[k] === patch[k]) next[k] = kept[k];
        return next;
      });
    }
  }

  /** Sign out, asking first when messages were never sent (signing out
   * deletes them with this computer's copy of the chats). */
  async function signOut(sure: boolean) {
    if (signingOut) return;
    setSigningOut(true);
    try {
      if (!sure) {
        const unsent = await call("unsent_count").catch(() => 0);
        if (unsent > 0) {
          setLeaving({ unsent });
          return;
        }
      }
      setLeaving(null);
      await onSignOut();
    } catch (e) {
      setNote({ ok: false, text: asCommandError(e).message });
    } finally {
      setSigningOut(false);
    }
  }

  // `maxLength` counts UTF-16 units (an emoji is two), the server characters:
  // the input allows twice the limit and the note says when it is over.
  const field = (key: keyof typeof form, label: string, max: number, lines = false) => {
    const note = lengthNote(form[key], max);
    const onChange = (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value });
    return (
      <label>
        {label}
        {/* The bio may have line breaks: a text input would drop them. */}
        {lines ? (
          <textarea name={key} value={form[key]} rows={3} maxLength={max * 2} aria-invalid={!!note} onChange={onChange} />
        ) : (
          <input name={key} value={form[key]} maxLength={max * 2} aria-invalid={!!note} onChange={onChange} />
        )}
        {note ? (
          <span className="error" data-testid={`${key}-too-long`}>
            {note}
          </span>
        ) : null}
      </label>
    );
  };
  const tooLong = (Object.keys(LIMITS) as (keyof typeof LIMITS)[]).some((k) => lengthNote(form[k], LIMITS[k]) !== null);
  // The server keeps a username once set (3 to 32 characters): emptying the
  // field is not a way to remove it.
  const usernameGone = !!me?.username && !form.username.trim();

  return (
    <section className="settings" data-testid="settings">
      <header className="chat-header">
        <h2>Settings</h2>
        <button className="link" onClick={onClose} name="close-settings">
          Close
        </button>
      </header>
      {me ? (
        <div className="settings-body">
          <form onSubmit={(e) => void save(e)} className="card flat">
            <h3>Profile</h3>
            <p className="muted">Signed in as {me.identifier}</p>
            {field("display_name", "Name", LIMITS.display_name)}
            {field("username", "Username", LIMITS.username)}
            {usernameGone ? (
              <span className="error" data-testid="username-required">
                A username can be changed, not removed.
              </span>
            ) : null}
            {field("status_text", "Status", LIMITS.status_text)}
            {field("bio", "About", LIMITS.bio, true)}
            <button type="submit" disabled={busy || tooLong || usernameGone} name="save-profile">
              Save
            </button>
          </form>
          <div className="card flat avatar-form">
            <h3>Avatar</h3>
            <Avatar name={me.display_name} url={me.avatar_url} size={64} />
            <form onSubmit={openCropper} className="avatar-path-form">
              <button type="button" name="choose-avatar" disabled={busy} onClick={() => void chooseImage()}>
                Choose image…
              </button>
              <label>
                Or the path of an image (PNG, JPEG, WebP)
                <input
                  name="avatar-path"
                  placeholder="/home/me/Pictures/me.jpg"
                  value={avatarPath}
                  onChange={(e) => setAvatarPath(e.target.value)}
                />
              </label>
              <button type="submit" disabled={busy || !avatarPath.trim()} name="set-avatar">
                Set avatar
              </button>
            </form>
            {cropping ? (
              <AvatarCropper
                key={cropping}
                path={cropping}
                busy={busy}
                onSave={(crop) => void setAvatar(cropping, crop)}
                onCancel={() => setCropping(null)}
              />
            ) : null}
          </div>
          <div className="card flat">
            <h3>Privacy</h3>
            <label className="toggle">
              <input
                type="checkbox"
                name="read_receipts"
                checked={me.settings.read_receipts}
                disabled={busy}
                onChange={(e) => void update({ ...NO_CHANGE, settings: { read_receipts: e.target.checked, last_seen_visible: null } }, "Saved")}
              />
              Read receipts (when off, you don't see others' either)
            </label>
            <label className="toggle">
              <input
                type="checkbox"
                name="last_seen_visible"
                checked={me.settings.last_seen_visible}
                disabled={busy}
                onChange={(e) => void update({ ...NO_CHANGE, settings: { read_receipts: null, last_seen_visible: e.target.checked } }, "Saved")}
              />
              Show when I'm online and last seen
            </label>
          </div>
          <Devices changed={devicesRev} joined={joinedRev} onSignedOut={() => void onSignOut()} />
          <DeleteAccount onDeleted={onAccountDeleted} />
        </div>
      ) : (
        <div className="settings-body">
          {loadFailed ? (
            <p className="muted">
              Your profile could not be loaded.{" "}
              <button className="link" name="retry-settings" onClick={() => setLoads((n) => n + 1)}>
                Try again
              </button>
            </p>
          ) : (
            <p className="muted">Loading…</p>
          )}
        </div>
      )}
      {/* Also when the profile could not be loaded (offline): signing out
          must always be possible. */}
      <div className="card flat">
        {leaving ? (
          <p role="alert">
            {leaving.unsent} message{leaving.unsent === 1 ? "" : "s"} never reached the server and will be deleted from this computer.{" "}
            <button className="danger" name="confirm-sign-out" onClick={() => void signOut(true)}>
              Sign out anyway
            </button>{" "}
            <button name="cancel-sign-out" autoFocus onClick={() => setLeaving(null)}>
              Cancel
            </button>
          </p>
        ) : (
          <button className="danger" name="sign-out" disabled={signingOut} onClick={() => void signOut(false)}>
            {signingOut ? "Signing out…" : "Sign out"}
          </button>
        )}
      </div>
      {note ? (
        <p className={note.ok ? "ok" : "error"} role="status">
          {note.text}
        </p>
      ) : null}
    </section>
  );
}
