// Sign-in: noauth (choose the project, user and roles the requests will carry) or Keystone.

import { h, append } from "../dom.js";
import { Form } from "../forms.js";
import * as session from "../session.js";

const RECENT = "jeroboam.recent-projects";

function recentProjects() {
  try {
    return JSON.parse(localStorage.getItem(RECENT) || "[]").filter((p) => typeof p === "string");
  } catch {
    return [];
  }
}

function remember(project) {
  const projects = [project, ...recentProjects().filter((p) => p !== project)].slice(0, 8);
  localStorage.setItem(RECENT, JSON.stringify(projects));
}

export function signInPage(ctx, done) {
  const { main, config } = ctx;
  append(main, h("h1", { text: "Sign in" }));
  if (config.auth_strategy === "keystone") {
    append(main, h("p", { class: "muted", text: "This server checks identities with Keystone. Your token stays in this browser tab only." }));
    const form = new Form("Keystone sign-in", async (values) => {
      const response = await fetch(config.keystone.sign_in, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(values),
        credentials: "omit",
        cache: "no-store",
      });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 201) {
        form.showError({ detail: body.message || `Sign-in failed (HTTP ${response.status}).` }, body.field || "password");
        return;
      }
      session.save({
        kind: "keystone", token: body.token, expires_at: body.expires_at, user_name: body.user.name,
        user_id: body.user.id, project_name: body.project.name, project_id: body.project.id, roles: body.roles,
      });
      done();
    });
    form.field("username", "User name", { required: true, autocomplete: "username" });
    form.field("password", "Password", { kind: "password", required: true, autocomplete: "current-password" });
    form.field("project_name", "Project", { required: true, hint: "The project whose clusters you work with." });
    form.field("user_domain_name", "User domain", { value: "Default" });
    form.field("project_domain_name", "Project domain", { value: "Default" });
    append(main, form.submit("Sign in").el);
    return null;
  }
  const defaults = config.noauth || {};
  append(main, h("p", { class: "muted",
    text: "This server runs without authentication (noauth): choose whom the requests are made as. Anyone who can reach it can do the same." }));
  const listId = "recent-projects";
  append(main, h("datalist", { id: listId }, recentProjects().map((p) => h("option", { value: p }))));
  const form = new Form("Sign in without authentication", async (values) => {
    const roles = ["admin", "member", "reader"].filter((role) => values[`role_${role}`]);
    if (!values.project) {
      form.showError({ detail: "Choose a project." }, "project");
      return;
    }
    if (!roles.length) {
      form.showError({ detail: "Choose at least one role." }, "role_reader");
      return;
    }
    remember(values.project);
    session.save({ kind: "noauth", project: values.project, user: values.user || defaults.default_user_id || "admin", roles });
    done();
  });
  const roles = defaults.default_roles || ["member", "reader"];
  form.field("project", "Project", { required: true, value: recentProjects()[0] || defaults.default_project_id || "default",
    list: listId, hint: "Sent as X-Project-Id. Each project sees only its own clusters and templates." });
  form.field("user", "User", { value: defaults.default_user_id || "admin", hint: "Sent as X-User-Id." });
  form.field("role_admin", "admin (every project, quotas, services)", { kind: "checkbox", value: roles.includes("admin") });
  form.field("role_member", "member (create and change)", { kind: "checkbox", value: roles.includes("member") });
  form.field("role_reader", "reader (look only)", { kind: "checkbox", value: roles.includes("reader"),
    hint: "Sent as X-Roles." });
  append(main, form.submit("Sign in").el);
  return null;
}
