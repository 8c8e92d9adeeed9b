// The profile form in Settings: what it holds, and what Save sends.
import type { Me, UpdateMe } from "./bindings";

export interface ProfileForm {
  display_name: string;
  username: string;
  bio: string;
  status_text: string;
}

/** The form as the profile `m` fills it. */
export function formOf(m: Me): ProfileForm {
  return { display_name: m.display_name, username: m.username ?? "", bio: m.bio, status_text: m.status_text };
}

/** What Save sends: only the fields that differ from the profile `me` as
 * last loaded. Sending the others back would undo a change made on another
 * device meanwhile. Null when nothing changed. */
export function profilePatch(form: ProfileForm, me: Me): UpdateMe | null {
  const was = formOf(me);
  const patch: UpdateMe = { display_name: null, username: null, bio: null, status_text: null, settings: null };
  let any = false;
  for (const k of ["display_name", "username", "bio", "status_text"] as const) {
    if (form[k] !== was[k]) {
      patch[k] = form[k];
      any = true;
    }
  }
  return any ? patch : null;
}
