// Labelled form fields with an explanation and a slot for the API's error about that field.

import { h, nextId, replace } from "./dom.js";

export class Form {
  constructor(name, onSubmit) {
    this.fields = new Map();
    this.formError = h("p", { class: "error form-error", role: "alert", hidden: true });
    this.submitButton = null;
    this.el = h("form", { class: "form", "aria-label": name, novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      this.clearErrors();
      if (this.submitButton) this.submitButton.disabled = true;
      try {
        await onSubmit(this.values());
      } catch (error) {
        this.showError(error);
      } finally {
        if (this.submitButton) this.submitButton.disabled = false;
      }
    } });
  }

  // kind: text | number | password | select | checkbox | textarea
  field(name, label, options = {}) {
    const id = options.id || nextId(`f-${name}`);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const kind = options.kind || "text";
    let input;
    const common = { id, name, "aria-describedby": `${hintId} ${errorId}`, required: options.required || null };
    if (kind === "select") {
      input = h("select", common, (options.choices || []).map((choice) => {
        const [value, text] = Array.isArray(choice) ? choice : [choice, choice];
        return h("option", { value, text, selected: value === options.value });
      }));
      if (options.value !== undefined) input.value = options.value;
    } else if (kind === "textarea") {
      input = h("textarea", { ...common, rows: options.rows || 3, value: options.value ?? "" });
    } else if (kind === "checkbox") {
      input = h("input", { ...common, type: "checkbox", checked: Boolean(options.value) });
    } else {
      input = h("input", { ...common, type: kind, value: options.value ?? "", autocomplete: options.autocomplete || "off",
        min: options.min ?? null, list: options.list || null, placeholder: options.placeholder || null });
    }
    const error = h("p", { class: "error", id: errorId, hidden: true });
    const hint = h("p", { class: "hint", id: hintId, text: options.hint || "" });
    const row = kind === "checkbox"
      ? h("div", { class: "field check" }, input, h("label", { for: id, text: label }), hint, error)
      : h("div", { class: "field" }, h("label", { for: id, text: label + (options.required ? " *" : "") }), input, hint, error);
    this.fields.set(name, { input, error, kind, row, options });
    this.el.append(row);
    return input;
  }

  submit(text) {
    this.submitButton = h("button", { type: "submit", class: "primary", text });
    this.el.append(this.formError, h("div", { class: "actions" }, this.submitButton));
    return this;
  }

  values() {
    const out = {};
    for (const [name, { input, kind }] of this.fields) {
      if (kind === "checkbox") out[name] = input.checked;
      else if (kind === "number") out[name] = input.value === "" ? undefined : Number(input.value);
      else out[name] = input.value.trim() === "" ? undefined : input.value.trim();
    }
    return out;
  }

  clearErrors() {
    this.formError.hidden = true;
    for (const { input, error } of this.fields.values()) {
      error.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  }

  // Put the message next to the field it is about; `field` may be given, else it is read from the text.
  showError(error, field) {
    const message = error && error.detail ? error.detail : String(error && error.message ? error.message : error);
    const name = field || fieldOfMessage(message, [...this.fields.keys()], this.values());
    const target = name && this.fields.get(name);
    if (target) {
      replace(target.error, message);
      target.error.hidden = false;
      target.input.setAttribute("aria-invalid", "true");
      target.input.focus();
    } else {
      replace(this.formError, message);
      this.formError.hidden = false;
    }
  }
}

// Which field a Magnum error message is about.
const PATTERNS = [
  [/field\/attribute ([A-Za-z_]+)/, null],
  [/Image .* could not be found|os_distro|image/i, "image_id"],
  [/master[ _]flavor/i, "master_flavor_id"],
  [/flavor/i, "flavor_id"],
  [/External network/i, "external_network_id"],
  [/Volume driver/i, "volume_driver"],
  [/network driver/i, "network_driver"],
  [/keypair/i, "keypair"],
  [/docker_volume_size|docker volume/i, "docker_volume_size"],
  [/master_count|masters?\b/i, "master_count"],
  [/node_count|nodes_to_remove|node count/i, "node_count"],
  [/ClusterTemplate .* could not be found|cluster_template/i, "cluster_template_id"],
  [/coe|Cluster type|driver/i, "coe"],
  [/already exists|name/i, "name"],
];

export function fieldOfMessage(message, names, values) {
  for (const [pattern, field] of PATTERNS) {
    const match = pattern.exec(message);
    if (!match) continue;
    const name = field || match[1];
    if (names.includes(name)) return name;
    if (name === "flavor_id" && names.includes("flavor")) return "flavor";
  }
  // A value quoted in the message names its field.
  for (const name of names) {
    const value = values[name];
    if (typeof value === "string" && value.length > 2 && message.includes(value)) return name;
  }
  return null;
}

export function parseLabels(text) {
  const labels = {};
  for (const line of String(text || "").split(/\n/)) {
    const item = line.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at <= 0) throw Object.assign(new Error(`"${item}" is not key=value`), { field: "labels" });
    const key = item.slice(0, at).trim();
    const value = item.slice(at + 1).trim();
    labels[key] = labels[key] !== undefined ? `${labels[key]},${value}` : value;
  }
  return labels;
}

export function formatLabels(labels) {
  return Object.entries(labels || {}).map(([key, value]) => `${key}=${value}`).join("\n");
}
