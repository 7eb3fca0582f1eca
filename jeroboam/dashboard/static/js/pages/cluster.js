// One cluster: progress of its current operation, facts, nodes and their health, nodegroups,
// actions (resize, upgrade, certificates, configuration, delete) and its history.

import * as api from "../api.js";
import { h, append, replace, badge, dl, table, when, download } from "../dom.js";
import { confirmAction } from "../dialog.js";
import { Form } from "../forms.js";
import { Poller, inProgress } from "../poll.js";
import { progressView, kindName, PHASE_NAMES } from "../progress.js";
import { clusterConfig } from "../config_bundle.js";

function nodesOf(cluster) {
  const reason = cluster.health_status_reason || {};
  return Object.entries(reason)
    .filter(([key]) => key.endsWith(".Ready"))
    .map(([key, value]) => ({ name: key.slice(0, -".Ready".length), ready: String(value) === "True", reason: String(value) }));
}

function section(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h2", { text: title }), children);
}

export function clusterPage(ctx, ident) {
  const { main } = ctx;
  const head = h("div", { class: "page-head" }, h("h1", { text: "Cluster" }));
  const notice = h("p", { role: "status", "aria-live": "polite", class: "notice" });
  const progress = h("div", { class: "progress-holder" });
  const recovery = h("div", {});
  const facts = h("div", {});
  const nodes = h("div", {});
  const groups = h("div", {});
  const history = h("div", {});
  const actions = h("div", { class: "grid" });
  append(main, head, notice, progress, recovery,
    h("div", { class: "columns" }, section("Overview", facts), section("Nodes", nodes)),
    section("Nodegroups", groups), actions, section("History", history));

  let cluster = null;
  let template = null;
  let lastGroupsSig = "";
  let builtActions = false;
  let resizeNodes = null;

  const tell = (message, kind = "info") => {
    replace(notice, message ? h("span", { class: kind === "error" ? "error" : "", text: message }) : "");
  };
  const act = (label, run) => async () => {
    tell(`${label}…`);
    try {
      await run();
      tell(`${label}: accepted.`);
      poller.now();
    } catch (error) {
      tell(`${label}: ${error.detail || error.message}`, "error");
    }
  };

  const removeCluster = async () => {
    const ok = await confirmAction({ title: `Delete cluster ${cluster.name}?`, confirm: "Delete cluster", typeToConfirm: cluster.name,
      text: "Every node, network and certificate of this cluster is removed. This cannot be undone." });
    if (ok) await act("Delete", () => api.del(`/clusters/${cluster.uuid}`))();
  };

  function renderRecovery() {
    if (!/_FAILED$/.test(cluster.status)) {
      replace(recovery);
      return;
    }
    const retry = cluster.status === "DELETE_FAILED"
      ? act("Retry delete", () => api.del(`/clusters/${cluster.uuid}`))
      : act("Retry", () => api.patch(`/clusters/${cluster.uuid}`, [api.replaceOp("/node_count", cluster.node_count)]));
    replace(recovery, h("div", { class: "recovery", role: "group", "aria-label": "What you can do" },
      h("p", { text: "What you can do: retry the operation as it was, change the request (resize or upgrade below), or delete the cluster." }),
      h("div", { class: "toolbar" },
        h("button", { type: "button", class: "primary", text: "Retry", onclick: retry }),
        h("button", { type: "button", text: "Change…", onclick: () => { const input = main.querySelector("#resize-count"); if (input) input.focus(); } }),
        h("button", { type: "button", class: "danger", text: "Delete…", onclick: removeCluster }))));
  }

  function renderFacts() {
    replace(head, h("h1", { text: `Cluster ${cluster.name}` }), h("div", { class: "badges" },
      badge(cluster.status), " ", badge(cluster.health_status || "UNKNOWN")));
    const faults = cluster.faults && Object.keys(cluster.faults).length
      ? h("ul", { class: "faults" }, Object.entries(cluster.faults).map(([k, v]) => h("li", { text: `${k}: ${v}` })))
      : null;
    replace(facts, dl([
      ["Status", badge(cluster.status)], ["Status reason", cluster.status_reason || "—"],
      faults ? ["Faults", faults] : null,
      ["Health", badge(cluster.health_status || "UNKNOWN")], ["UUID", cluster.uuid],
      ["Template", template ? h("a", { href: `#/templates/${template.uuid}`, text: template.name }) : cluster.cluster_template_id],
      ["API address", cluster.api_address || "—"], ["COE version", cluster.coe_version || "—"],
      ["Masters", cluster.master_count], ["Worker nodes", cluster.node_count],
      ["Master addresses", (cluster.master_addresses || []).join(", ") || "—"],
      ["Node addresses", (cluster.node_addresses || []).join(", ") || "—"],
      ["Flavor", cluster.flavor_id], ["Master flavor", cluster.master_flavor_id], ["Key pair", cluster.keypair || "—"],
      ["Create timeout", `${cluster.create_timeout} min`], ["Created", when(cluster.created_at)], ["Updated", when(cluster.updated_at)],
      ["Labels", Object.keys(cluster.labels || {}).length
        ? h("ul", { class: "labels" }, Object.entries(cluster.labels).map(([k, v]) => h("li", {}, h("code", { text: `${k}=${v}` }))))
        : "none"],
    ]));
    const list = nodesOf(cluster);
    replace(nodes, list.length
      ? table("Nodes and their health", ["Node", "Health", "Detail"], list.map((n) => h("tr", {},
        h("td", { text: n.name }), h("td", {}, badge(n.ready ? "HEALTHY" : "UNHEALTHY")), h("td", { text: n.ready ? "Ready" : n.reason }))))
      : h("p", { class: "muted", text: "No node health reported yet (it comes with the first health check of a complete cluster)." }));
    if (resizeNodes) {
      const checked = new Set([...resizeNodes.querySelectorAll("input:checked")].map((i) => i.value));
      replace(resizeNodes, list.length ? h("fieldset", {}, h("legend", { text: "Nodes to remove first (optional)" }),
        list.filter((n) => !/-master-/.test(n.name)).map((n, i) => h("div", { class: "check" },
          h("input", { type: "checkbox", id: `rm-${i}`, value: n.name, checked: checked.has(n.name) }),
          h("label", { for: `rm-${i}`, text: n.name })))) : "");
    }
  }

  async function renderGroups(latest) {
    // Nodegroups change with operations: read them again when the cluster or its latest operation moved.
    const sig = [cluster.status, cluster.node_count, cluster.master_count, cluster.updated_at,
      latest && latest.uuid, latest && latest.state].join("|");
    if (sig === lastGroupsSig) return;
    lastGroupsSig = sig;
    let list;
    try {
      const summary = await api.get(`/clusters/${cluster.uuid}/nodegroups`);
      list = await Promise.all(summary.nodegroups.map((ng) => api.get(`/clusters/${cluster.uuid}/nodegroups/${ng.uuid}`)));
    } catch (error) {
      replace(groups, h("p", { class: "error", text: error.detail }));
      return;
    }
    const rows = list.map((ng) => {
      const editForm = new Form(`Update nodegroup ${ng.name}`, async (values) => {
        // Bounds are the nodegroup's own fields (PATCH); its size changes with a resize, as in Magnum.
        const ops = [];
        for (const field of ["min_node_count", "max_node_count"]) {
          if (values[field] !== undefined && values[field] !== ng[field]) ops.push(api.replaceOp(`/${field}`, values[field]));
        }
        if (ops.length) await api.patch(`/clusters/${cluster.uuid}/nodegroups/${ng.uuid}`, ops);
        if (values.node_count !== undefined && values.node_count !== ng.node_count) {
          await api.post(`/clusters/${cluster.uuid}/actions/resize`, { node_count: values.node_count, nodegroup: ng.uuid });
        }
        tell(`Nodegroup ${ng.name}: change accepted.`);
        lastGroupsSig = "";
        poller.now();
      });
      editForm.field("node_count", "Nodes", { kind: "number", min: 0, value: ng.node_count });
      editForm.field("min_node_count", "Minimum", { kind: "number", min: 0, value: ng.min_node_count });
      editForm.field("max_node_count", "Maximum", { kind: "number", min: 0, value: ng.max_node_count ?? "" });
      editForm.submit("Update");
      const details = h("details", {}, h("summary", { text: "Change" }), editForm.el);
      const remove = ng.is_default ? null : h("button", { type: "button", class: "danger", text: "Delete",
        onclick: async () => {
          if (await confirmAction({ title: `Delete nodegroup ${ng.name}?`, text: "Its nodes are drained and removed.", confirm: "Delete nodegroup" })) {
            await act(`Delete nodegroup ${ng.name}`, () => api.del(`/clusters/${cluster.uuid}/nodegroups/${ng.uuid}`))();
            lastGroupsSig = "";
          }
        } });
      return h("tr", {}, h("td", { text: ng.name }), h("td", { text: ng.role }), h("td", { text: String(ng.node_count) }),
        h("td", { text: `${ng.min_node_count ?? 0}–${ng.max_node_count ?? "∞"}` }), h("td", {}, badge(ng.status)),
        h("td", { text: (ng.node_addresses || []).join(", ") || "—" }), h("td", { text: ng.flavor_id || "—" }),
        h("td", {}, ng.role === "master" ? "—" : [details, remove]));
    });
    const createForm = new Form("Create a nodegroup", async (values) => {
      const body = { name: values.name, node_count: values.node_count, flavor_id: values.flavor_id, role: values.role,
        min_node_count: values.min_node_count, max_node_count: values.max_node_count };
      for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
      await api.post(`/clusters/${cluster.uuid}/nodegroups`, body);
      tell(`Nodegroup ${values.name}: create accepted.`);
      lastGroupsSig = "";
      poller.now();
    });
    createForm.field("name", "Name", { required: true });
    createForm.field("node_count", "Nodes", { kind: "number", min: 0, value: 1 });
    createForm.field("role", "Role", { value: "worker", hint: "Any role but master; shown as a swarm node label." });
    createForm.field("flavor_id", "Flavor", { hint: "Empty: the cluster's." });
    createForm.field("min_node_count", "Minimum", { kind: "number", min: 0 });
    createForm.field("max_node_count", "Maximum", { kind: "number", min: 0 });
    createForm.submit("Create nodegroup");
    replace(groups, table("Nodegroups", ["Name", "Role", "Nodes", "Bounds", "Status", "Addresses", "Flavor", ""], rows),
      h("details", {}, h("summary", { text: "Add a nodegroup" }), createForm.el));
  }

  async function buildActions() {
    builtActions = true;
    const resize = new Form("Resize", async (values) => {
      const nodesToRemove = [...resizeNodes.querySelectorAll("input:checked")].map((i) => i.value);
      const body = { node_count: values.node_count };
      if (nodesToRemove.length) body.nodes_to_remove = nodesToRemove;
      await api.post(`/clusters/${cluster.uuid}/actions/resize`, body);
      tell("Resize: accepted.");
      poller.now();
    });
    resize.field("node_count", "Worker nodes", { kind: "number", min: 0, value: cluster.node_count, id: "resize-count",
      hint: "The default worker nodegroup's new size." });
    resizeNodes = h("div", {});
    resize.el.append(resizeNodes);
    resize.submit("Resize");

    const templates = await api.all("/clustertemplates", "clustertemplates").catch(() => []);
    const upgrade = new Form("Upgrade", async (values) => {
      await api.post(`/clusters/${cluster.uuid}/actions/upgrade`, { cluster_template: values.cluster_template, max_batch_size: values.max_batch_size });
      tell("Upgrade: accepted.");
      poller.now();
    });
    upgrade.field("cluster_template", "New template", { kind: "select", choices: templates.map((t) => [t.uuid, t.name]),
      value: cluster.cluster_template_id, hint: "Nodes are replaced by nodes of this template's image and flavor." });
    upgrade.field("max_batch_size", "Nodes at a time", { kind: "number", min: 1, value: 1 });
    upgrade.submit("Upgrade");

    const caText = h("pre", { class: "pem", hidden: true, tabindex: 0, "aria-label": "CA certificate" });
    const showCa = async () => {
      try {
        const ca = await api.get(`/certificates/${cluster.uuid}`);
        caText.textContent = ca.pem;
        caText.hidden = false;
      } catch (error) {
        tell(`CA: ${error.detail}`, "error");
      }
    };
    const downloadConfig = async () => {
      tell("Making a key and a certificate for you…");
      try {
        const { filename, blob } = await clusterConfig(cluster, template);
        download(filename, blob);
        tell(`Saved ${filename}. Unpack it and run: . ./env.sh (kubernetes: export KUBECONFIG=<file>).`);
      } catch (error) {
        tell(`Configuration: ${error.detail || error.message}`, "error");
      }
    };
    replace(actions,
      section("Resize", resize.el),
      section("Upgrade", upgrade.el),
      section("Access and certificates",
        h("p", { class: "hint", text: "The configuration holds a new client certificate (signed by the cluster CA for a key made in this browser), the CA and the environment for the docker CLI — what `openstack coe cluster config` gives." }),
        h("div", { class: "toolbar" },
          h("button", { type: "button", class: "primary", text: "Download configuration", onclick: downloadConfig }),
          h("button", { type: "button", text: "Show CA", onclick: showCa }),
          h("button", { type: "button", text: "Rotate CA", onclick: async () => {
            if (await confirmAction({ title: "Rotate the CA?", text: "Certificates signed by the current CA stop working; download a new configuration afterwards.", confirm: "Rotate CA" })) {
              await act("CA rotation", () => api.patch(`/certificates/${cluster.uuid}`))();
            }
          } }),
          h("button", { type: "button", text: "Rotate credentials", onclick: act("Credential rotation", () => api.patch(`/credentials/${cluster.uuid}`)) })),
        caText),
      section("Delete", h("p", { class: "hint", text: "Removes every node, network and certificate of the cluster." }),
        h("button", { type: "button", class: "danger", text: "Delete cluster…", onclick: removeCluster })));
  }

  function renderHistory(operations) {
    replace(history, operations.length ? table("Operations", ["What", "Who", "When", "Outcome", "Phases", "Detail"],
      operations.map((op) => h("tr", {},
        h("td", { text: kindName(op.kind) }),
        h("td", { text: `${op.user_id || "?"} (${op.project_id})` }),
        h("td", { text: when(op.created_at) }),
        h("td", {}, badge(op.state)),
        h("td", { text: op.phases.filter((p) => op.phase_times && op.phase_times[p]).map((p) => PHASE_NAMES[p] || p).join(" → ") || "—" }),
        h("td", { text: op.reason || (op.request && Object.keys(op.request).length ? JSON.stringify(op.request) : "—") }))))
      : h("p", { class: "muted", text: "No operations recorded." }));
  }

  const poller = new Poller(async () => {
    let ops;
    try {
      cluster = await api.get(`/clusters/${encodeURIComponent(ident)}`);
      ops = (await api.get(`/jeroboam/clusters/${cluster.uuid}/operations`)).operations;
    } catch (error) {
      if (error.status === 404 && cluster) {
        replace(main, h("h1", { text: `Cluster ${cluster.name} is gone` }), h("p", {}, "It was deleted. ", h("a", { href: "#/clusters", text: "Back to the clusters" })));
        poller.stop();
        return false;
      }
      replace(head, h("h1", { text: "Cluster" }));
      tell(error.detail, "error");
      return false;
    }
    if (!template || template.uuid !== cluster.cluster_template_id) {
      template = await api.get(`/clustertemplates/${cluster.cluster_template_id}`).catch(() => null);
    }
    const latest = ops[0];
    replace(progress, latest ? progressView(latest) : "");
    renderFacts();
    renderRecovery();
    renderHistory(ops);
    if (!builtActions) {
      await buildActions();
      renderFacts();
    }
    await renderGroups(latest);
    main.dataset.loaded = "true";
    return inProgress(cluster.status) || Boolean(latest && (latest.state === "pending" || latest.state === "running"));
  });
  poller.now();
  return () => poller.stop();
}
