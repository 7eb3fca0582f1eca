// Who is signed in. Kept in sessionStorage only: gone when the tab closes, never in a URL or a cookie.

const KEY = "jeroboam.session";

export function current() {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function save(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clear() {
  sessionStorage.removeItem(KEY);
}

export function authHeaders(session) {
  if (!session) return {};
  if (session.kind === "keystone") return { "X-Auth-Token": session.token };
  const headers = { "X-Project-Id": session.project, "X-User-Id": session.user };
  if (session.roles && session.roles.length) headers["X-Roles"] = session.roles.join(",");
  return headers;
}

export function expired(session) {
  return Boolean(session && session.kind === "keystone" && session.expires_at && Date.parse(session.expires_at) <= Date.now());
}

export function isAdmin(session) {
  return Boolean(session && (session.roles || []).includes("admin"));
}
