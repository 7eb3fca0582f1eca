// Clusters: the list (refreshing by itself) and the create form (defaults from the template).

import * as api from "../api.js";
import { h, append, replace, badge } from "../dom.js";
import { Form, parseLabels, formatLabels } from "../forms.js";
import { Poller, inProgress } from "../poll.js";

const COLUMNS = ["Name", "Status", "Health", "Masters", "Nodes", "Template"];

function cells(cluster, templates) {
  return [
    h("a", { href: `#/clusters/${encodeURIComponent(cluster.uuid)}`, text: cluster.name || cluster.uuid }),
    badge(cluster.status),
    badge(cluster.health_status || "UNKNOWN"),
    String(cluster.master_count ?? "—"),
    String(cluster.node_count ?? "—"),
    templates.get(cluster.cluster_template_id) || cluster.cluster_template_id,
  ];
}

function signature(cluster) {
  return [cluster.name, cluster.status, cluster.health_status, cluster.master_count, cluster.node_count, cluster.cluster_template_id].join("\u0000");
}

export function clustersPage(ctx) {
  const { main } = ctx;
  const status = h("p", { class: "muted", role: "status", "aria-live": "polite", text: "Loading…" });
  const tbody = h("tbody", {});
  const tableEl = h("div", { class: "table-wrap", hidden: true }, h("table", { class: "clusters" },
    h("caption", { class: "sr-only", text: "Clusters" }),
    h("thead", {}, h("tr", {}, COLUMNS.map((title) => h("th", { scope: "col", text: title })))),
    tbody));
  const empty = h("p", { hidden: true }, "No clusters in this project yet. ",
    h("a", { href: "#/clusters/new", text: "Create one" }), " from a cluster template.");
  append(main, h("div", { class: "page-head" }, h("h1", { text: "Clusters" }),
    h("a", { class: "button primary", href: "#/clusters/new", text: "Create cluster" })), status, empty, tableEl);
  const rows = new Map(); // uuid -> {tr, sig}
  let templates = new Map();
  let templatesLoaded = 0;

  const poller = new Poller(async () => {
    // Template names (for the Template column) at most once a minute, alongside the clusters.
    const names = Date.now() - templatesLoaded > 60000
      ? api.all("/clustertemplates", "clustertemplates").catch(() => null)
      : Promise.resolve(null);
    let clusters;
    try {
      const [list, found] = await Promise.all([names, api.all("/clusters", "clusters")]);
      if (list) {
        templates = new Map(list.map((t) => [t.uuid, t.name]));
        templatesLoaded = Date.now();
        for (const row of rows.values()) row.sig = ""; // names may have changed
      }
      clusters = found;
    } catch (error) {
      replace(status, h("span", { class: "error", text: error.detail }));
      return false;
    }
    const seen = new Set();
    for (const cluster of clusters) {
      seen.add(cluster.uuid);
      const sig = signature(cluster);
      let row = rows.get(cluster.uuid);
      if (!row) {
        row = { tr: h("tr", { "data-uuid": cluster.uuid }), sig: "" };
        rows.set(cluster.uuid, row);
      }
      if (row.sig !== sig) {
        replace(row.tr, cells(cluster, templates).map((cell) => h("td", {}, cell)));
        row.sig = sig;
      }
    }
    for (const [uuid, row] of rows) if (!seen.has(uuid)) { row.tr.remove(); rows.delete(uuid); }
    const desired = clusters.map((c) => rows.get(c.uuid).tr);
    const inOrder = tbody.children.length === desired.length && desired.every((tr, i) => tbody.children[i] === tr);
    if (!inOrder) {
      // New rows or a new order: the body is rebuilt in the API's order with one append.
      const fragment = document.createDocumentFragment();
      fragment.append(...desired);
      tbody.append(fragment);
    }
    tableEl.hidden = clusters.length === 0;
    empty.hidden = clusters.length !== 0;
    const busy = clusters.filter((c) => inProgress(c.status)).length;
    replace(status, `${clusters.length} cluster${clusters.length === 1 ? "" : "s"}` +
      (busy ? `, ${busy} in progress (refreshing every 2 s)` : " (refreshing every 15 s)") + ".");
    if (!main.dataset.loaded) {
      // When the first list is on screen (read by bench/dashboard.py).
      requestAnimationFrame(() => performance.mark("jeroboam:clusters-shown"));
    }
    main.dataset.loaded = "true";
    return busy > 0;
  });
  poller.now();
  return () => poller.stop();
}

