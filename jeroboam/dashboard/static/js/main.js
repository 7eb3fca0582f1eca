// The dashboard's shell: sign-in, navigation, hash routes, and the page that is shown.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import * as session from "./session.js";
import { signInPage } from "./pages/signin.js";
import { clustersPage, clusterCreatePage } from "./pages/clusters.js";
import { clusterPage } from "./pages/cluster.js";
import { templatesPage, templatePage, templateCreatePage } from "./pages/templates.js";
import { adminPage } from "./pages/admin.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const banner = document.getElementById("banner");
let leave = null; // the shown page's clean-up (stops its poller)
let config = null;

const ROUTES = [
  [/^#\/clusters\/new$/, clusterCreatePage],
  [/^#\/clusters\/new\/([^/]+)$/, clusterCreatePage],
  [/^#\/clusters\/([^/]+)$/, clusterPage],
  [/^#\/clusters$/, clustersPage],
  [/^#\/templates\/new$/, templateCreatePage],
  [/^#\/templates\/([^/]+)$/, templatePage],
  [/^#\/templates$/, templatesPage],
  [/^#\/admin$/, adminPage],
];

export function say(message, kind = "info") {
  if (!message) {
    banner.hidden = true;
    return;
  }
  banner.className = `banner ${kind}`;
  replace(banner, h("span", { text: message }), h("button", { type: "button", class: "link", text: "Dismiss",
    onclick: () => { banner.hidden = true; } }));
  banner.hidden = false;
}

function signOut(message) {
  session.clear();
  say(message || "", message ? "warn" : "info");
  if (location.hash !== "#/signin") location.hash = "#/signin";
  else route();
}

api.onUnauthorized(() => {
  if (session.current()) signOut("Your session has expired or is no longer valid. Sign in again.");
});

function renderChrome(who_) {
  const links = [["#/clusters", "Clusters"], ["#/templates", "Cluster templates"]];
  if (session.isAdmin(who_)) links.push(["#/admin", "Admin"]);
  replace(nav, h("ul", {}, links.map(([href, text]) => h("li", {},
    h("a", { href, text, "aria-current": location.hash.startsWith(href) ? "page" : null })))));
  if (!who_) {
    replace(who);
    return;
  }
  const name = who_.kind === "keystone" ? `${who_.user_name} @ ${who_.project_name}` : `${who_.user} @ ${who_.project}`;
  replace(who, h("span", { class: "muted", text: name }), " ",
    h("button", { type: "button", class: "link", text: "Sign out", onclick: () => signOut() }));
}

async function route() {
  if (leave) leave();
  leave = null;
  const current = session.current();
  if (session.expired(current)) {
    session.clear();
    say("Your Keystone token has expired. Sign in again.", "warn");
  }
  const signedIn = session.current();
  let hash = location.hash || "#/clusters";
  if (!signedIn && hash !== "#/signin") {
    location.hash = "#/signin";
    return;
  }
  if (signedIn && hash === "#/signin") hash = "#/clusters";
  renderChrome(signedIn);
  replace(main);
  const ctx = { main, config, say, session: signedIn, go: (target) => { location.hash = target; } };
  if (hash === "#/signin") {
    leave = signInPage(ctx, () => { say(""); location.hash = "#/clusters"; });
  } else {
    const found = ROUTES.find(([pattern]) => pattern.test(hash));
    if (!found) {
      replace(main, h("h1", { text: "Not found" }), h("p", {}, h("a", { href: "#/clusters", text: "Back to the clusters" })));
    } else {
      const args = found[0].exec(hash).slice(1).map(decodeURIComponent);
      leave = found[1](ctx, ...args) || null;
    }
  }
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

async function start() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    config = await response.json();
  } catch {
    replace(main, h("p", { class: "error", text: "The dashboard could not read its configuration from the server." }));
    return;
  }
  // Sign out everywhere a stored session of the other kind of identity is found.
  const stored = session.current();
  if (stored && stored.kind !== config.auth_strategy) session.clear();
  window.addEventListener("hashchange", route);
  route();
}

start();
