// Cluster templates: list, detail (public/hidden, delete), and the create form fed by the catalog.

import * as api from "../api.js";
import { h, append, replace, badge, dl, table, when } from "../dom.js";
import { confirmAction } from "../dialog.js";
import { Form, parseLabels } from "../forms.js";
import { isAdmin } from "../session.js";

export function templatesPage(ctx) {
  const { main } = ctx;
  const body = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
  append(main, h("div", { class: "page-head" }, h("h1", { text: "Cluster templates" }),
    h("a", { class: "button primary", href: "#/templates/new", text: "Create template" })), body);
  api.all("/clustertemplates/detail", "clustertemplates").then((templates) => {
    if (!templates.length) {
      replace(body, h("p", { text: "No cluster templates yet. A template says what every cluster made from it runs on." }));
      return;
    }
    replace(body, table("Cluster templates", ["Name", "COE", "Driver", "Image", "Flavor", "Visibility", "Created"],
      templates.map((t) => h("tr", {},
        h("td", {}, h("a", { href: `#/templates/${encodeURIComponent(t.uuid)}`, text: t.name || t.uuid })),
        h("td", { text: t.coe }), h("td", { text: t.driver || "—" }), h("td", { text: t.image_id }),
        h("td", { text: t.flavor_id || "—" }),
        h("td", {}, t.public ? badge("public", "plain") : badge("private", "plain"), t.hidden ? [" ", badge("hidden", "busy")] : null),
        h("td", { text: when(t.created_at) })))));
  }).catch((error) => replace(body, h("p", { class: "error", role: "alert", text: error.detail })));
  return null;
}

export function templatePage(ctx, ident) {
  const { main, session } = ctx;
  const body = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
  append(main, body);
  const load = async () => {
    let t;
    try {
      t = await api.get(`/clustertemplates/${encodeURIComponent(ident)}`);
    } catch (error) {
      replace(body, h("h1", { text: "Cluster template" }), h("p", { class: "error", role: "alert", text: error.detail }));
      return;
    }
    const status = h("p", { role: "status", class: "muted" });
    const toggle = (field, value) => async () => {
      try {
        await api.patch(`/clustertemplates/${t.uuid}`, [api.replaceOp(`/${field}`, value)]);
        load();
      } catch (error) {
        replace(status, h("span", { class: "error", text: error.detail }));
      }
    };
    const remove = async () => {
      const ok = await confirmAction({ title: `Delete template ${t.name}?`, text: "Clusters made from it must be deleted first.", confirm: "Delete template" });
      if (!ok) return;
      try {
        await api.del(`/clustertemplates/${t.uuid}`);
        ctx.go("#/templates");
      } catch (error) {
        replace(status, h("span", { class: "error", role: "alert", text: error.detail }));
      }
    };
    replace(body,
      h("div", { class: "page-head" }, h("h1", { text: `Template ${t.name}` }),
        h("a", { class: "button primary", href: `#/clusters/new/${encodeURIComponent(t.uuid)}`, text: "Create a cluster from it" })),
      h("div", { class: "toolbar" },
        h("button", { type: "button", text: t.public ? "Make private" : "Make public", onclick: toggle("public", !t.public),
          title: "Public templates are seen by every project (admins only, by default policy)." }),
        isAdmin(session) ? h("button", { type: "button", text: t.hidden ? "Unhide" : "Hide", onclick: toggle("hidden", !t.hidden),
          title: "Hidden templates are not offered for new clusters." }) : null,
        h("button", { type: "button", class: "danger", text: "Delete", onclick: remove })),
      status,
      dl([["UUID", t.uuid], ["COE", t.coe], ["Driver", t.driver], ["Server type", t.server_type], ["Image", t.image_id],
        ["OS distro", t.cluster_distro], ["Flavor", t.flavor_id], ["Master flavor", t.master_flavor_id],
        ["External network", t.external_network_id], ["Network driver", t.network_driver], ["Volume driver", t.volume_driver],
        ["Docker volume size (GB)", t.docker_volume_size], ["Master load balancer", String(t.master_lb_enabled)],
        ["Floating IPs", String(t.floating_ip_enabled)], ["Public", String(t.public)], ["Hidden", String(t.hidden)],
        ["Keypair", t.keypair_id], ["Project", t.project_id], ["Created", when(t.created_at)], ["Updated", when(t.updated_at)]]),
      h("h2", { text: "Labels" }),
      Object.keys(t.labels || {}).length
        ? table("Labels", ["Key", "Value"], Object.entries(t.labels).map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { text: String(v) }))))
        : h("p", { class: "muted", text: "No labels." }));
  };
  load();
  return null;
}

const EXPLAIN = {
  name: "How you and the CLI will refer to it. Letters, digits, '-', '_' and '.'.",
  coe: "The container orchestration engine the clusters run.",
  driver: "What builds the clusters: docker makes real Docker-in-Docker swarms on this machine; sim only simulates them (for tests).",
  image_id: "The node image. Its os_distro is shown in brackets.",
  flavor_id: "Size of each worker node (CPUs, memory).",
  master_flavor_id: "Size of each master (manager) node; empty: the worker flavor.",
  external_network_id: "The network the cluster's API is reached from.",
  docker_volume_size: "GB of storage for each node's container engine; empty: the driver's default.",
  labels: "One key=value per line, passed to the driver (e.g. sim_latency=1 on the sim driver).",
  master_lb_enabled: "A load balancer in front of the masters; needed for more than one master.",
  floating_ip_enabled: "Give nodes addresses on the external network.",
  public: "Every project may use it (admins only, by default policy).",
  hidden: "Not offered for new clusters (admins only).",
  keypair_id: "SSH key pair put on the nodes (optional).",
};

