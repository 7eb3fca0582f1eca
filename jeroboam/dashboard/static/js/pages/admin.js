// Admin: quotas, conductor services (up/down) and stats.

import * as api from "../api.js";
import { h, append, replace, badge, table, when, dl } from "../dom.js";
import { Form } from "../forms.js";

export function adminPage(ctx) {
  const { main } = ctx;
  const stats = h("div", {});
  const services = h("div", {});
  const quotas = h("div", {});
  append(main, h("h1", { text: "Admin" }),
    h("section", { class: "card" }, h("h2", { text: "Stats" }), stats),
    h("section", { class: "card" }, h("h2", { text: "Conductors" }), services),
    h("section", { class: "card" }, h("h2", { text: "Quotas" }), quotas));
  api.get("/stats").then((s) => replace(stats, dl([["Clusters", s.clusters], ["Nodes", s.nodes]])))
    .catch((e) => replace(stats, h("p", { class: "error", text: e.detail })));
  api.get("/mservices").then(({ mservices }) => replace(services, table("Conductors", ["Host", "Binary", "State", "Reports", "Last update"],
    mservices.map((s) => h("tr", {}, h("td", { text: s.host }), h("td", { text: s.binary }), h("td", {}, badge(s.state)),
      h("td", { text: String(s.report_count) }), h("td", { text: when(s.updated_at || s.created_at) }))))))
    .catch((e) => replace(services, h("p", { class: "error", text: e.detail })));
  const loadQuotas = () => api.get("/quotas").then(({ quotas: list }) => {
    const form = new Form("Set a quota", async (values) => {
      const exists = list.some((q) => q.project_id === values.project_id && q.resource === values.resource);
      if (exists) {
        await api.patch(`/quotas/${encodeURIComponent(values.project_id)}/${values.resource}`, [api.replaceOp("/hard_limit", values.hard_limit)]);
      } else {
        await api.post("/quotas", { project_id: values.project_id, resource: values.resource, hard_limit: values.hard_limit });
      }
      loadQuotas();
    });
    form.field("project_id", "Project", { required: true });
    form.field("resource", "Resource", { kind: "select", choices: ["Cluster"], value: "Cluster" });
    form.field("hard_limit", "Limit", { kind: "number", min: 0, value: 20, hint: "Clusters the project may own." });
    form.submit("Set quota");
    replace(quotas, list.length ? table("Quotas", ["Project", "Resource", "Limit", ""], list.map((q) => h("tr", {},
      h("td", { text: q.project_id }), h("td", { text: q.resource }), h("td", { text: String(q.hard_limit) }),
      h("td", {}, h("button", { type: "button", class: "danger", text: "Delete", onclick: async () => {
        await api.del(`/quotas/${encodeURIComponent(q.project_id)}/${q.resource}`).catch((e) => form.showError(e));
        loadQuotas();
      } })))))
      : h("p", { class: "muted", text: "No quotas: every project has the default limit." }), form.el);
  }).catch((e) => replace(quotas, h("p", { class: "error", text: e.detail })));
  loadQuotas();
  return null;
}
