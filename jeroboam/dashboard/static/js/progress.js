// An operation's phases as a progress bar: done, running, still to come, or failed here; with
// elapsed time and the deadline. Data from GET /v1/jeroboam/clusters/{id}/operations.

import { h, duration, when } from "./dom.js";

export const PHASE_NAMES = {
  infrastructure: "Infrastructure", pki: "Certificates", control_plane: "Control plane",
  workers: "Workers", endpoint: "Endpoint", status: "Status", delete: "Delete",
};

export const KIND_NAMES = {
  create: "Create", update: "Update", resize: "Resize", upgrade: "Upgrade", delete: "Delete",
  rotate_ca: "CA rotation", rotate_credentials: "Credential rotation",
  nodegroup_create: "Nodegroup create", nodegroup_update: "Nodegroup update", nodegroup_delete: "Nodegroup delete",
};

export function kindName(kind) {
  return KIND_NAMES[kind] || String(kind || "").replace(/_/g, " ");
}

// State of each phase: "done" | "running" | "failed" | "todo".
export function phaseStates(op) {
  const phases = op.phases || [];
  const at = phases.indexOf(op.phase);
  return phases.map((phase, index) => {
    if (op.state === "succeeded") return "done";
    if (at < 0) return "todo";
    if (index < at) return "done";
    if (index > at) return "todo";
    if (op.state === "failed") return "failed";
    if (op.state === "superseded") return "todo";
    return "running";
  });
}

export function progressView(op, now = Date.now()) {
  const states = phaseStates(op);
  const done = states.filter((s) => s === "done").length;
  const open = op.state === "pending" || op.state === "running";
  const created = Date.parse(op.created_at);
  const end = op.finished_at ? Date.parse(op.finished_at) : now;
  const deadline = Date.parse(op.deadline);
  const running = op.phases[states.indexOf("running")];
  const failed = op.phases[states.indexOf("failed")];
  let headline;
  if (op.state === "succeeded") headline = `${kindName(op.kind)} complete`;
  else if (op.state === "failed") headline = `${kindName(op.kind)} failed in phase ${PHASE_NAMES[failed] || failed || op.phase || "?"}`;
  else if (op.state === "superseded") headline = `${kindName(op.kind)} superseded`;
  else if (running) headline = `${kindName(op.kind)}: ${PHASE_NAMES[running] || running}`;
  else headline = `${kindName(op.kind)}: waiting for a conductor`;
  const percent = op.state === "succeeded" ? 100 : Math.round((100 * done) / Math.max(1, states.length));
  return h("section", { class: `progress ${op.state}`, "aria-label": "Progress", "data-state": op.state, "data-phase": op.phase || "" },
    h("h2", { class: "progress-title", text: headline }),
    h("progress", { max: 100, value: percent, "aria-label": `${kindName(op.kind)} progress`, "aria-valuetext": `${percent}%, ${headline}` }),
    h("ol", { class: "phases" }, op.phases.map((phase, index) => {
      const started = op.phase_times && op.phase_times[phase];
      const nextStart = op.phases.slice(index + 1).map((p) => op.phase_times && op.phase_times[p]).find(Boolean);
      const took = started && states[index] === "done" ? Date.parse(nextStart || op.finished_at || "") - Date.parse(started) : null;
      const stateText = { done: "done", running: "running", failed: "failed", todo: "to do" }[states[index]];
      return h("li", { class: `phase ${states[index]}`, "data-phase": phase, "data-state": states[index] },
        h("span", { class: "phase-name", text: PHASE_NAMES[phase] || phase }),
        h("span", { class: "phase-state", text: took !== null && !Number.isNaN(took) ? `${stateText}, ${duration(took)}` : stateText }));
    })),
    h("p", { class: "progress-times" },
      `Elapsed ${duration(end - created)}`,
      open ? ` · deadline ${when(op.deadline)} (in ${duration(deadline - now)})` : ` · finished ${when(op.finished_at)}`,
      op.attempts ? ` · ${op.attempts} retr${op.attempts === 1 ? "y" : "ies"}` : ""),
    op.reason && op.state !== "succeeded" ? h("p", { class: op.state === "failed" ? "error" : "muted", text: op.reason }) : null);
}