export function clusterCreatePage(ctx, templateId) {
  const { main } = ctx;
  append(main, h("h1", { text: "Create a cluster" }));
  const holder = h("div", {}, h("p", { class: "muted", text: "Loading templates…" }));
  append(main, holder);
  api.all("/clustertemplates/detail", "clustertemplates").then((templates) => {
    const usable = templates.filter((t) => !t.hidden || t.uuid === templateId);
    if (!usable.length) {
      replace(holder, h("p", {}, "There is no cluster template yet. ", h("a", { href: "#/templates/new", text: "Create one first" }), "."));
      return;
    }
    const form = new Form("Create a cluster", async (values) => {
      const body = {
        name: values.name, cluster_template_id: values.cluster_template_id, master_count: values.master_count,
        node_count: values.node_count, flavor_id: values.flavor_id, master_flavor_id: values.master_flavor_id,
        keypair: values.keypair, create_timeout: values.create_timeout,
      };
      try {
        body.labels = parseLabels(values.labels);
      } catch (error) {
        form.showError({ detail: error.message }, "labels");
        return;
      }
      for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
      const created = await api.post("/clusters", body);
      ctx.go(`#/clusters/${encodeURIComponent(created.uuid)}`);
    });
    form.field("name", "Name", { required: true, hint: "Letters, digits, '-', '_' and '.', starting with a letter." });
    const template = form.field("cluster_template_id", "Cluster template", { kind: "select", required: true,
      choices: usable.map((t) => [t.uuid, `${t.name} (${t.coe}, ${t.driver || "default driver"})`]),
      value: templateId && usable.some((t) => t.uuid === templateId) ? templateId : usable[0].uuid,
      hint: "What the cluster runs on; the fields below start from its values." });
    form.field("master_count", "Masters", { kind: "number", min: 1, value: 1, hint: "Managers of the control plane: 1, 3, 5 or 7 (more than one needs the template's master load balancer)." });
    form.field("node_count", "Worker nodes", { kind: "number", min: 0, value: 1, hint: "Nodes of the default worker nodegroup." });
    const flavor = form.field("flavor_id", "Flavor", { hint: "Worker size; empty: the template's." });
    const masterFlavor = form.field("master_flavor_id", "Master flavor", { hint: "Master size; empty: the template's." });
    form.field("keypair", "Key pair", { hint: "Empty: the template's." });
    form.field("create_timeout", "Create timeout (minutes)", { kind: "number", min: 1, value: 60,
      hint: "The create fails with a reason if it has not finished by then." });
    const labels = form.field("labels", "Labels", { kind: "textarea", rows: 4,
      hint: "One key=value per line; empty: the template's labels. On the sim driver, sim_latency=2 slows every phase, sim_fail_phase=workers makes that phase fail once." });
    const fill = () => {
      const chosen = usable.find((t) => t.uuid === template.value);
      flavor.placeholder = chosen.flavor_id || "";
      masterFlavor.placeholder = chosen.master_flavor_id || "";
      labels.value = formatLabels(chosen.labels);
    };
    template.addEventListener("change", fill);
    fill();
    replace(holder, form.submit("Create cluster").el);
  }).catch((error) => replace(holder, h("p", { class: "error", role: "alert", text: error.detail })));
  return null;
}
