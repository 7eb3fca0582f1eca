// The cluster configuration `openstack coe cluster config` writes, made in the browser:
// a key pair (WebCrypto; the private key never leaves this page), a CSR signed by the cluster CA
// through POST /v1/certificates, the CA from GET /v1/certificates/{cluster}; then either
// a tar of ca.pem, cert.pem, key.pem and env.sh (swarm / swarm-mode: DOCKER_HOST and friends),
// or a kubeconfig with the certificates inline (kubernetes).

import * as api from "./api.js";

const encoder = new TextEncoder();

function concat(parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// --- DER, just what a PKCS#10 request needs
function derLength(n) {
  if (n < 128) return [n];
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 255);
  return [0x80 | bytes.length, ...bytes];
}
const tlv = (tag, content) => concat([Uint8Array.from([tag, ...derLength(content.length)]), content]);
const sequence = (...parts) => tlv(0x30, concat(parts));
const set = (...parts) => tlv(0x31, concat(parts));
const utf8String = (text) => tlv(0x0c, encoder.encode(text));
const bitString = (bytes) => tlv(0x03, concat([Uint8Array.of(0), bytes]));
function oid(dotted) {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}
const SHA256_WITH_RSA = sequence(oid("1.2.840.113549.1.1.11"), Uint8Array.of(0x05, 0x00));

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function pem(label, bytes) {
  const lines = base64(bytes).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

// The client certificate's subject: CN=admin, O=system:masters, as the CLI asks for.
export async function makeCsr() {
  if (!window.crypto || !crypto.subtle) {
    throw new Error("This browser offers no WebCrypto here: open the dashboard over https or on localhost to make a key.");
  }
  const keys = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" },
    true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const subject = sequence(
    set(sequence(oid("2.5.4.10"), utf8String("system:masters"))),
    set(sequence(oid("2.5.4.3"), utf8String("admin"))));
  const info = sequence(tlv(0x02, Uint8Array.of(0)), subject, spki, Uint8Array.of(0xa0, 0x00));
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", keys.privateKey, info));
  const csr = sequence(info, SHA256_WITH_RSA, bitString(signature));
  const key = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { csr: pem("CERTIFICATE REQUEST", csr), key: pem("PRIVATE KEY", key) };
}

// --- a ustar archive of small text files
function tarHeader(name, size, mode) {
  const header = new Uint8Array(512);
  const put = (text, at, width) => header.set(encoder.encode(text).subarray(0, width), at);
  const octal = (value, width) => value.toString(8).padStart(width - 1, "0") + "\0";
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  put("        ", 148, 8);
  put(name.endsWith("/") ? "5" : "0", 156, 1);
  put("ustar\u000000", 257, 8);
  const sum = header.reduce((n, b) => n + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return header;
}

export function tar(files) {
  const parts = [];
  for (const { name, text, mode } of files) {
    const body = encoder.encode(text);
    parts.push(tarHeader(name, body.length, mode || 0o644), body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

function isKubernetes(cluster, template) {
  return (template && template.coe === "kubernetes") || /^https:/.test(cluster.api_address || "");
}

// A cluster whose template has registry_enabled: how to push to its registry and name the image.
function registryLines(cluster) {
  if (!cluster.registry_push_address) return [];
  const push = cluster.registry_push_address;
  return [
    "#",
    "# The cluster's own registry (TLS signed by the cluster CA, ca.pem here). Push from the engine's host",
    `# (Docker treats 127.0.0.0/8 as an insecure registry; any other address needs ca.pem as`,
    `# /etc/docker/certs.d/${push}/ca.crt):`,
    `#   docker tag IMAGE ${push}/NAME && docker push ${push}/NAME`,
    `# and run it in the cluster as ${cluster.registry_address}/NAME (the nodes trust the cluster CA for it).`,
    `export JEROBOAM_REGISTRY_PUSH=${push}`,
    `export JEROBOAM_REGISTRY=${cluster.registry_address}`,
  ];
}

function envScript(cluster) {
  return [
    `# Docker client environment for cluster ${cluster.name} (${cluster.uuid}), made by the Jeroboam dashboard.`,
    "# Use it with:  . ./env.sh   (from this directory)",
    `export DOCKER_HOST=${cluster.api_address}`,
    'export DOCKER_CERT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"',
    "export DOCKER_TLS_VERIFY=1",
    ...registryLines(cluster),
    "",
  ].join("\n");
}

function kubeconfig(cluster, ca, cert, key) {
  const b64 = (text) => btoa(text);
  return [
    "apiVersion: v1", "kind: Config", "preferences: {}",
    "clusters:", "- name: " + JSON.stringify(cluster.name), "  cluster:",
    `    server: ${JSON.stringify(cluster.api_address)}`, `    certificate-authority-data: ${b64(ca)}`,
    "users:", "- name: admin", "  user:", `    client-certificate-data: ${b64(cert)}`, `    client-key-data: ${b64(key)}`,
    "contexts:", "- name: default", "  context:", `    cluster: ${JSON.stringify(cluster.name)}`, "    user: admin",
    "current-context: default", "",
  ].join("\n");
}

// {filename, blob} of the cluster's configuration.
export async function clusterConfig(cluster, template) {
  if (!cluster.api_address) throw new Error("The cluster has no API address yet: wait until it is complete.");
  const { csr, key } = await makeCsr();
  const signed = await api.post("/certificates", { cluster_uuid: cluster.uuid, csr });
  const ca = await api.get(`/certificates/${cluster.uuid}`);
  const withNewline = (text) => (text.endsWith("\n") ? text : `${text}\n`);
  const cert = withNewline(signed.pem);
  const caPem = withNewline(ca.pem);
  if (isKubernetes(cluster, template)) {
    return { filename: `${cluster.name}-kubeconfig`, blob: new Blob([kubeconfig(cluster, caPem, cert, key)], { type: "application/yaml" }) };
  }
  const dir = `${cluster.name}/`;
  const archive = tar([
    { name: dir, text: "", mode: 0o755 },
    { name: `${dir}ca.pem`, text: caPem },
    { name: `${dir}cert.pem`, text: cert },
    { name: `${dir}key.pem`, text: key, mode: 0o600 },
    { name: `${dir}env.sh`, text: envScript(cluster) },
  ]);
  return { filename: `${cluster.name}-config.tar`, blob: new Blob([archive], { type: "application/x-tar" }) };
}
