// The native "open file" dialog for images (Tauri's dialog plugin). Only the
// chosen path comes back: reading and decoding the file happens in Rust.
import { open } from "@tauri-apps/plugin-dialog";

export const IMAGE_EXTENSIONS = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];

/** Asks for one image file; resolves to its path, or null when cancelled. */
export async function pickImage(): Promise<string | null> {
  const picked = await open({ multiple: false, directory: false, filters: [{ name: "Images", extensions: IMAGE_EXTENSIONS }] });
  return typeof picked === "string" ? picked : null;
}