export function templateCreatePage(ctx) {
  const { main, session } = ctx;
  append(main, h("h1", { text: "Create a cluster template" }));
  const holder = h("div", {}, h("p", { class: "muted", text: "Loading what this server can build…" }));
  append(main, holder);
  api.get("/jeroboam/catalog").then(({ drivers }) => {
    const coes = [...new Set(drivers.flatMap((d) => d.provides.map((p) => p.coe)))];
    const form = new Form("Create a cluster template", async (values) => {
      const body = {
        name: values.name, coe: values.coe, driver: values.driver, server_type: values.server_type,
        image_id: values.image_id, flavor_id: values.flavor_id, master_flavor_id: values.master_flavor_id,
        external_network_id: values.external_network_id, keypair_id: values.keypair_id,
        docker_volume_size: values.docker_volume_size, master_lb_enabled: values.master_lb_enabled,
        floating_ip_enabled: values.floating_ip_enabled, public: values.public,
      };
      if (isAdmin(session)) body.hidden = values.hidden;
      try {
        body.labels = parseLabels(values.labels);
      } catch (error) {
        form.showError({ detail: error.message }, "labels");
        return;
      }
      for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
      const created = await api.post("/clustertemplates", body);
      ctx.go(`#/templates/${encodeURIComponent(created.uuid)}`);
    });
    form.field("name", "Name", { required: true, hint: EXPLAIN.name });
    const coe = form.field("coe", "COE", { kind: "select", choices: coes, value: coes.includes("swarm-mode") ? "swarm-mode" : coes[0], hint: EXPLAIN.coe });
    const driver = form.field("driver", "Driver", { kind: "select", choices: [], hint: EXPLAIN.driver });
    form.field("server_type", "Server type", { kind: "select", choices: [["vm", "vm (virtual machine)"], ["bm", "bm (bare metal)"]], value: "vm",
      hint: "What the nodes are; a driver builds some combinations of COE and server type only." });
    const image = form.field("image_id", "Image", { kind: "select", choices: [], required: true, hint: EXPLAIN.image_id });
    const flavor = form.field("flavor_id", "Flavor", { kind: "select", choices: [], hint: EXPLAIN.flavor_id });
    const masterFlavor = form.field("master_flavor_id", "Master flavor", { kind: "select", choices: [], hint: EXPLAIN.master_flavor_id });
    const network = form.field("external_network_id", "External network", { kind: "select", choices: [], hint: EXPLAIN.external_network_id });
    form.field("docker_volume_size", "Docker volume size (GB)", { kind: "number", min: 1, hint: EXPLAIN.docker_volume_size });
    form.field("keypair_id", "Key pair", { hint: EXPLAIN.keypair_id });
    form.field("labels", "Labels", { kind: "textarea", hint: EXPLAIN.labels });
    form.field("master_lb_enabled", "Master load balancer", { kind: "checkbox", hint: EXPLAIN.master_lb_enabled });
    form.field("floating_ip_enabled", "Floating IPs", { kind: "checkbox", hint: EXPLAIN.floating_ip_enabled });
    form.field("public", "Public", { kind: "checkbox", hint: EXPLAIN.public });
    if (isAdmin(session)) form.field("hidden", "Hidden", { kind: "checkbox", hint: EXPLAIN.hidden });
    const options = (select, choices, keep) => {
      const before = select.value;
      replace(select, choices.map(([value, text]) => h("option", { value, text })));
      if (keep && choices.some(([value]) => value === before)) select.value = before;
    };
    const fillDriver = () => {
      const found = drivers.find((d) => d.name === driver.value) || drivers[0];
      options(image, found.images.map((i) => [i.name, `${i.name} (${i.os_distro})`]), true);
      const sizes = found.flavors.map((f) => [f.name, `${f.name} (${f.vcpus} vCPU, ${f.ram} MiB)`]);
      options(flavor, [["", "driver default"], ...sizes], true);
      options(masterFlavor, [["", "same as flavor"], ...sizes], true);
      options(network, [["", "none"], ...found.external_networks.map((n) => [n, n])], true);
      if (!network.value && found.external_networks.length) network.value = found.external_networks[0];
    };
    const fillCoe = () => {
      const supporting = drivers.filter((d) => d.provides.some((p) => p.coe === coe.value));
      options(driver, supporting.map((d) => [d.name, d.name]), true);
      fillDriver();
    };
    coe.addEventListener("change", fillCoe);
    driver.addEventListener("change", fillDriver);
    fillCoe();
    replace(holder, form.submit("Create template").el);
  }).catch((error) => replace(holder, h("p", { class: "error", role: "alert", text: error.detail })));
  return null;
}
