// moderation.js — moderation in the pages (installed by every VenueView of livehub.js).
//
// Every page removes a comment a moderator deleted (the `comment.deleted` frame names it by its
// id).  A page whose identity may moderate (a moderator token, e.g. /watch?token=…, or a host in
// the panel) gets two actions on each comment: "Delete" (for everyone, on every node) and, on
// other people's comments, "Mute" (10 minutes in this room).  They call
// POST /api/venues/{venue}/moderation/{delete|mute} with the page's token; the server's role table
// decides (a moderator of another venue is refused, and the refusal is shown).
//
// In demo mode /watch?moderate=1 watches as a fresh demo moderator (POST /api/auth/moderator).
//
// Plain ES module, no build step; everything from the network is rendered as text.

import { api, describeFailure, h, uuid } from "/static/livehub.js";

const MODERATING_ROLES = new Set(["moderator", "host"]);
export const MUTE_S = 600;

/** Hook the moderation into a VenueView: deleted comments disappear; moderators get the actions. */
export function installModeration(view) {
  const client = view.client;
  client.on("volatile", (f) => {
    if (f.type === "comment.deleted") removeComment(view, String(f.id ?? ""));
  });
  const decorateAll = () => {
    if (!MODERATING_ROLES.has(client.role)) return;
    for (const li of view.commentsEl.children) decorate(view, li);
  };
  new MutationObserver(decorateAll).observe(view.commentsEl, { childList: true });
  client.on("status", decorateAll); // the role is known from the welcome on
}

/** Demo mode only: a token of a fresh demo moderator (of the main venue and the first brand venues); null otherwise. */
export async function demoModeratorToken() {
  const res = await api("POST", "/api/auth/moderator");
  return res.ok && typeof res.data.token === "string" ? res.data.token : null;
}

function removeComment(view, id) {
  if (!id) return;
  for (const li of view.commentsEl.querySelectorAll("li[data-comment-id]")) {
    if (li.dataset.commentId === id) li.remove();
  }
}

function decorate(view, li) {
  const id = li.dataset.commentId;
  if (!id || li.dataset.moderated) return;
  li.dataset.moderated = "1";
  const user = li.dataset.user || "";
  const actions = h("span", { class: "mod-actions" },
    h("button", { type: "button", class: "mod-btn", "data-testid": "comment-delete", title: "Delete this comment for everyone",
      onclick: () => act(view, "delete", { comment: id }, "Comment deleted") }, "Delete"),
    user && user !== view.client.user
      ? h("button", { type: "button", class: "mod-btn", "data-testid": "comment-mute", title: `Mute for ${MUTE_S / 60} minutes in this room`,
        onclick: () => act(view, "mute", { user, duration_s: MUTE_S }, `Muted ${user} for ${MUTE_S / 60} minutes`) }, "Mute")
      : null,
  );
  li.append(actions);
}

async function act(view, action, body, done) {
  const venue = view.client.venue;
  const res = await api("POST", `/api/venues/${encodeURIComponent(venue)}/moderation/${action}`, {
    body: { ...body, id: uuid() },
    token: view.client.token,
  });
  view.flash(res.ok ? done : `Moderation refused — ${describeFailure(res)}`);
}
