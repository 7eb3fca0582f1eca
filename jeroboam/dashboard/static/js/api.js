// The public API, as any client calls it: Magnum's /v1 plus Jeroboam's /v1/jeroboam extensions.

import * as session from "./session.js";

const VERSION = "container-infra latest";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, detail, title) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || title || `HTTP ${status}`;
  }
}

export function onUnauthorized(listener) {
  listeners.add(listener);
}

export async function call(method, path, body) {
  const who = session.current();
  const headers = { Accept: "application/json", "OpenStack-API-Version": VERSION, ...session.authHeaders(who) };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/v1${path}`, init);
  } catch (error) {
    throw new ApiError(0, "The server does not answer. Is it running?");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.status === 401) {
    listeners.forEach((listener) => listener());
    throw new ApiError(401, "Your session has expired or is no longer valid: sign in again.");
  }
  if (!response.ok) {
    const error = data && Array.isArray(data.errors) && data.errors[0];
    throw new ApiError(response.status, error ? error.detail || error.title : data && (data.detail || data.message), error && error.title);
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const patch = (path, ops) => call("PATCH", path, ops);
export const del = (path) => call("DELETE", path);

// Every item of a paged collection, following the `next` links.
export async function all(path, key, pageSize = 1000) {
  const items = [];
  let url = `${path}${path.includes("?") ? "&" : "?"}limit=${pageSize}`;
  for (let pages = 0; url && pages < 100; pages += 1) {
    const data = await get(url);
    const page = data[key] || [];
    items.push(...page);
    const next = data.next;
    if (!next || page.length === 0) break;
    const at = next.indexOf("/v1/");
    url = at >= 0 ? next.slice(at + 3) : null;
  }
  return items;
}

export function replaceOp(path, value) {
  return { op: "replace", path, value };
}
