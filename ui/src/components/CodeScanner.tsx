import { useEffect, useRef, useState, type ReactNode } from "react";
import type { CameraInfo, ScanKind } from "../bindings";
import { containBox } from "../crop";
import { asCommandError, call, startScan } from "../ipc";

/** How long the outline of a found code stays up before `onFound`: long
 * enough for people to see what was read. */
export const HIGHLIGHT_MS = 600;
/** How long "that is another kind of code" stays after it was last seen. */
const HINT_MS = 2500;

type Status =
  | { type: "starting" }
  | { type: "running" }
  | { type: "paused" }
  | { type: "error"; code: string; message: string }
  | { type: "stopped"; reason: string }
  | { type: "found"; corners: Array<[number, number]> };

interface Props {
  kind: ScanKind;
  onFound: (uri: string) => void;
  /** Shown with a camera error (other ways in: paste, type, open a file). */
  fallback?: ReactNode;
  /** A smaller preview (inside a form). */
  small?: boolean;
}

/** A scanner for one kind of code (decoded in Rust): a camera picker when
 * there are several, the live preview, the outline of the code it found
 * (then `onFound` with its link), camera errors with "Try again", and a
 * pause while the window is hidden (Rust turns the camera off then; it
 * starts again when the window is back). Stops the scan when it unmounts. */
export function CodeScanner({ kind, onFound, fallback, small }: Props) {
  const [cameras, setCameras] = useState<CameraInfo[]>([]);
  const [camera, setCamera] = useState<number | null>(null);
  const [run, setRun] = useState(0);
  const [status, setStatus] = useState<Status>({ type: "starting" });
  /** Why a code in view is not taken (another kind of Parley code). */
  const [hint, setHint] = useState<string | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [source, setSource] = useState<string | null>(null);
  const [box, setBox] = useState<{ left: number; top: number; width: number; height: number } | null>(null);
  const img = useRef<HTMLImageElement>(null);
  const found = useRef(onFound);
  found.current = onFound;

  useEffect(() => {
    let stale = false;
    call("list_cameras").then((c) => !stale && setCameras(c), () => {});
    return () => {
      stale = true;
    };
  }, []);

  useEffect(() => {
    let stale = false;
    let done = false;
    let id: number | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let hintTimer: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      if (id !== null) void call("scan_stop", { id }).catch(() => {});
    };
    setStatus({ type: "starting" });
    setBox(null);
    setHint(null);
    startScan(
      (ev) => {
        if (stale || done) return;
        switch (ev.type) {
          case "started":
            setSource(ev.source);
            setStatus({ type: "running" });
            break;
          case "frame":
            setPreview(ev.data_url);
            break;
          case "found": {
            // Freeze on the frame the code was read in and outline the
            // code, then hand it on.
            done = true;
            stop();
            if (ev.data_url) setPreview(ev.data_url);
            const el = img.current;
            setBox(el && el.naturalWidth ? containBox(el.clientWidth, el.clientHeight, el.naturalWidth, el.naturalHeight) : null);
            setStatus({ type: "found", corners: ev.corners });
            timer = setTimeout(() => !stale && found.current(ev.uri), HIGHLIGHT_MS);
            break;
          }
          case "paused":
            setStatus({ type: "paused" });
            break;
          case "stopped":
            setStatus({ type: "stopped", reason: ev.reason });
            break;
          case "ignored":
            // Another kind of Parley code in view: say so (for a while),
            // or the user sees a live camera and nothing happening.
            setHint(ev.what);
            clearTimeout(hintTimer);
            hintTimer = setTimeout(() => !stale && setHint(null), HINT_MS);
            break;
        }
      },
      kind,
      camera,
    ).then(
      (started) => {
        id = started;
        // Closed, restarted or already done before it started: stop it now.
        if (stale || done) stop();
      },
      (e) => {
        const err = asCommandError(e);
        if (!stale) setStatus({ type: "error", code: err.code, message: err.message });
      },
    );
    return () => {
      stale = true;
      clearTimeout(timer);
      clearTimeout(hintTimer);
      stop();
    };
  }, [kind, camera, run]);

  // Paused (window hidden): start again once the window is visible again.
  const paused = status.type === "paused";
  useEffect(() => {
    if (!paused) return;
    const resume = () => {
      if (document.visibilityState === "visible") setRun((r) => r + 1);
    };
    document.addEventListener("visibilitychange", resume);
    window.addEventListener("focus", resume);
    return () => {
      document.removeEventListener("visibilitychange", resume);
      window.removeEventListener("focus", resume);
    };
  }, [paused]);

  const retry = () => {
    setPreview(null);
    setRun((r) => r + 1);
  };

  const picker =
    cameras.length >= 2 ? (
      <label className="camera-picker">
        Camera
        <select
          name="camera"
          value={String(camera ?? cameras[0].index)}
          onChange={(e) => {
            setPreview(null);
            setCamera(Number(e.target.value));
          }}
        >
          {cameras.map((c) => (
            <option key={c.index} value={c.index}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
    ) : null;

  if (status.type === "error") {
    return (
      <div className="scan" data-testid={status.code === "no_camera" ? "no-camera" : "camera-error"} data-code={status.code}>
        {picker}
        <p data-testid="scanner-message" role="alert">
          {status.message}
        </p>
        <div className="row">
          <button type="button" name="scan-retry" onClick={retry}>
            Try again
          </button>
          {fallback}
        </div>
      </div>
    );
  }

  const points = status.type === "found" ? status.corners.map(([x, y]) => `${x},${y}`).join(" ") : null;
  return (
    <div className="scan" data-testid="code-scanner">
      {picker}
      <div className={`scan-preview${small ? " small" : ""}`}>
        {status.type === "paused" ? (
          <p className="muted" data-testid="scanner-paused">
            Camera paused — it starts again when this window is back in front.
          </p>
        ) : preview ? (
          <>
            <img
              ref={img}
              data-testid="scan-preview"
              src={preview}
              alt="Camera preview"
              // The frozen frame may differ in size from the live ones: place
              // the outline over the picture as it is actually laid out.
              onLoad={(e) => {
                const el = e.currentTarget;
                if (el.naturalWidth) setBox(containBox(el.clientWidth, el.clientHeight, el.naturalWidth, el.naturalHeight));
              }}
            />
            {points ? (
              <svg
                className="scan-highlight"
                data-testid="scan-highlight"
                viewBox="0 0 1 1"
                preserveAspectRatio="none"
                aria-label="The code that was read"
                style={box ? { left: `${box.left * 100}%`, top: `${box.top * 100}%`, width: `${box.width * 100}%`, height: `${box.height * 100}%` } : undefined}
              >
                <polygon points={points} vectorEffect="non-scaling-stroke" />
              </svg>
            ) : null}
          </>
        ) : (
          <p className="muted">Starting the camera…</p>
        )}
      </div>
      {status.type === "found" ? (
        <p className="muted" role="status">
          Code found
        </p>
      ) : status.type === "stopped" ? (
        <p className="muted" data-testid="scanner-message">
          Stopped: {status.reason}{" "}
          <button type="button" className="link" name="scan-retry" onClick={retry}>
            Try again
          </button>
        </p>
      ) : hint && status.type === "running" ? (
        <p className="muted" role="status" data-testid="scanner-hint">
          {hint}
        </p>
      ) : source && status.type === "running" ? (
        <p className="muted">Reading from {source}</p>
      ) : null}
    </div>
  );
}
