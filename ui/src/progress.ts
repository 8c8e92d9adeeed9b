// Progress of a transfer (an upload, saving an attachment) that comes on a
// Tauri channel. The channel's messages keep their order among themselves,
// but not against the command's answer: a last report can arrive after the
// command resolved, and would show the transfer again once it had ended (an
// upload bar that never goes, and blocks sending).

/** Runs `run` with a progress callback that passes reports on to
 * `onProgress` only until `run` settles; later ones are dropped. */
export async function untilSettled<P, T>(run: (onProgress: (p: P) => void) => Promise<T>, onProgress: (p: P) => void): Promise<T> {
  let settled = false;
  try {
    return await run((p) => {
      if (!settled) onProgress(p);
    });
  } finally {
    settled = true;
  }
}
