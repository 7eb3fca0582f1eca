// Building DOM without HTML strings: every text goes through textContent, so data is never markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled" || key === "hidden") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, ...children);
}

let uid = 0;
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || badgeKind(text)}`, text: text || "—" });
}

export function badgeKind(text) {
  const value = String(text || "");
  if (/FAILED|UNHEALTHY|down|failed/.test(value)) return "bad";
  if (/IN_PROGRESS|pending|running|UNKNOWN/.test(value)) return "busy";
  if (/COMPLETE|HEALTHY|up|succeeded/.test(value)) return "good";
  return "plain";
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([term, value]) => [
    h("dt", { text: term }),
    h("dd", {}, value instanceof Node ? value : String(value ?? "—")),
  ]));
}

export function table(caption, headers, rows, options = {}) {
  return h("div", { class: "table-wrap" },
    h("table", { class: options.class || "" },
      h("caption", { class: options.showCaption ? "" : "sr-only", text: caption }),
      h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col", text: title })))),
      h("tbody", {}, rows)));
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
