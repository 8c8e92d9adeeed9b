import { useCallback, useEffect, useState } from "react";
import type { Attachment, UploadProgress } from "../bindings";
import { asCommandError, attachmentUrl, call, saveAttachment } from "../ipc";
import { fileSize, imageBox, isImage } from "../format";
import { ImageViewer } from "./ImageViewer";
import { save as saveDialog } from "@tauri-apps/plugin-dialog";

/** An attachment in a bubble: images as a preview, others as a file chip;
 * both can be saved to the Downloads folder or, through the save dialog,
 * anywhere. `onLoad`: the image is shown (the bubble grew); `tabIndex`:
 * its buttons' (the row's rule: see `MessageRow`'s `inside`). */
export function AttachmentView({ a, onLoad, tabIndex }: { a: Attachment; onLoad: () => void; tabIndex: number }) {
  const [url, setUrl] = useState<string | null>(null);
  const [saving, setSaving] = useState<UploadProgress | null>(null);
  const [saved, setSaved] = useState<{ ok: boolean; text: string } | null>(null);
  const [viewing, setViewing] = useState(false);
  const image = isImage(a.mime);
  const box = imageBox(a.width, a.height);
  useEffect(() => {
    if (!image) return;
    let stale = false;
    attachmentUrl(a).then((u) => !stale && setUrl(u), () => {});
    return () => {
      stale = true;
    };
  }, [a.id, image]);

  async function save(choose: boolean) {
    let path: string | null = null;
    if (choose) {
      // The sender's name made safe (see `attachment_file_name`).
      const suggested = await call("attachment_file_name", { attachment: a }).catch(() => undefined);
      path = await saveDialog({ defaultPath: suggested }).catch(() => null);
      if (!path) return;
    }
    setSaved(null);
    setSaving({ sent: 0, total: a.size });
    try {
      const to = await saveAttachment(a, path, setSaving);
      setSaved({ ok: true, text: `Saved to ${to}` });
    } catch (e) {
      setSaved({ ok: false, text: asCommandError(e).message });
    } finally {
      setSaving(null);
    }
  }

  const closeViewer = useCallback(() => setViewing(false), []);
  // Each button says which file: a bubble can hold several, a chat many.
  const label = a.name ?? (image ? "image" : "file");
  const actions = (
    <span className="attachment-actions">
      {saving ? (
        <span className="muted" data-testid="attachment-saving">
          Saving… {saving.total ? Math.floor((saving.sent * 100) / saving.total) : 0}%
        </span>
      ) : (
        <>
          <button className="link" name="attachment-save" title="Save to Downloads" aria-label={`Save ${label} to Downloads`} tabIndex={tabIndex} onClick={() => void save(false)}>
            Save
          </button>
          <button className="link" name="attachment-save-as" title="Save as…" aria-label={`Save ${label} as…`} tabIndex={tabIndex} onClick={() => void save(true)}>
            Save as…
          </button>
        </>
      )}
      {saved ? (
        <span className={saved.ok ? "muted" : "error"} data-testid="attachment-saved" role={saved.ok ? "status" : "alert"}>
          {saved.text}
        </span>
      ) : null}
    </span>
  );
  if (image) {
    return (
      <div className="attachment">
        {url ? (
          <button className="image-open" name="view-image" aria-label={`Open ${label}`} tabIndex={tabIndex} onClick={() => setViewing(true)}>
            <img className="attachment-image" src={url} alt={a.name ?? "image"} data-testid="attachment-image" style={box ?? undefined} onLoad={onLoad} />
          </button>
        ) : (
          <div className="attachment-image loading" data-testid="attachment-loading" style={box ?? undefined} />
        )}
        {actions}
        {viewing && url ? <ImageViewer url={url} name={label} onClose={closeViewer} /> : null}
      </div>
    );
  }
  return (
    <div className="attachment">
      <div className="file-chip" data-testid="file-chip">
        <span className="file-icon">📄</span>
        <span className="file-name">{a.name ?? "file"}</span>
        <span className="file-size">{fileSize(a.size)}</span>
      </div>
      {actions}
    </div>
  );
}
