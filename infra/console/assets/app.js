// The Herald console: a client of Herald's configuration API and nothing else. Pages are
// built with DOM calls, never from HTML strings, so nothing a user or tenant typed can run as
// markup. The API key (or token) lives in sessionStorage: it goes with the tab.

const TOKEN = "herald.token";
const WHO = "herald.who";

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function icon(paths) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  for (const d of paths) {
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d);
    svg.append(p);
  }
  return svg;
}
const gearIcon = () =>
  icon([
    "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
    "M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z",
  ]);
const binIcon = () => icon(["M3 6h18", "M8 6V4h8v2", "M19 6l-1 14H6L5 6", "M10 11v6", "M14 11v6"]);
const refreshIcon = () => icon(["M21 12a9 9 0 1 1-3-6.7L21 8", "M21 3v5h-5"]);
const infoIcon = () => icon(["M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "M12 16v-4", "M12 8h.01"]);

function main() {
  return document.getElementById("main");
}

function render(...children) {
  const m = main();
  m.replaceChildren(...children);
  return m;
}

function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => (el.textContent = text), 50);
}

// ---------------------------------------------------------------------------------------------
// API

class APIError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // fieldErrors maps each field the API named to its reason.
  get fieldErrors() {
    const out = {};
    for (const e of this.problem.errors || []) out[e.field] = e.reason;
    return out;
  }
}

async function api(method, path, body, token = sessionStorage.getItem(TOKEN)) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (res.status === 401 && token && path !== "/v1/console/sign-in") {
    signOut("Your session ended: sign in again.");
    throw new APIError(401, data);
  }
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Sign in

let config = { auth: { mode: "api_key" } };

function signedIn() {
  return !!sessionStorage.getItem(TOKEN);
}

function showWho() {
  const who = JSON.parse(sessionStorage.getItem(WHO) || "null");
  document.getElementById("nav").hidden = !who;
  document.getElementById("who").textContent = who ? `${who.user_id} · ${who.tenant_id}` : "";
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(WHO);
  showWho();
  location.hash = "#/sign-in";
  if (message) flash = message;
}

let flash = "";

async function acceptToken(token) {
  const who = await api("GET", "/v1/me", undefined, token);
  sessionStorage.setItem(TOKEN, token);
  sessionStorage.setItem(WHO, JSON.stringify(who));
  showWho();
}

async function redeemSignInLink(code) {
  // The code leaves the address bar at once: it works once, and history should not keep it.
  history.replaceState(null, "", location.pathname + "#/sign-in");
  try {
    const signed = await api("POST", "/v1/console/sign-in", { code }, null);
    await acceptToken(signed.api_key);
    location.hash = "#/notifications";
  } catch (err) {
    flash = err.problem.title ? `${err.problem.title}: ${err.message}` : err.message;
    route();
  }
}

function signInPage() {
  const error = h("p", { id: "key-error", class: "field-error", role: "alert" });
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    required: true,
    placeholder: "hk_…",
    "aria-describedby": "key-help key-error",
  });
  const form = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        input.removeAttribute("aria-invalid");
        try {
          await acceptToken(input.value.trim());
          location.hash = "#/notifications";
        } catch (err) {
          input.setAttribute("aria-invalid", "true");
          error.textContent = err.status === 401 ? "Herald does not know this API key." : err.message;
          input.focus();
        }
      },
    },
    h("label", { for: "api-key" }, "API key"),
    input,
    error,
    h(
      "small",
      { id: "key-help" },
      "Make one with ",
      h("code", {}, "herald apikey-create"),
      ", or open the sign-in link that ",
      h("code", {}, "herald -demo"),
      " prints.",
    ),
    h("button", { type: "submit" }, "Sign in"),
  );
  const parts = [h("h1", {}, "Sign in to Herald")];
  if (flash) {
    parts.push(h("p", { role: "alert", class: "field-error" }, flash));
    flash = "";
  }
  if (config.auth.mode === "oidc") {
    const issuer = new URL(config.auth.oidc.issuer).host;
    parts.push(
      h("p", {}, "This installation signs you in through your organisation's identity provider."),
      h("button", { type: "button", id: "oidc-sign-in", onclick: () => startOIDC().catch((err) => showSignInError(err)) }, `Sign in with ${issuer}`),
    );
  } else {
    parts.push(h("article", {}, form));
  }
  render(...parts);
  if (config.auth.mode !== "oidc") input.focus();
}

function showSignInError(err) {
  flash = err.message;
  signInPage();
}

// ---------------------------------------------------------------------------------------------
// Sign-in through the OIDC issuer the API's JWT authorizer trusts: authorization code with
// PKCE (RFC 7636). The verifier and state live in sessionStorage for the round trip only.

const PKCE = "herald.pkce";

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function oidcEndpoints() {
  const o = config.auth.oidc;
  if (o.authorization_endpoint && o.token_endpoint) return o;
  const res = await fetch(o.issuer.replace(/\/$/, "") + "/.well-known/openid-configuration");
  if (!res.ok) throw new Error(`The identity provider's discovery document answered ${res.status}.`);
  const d = await res.json();
  return { ...o, authorization_endpoint: o.authorization_endpoint || d.authorization_endpoint, token_endpoint: o.token_endpoint || d.token_endpoint };
}

function redirectURI() {
  return location.origin + "/";
}

async function startOIDC() {
  const o = await oidcEndpoints();
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: o.client_id,
    redirect_uri: redirectURI(),
    scope: (o.scopes || ["openid"]).join(" "),
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  if (o.audience) q.set("audience", o.audience);
  location.assign(o.authorization_endpoint + (o.authorization_endpoint.includes("?") ? "&" : "?") + q);
}

// finishOIDC takes the issuer's redirect back (?code=&state=) and trades the code for a token.
async function finishOIDC(params) {
  history.replaceState(null, "", location.pathname + "#/sign-in");
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE);
  if (params.get("error")) throw new Error(`The identity provider refused: ${params.get("error_description") || params.get("error")}.`);
  if (!saved || saved.state !== params.get("state")) throw new Error("The sign-in came back with a state this tab did not send: start again.");
  const o = await oidcEndpoints();
  const res = await fetch(o.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectURI(), client_id: o.client_id, code_verifier: saved.verifier }),
  });
  const token = await res.json().catch(() => ({}));
  if (!res.ok || !token.access_token) throw new Error(`The identity provider did not give a token: ${token.error_description || token.error || res.status}.`);
  await acceptToken(token.access_token);
  location.hash = "#/notifications";
}

// ---------------------------------------------------------------------------------------------
// Notifications tab

function summariseChannels(c) {
  const parts = [];
  const n = (k, one, many) => k && parts.push(`${k} ${k === 1 ? one : many}`);
  n(c.emails.length, "email", "emails");
  n(c.slack_channels.length, "Slack channel", "Slack channels");
  n(c.webhooks.length, "webhook", "webhooks");
  return parts.join(" · ") || "none";
}

function summariseTriggers(t) {
  const parts = [...t.events.map((e) => e.replaceAll("_", " "))];
  for (const d of t.digests) parts.push(`digest at ${d.times_of_day.join(", ")} ${d.time_zone} (${d.period})`);
  return parts.join(", ") || "none";
}

async function notificationsPage() {
  const search = h("input", {
    id: "search",
    type: "search",
    name: "title",
    placeholder: "Search by title",
    "aria-label": "Search notifications by title",
    autocomplete: "off",
  });
  const results = h("div", { id: "results", "aria-live": "polite" });
  render(
    h(
      "div",
      { class: "toolbar" },
      h("hgroup", {}, h("h1", {}, "Notifications"), h("p", {}, "Tell people and systems about your projects' activity.")),
    ),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "search" }, h("span", { class: "visually-hidden" }, "Search by title"), search),
      h("a", { href: "#/notifications/new", role: "button", id: "create" }, "+ Create notification"),
    ),
    results,
  );
  let timer;
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    const q = search.value.trim();
    try {
      const page = await api("GET", "/v1/notifications?limit=100" + (q ? "&title=" + encodeURIComponent(q) : ""));
      if (mine === seq) results.replaceChildren(notificationTable(page.items, q, load));
    } catch (err) {
      if (mine === seq) results.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
    }
  };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 150);
  });
  await load();
}

function notificationTable(items, query, reload) {
  if (!items.length) {
    return query
      ? h("p", { class: "empty" }, `No notification's title contains “${query}”.`)
      : h(
          "div",
          { class: "empty" },
          h("p", {}, "No notifications yet."),
          h("p", { class: "muted" }, "Create one to tell people by email, Slack or webhook when tasks and labels move, or to send them a digest."),
          h("a", { href: "#/notifications/new", role: "button" }, "+ Create notification"),
        );
  }
  const rows = items.map((n) =>
    h(
      "tr",
      {},
      h("td", { "data-label": "Title" }, h("strong", {}, n.title), n.description ? h("br") : null, n.description ? h("span", { class: "muted" }, n.description) : null),
      h("td", { "data-label": "Projects" }, String(n.projects.length)),
      h("td", { "data-label": "Channels" }, summariseChannels(n.channels)),
      h("td", { "data-label": "Triggers" }, summariseTriggers(n.triggers)),
      h(
        "td",
        { class: "actions" },
        h("a", { href: `#/notifications/${encodeURIComponent(n.id)}/edit`, role: "button", class: "secondary outline icon-button", "aria-label": `Edit ${n.title}`, title: "Edit" }, gearIcon()),
        h("button", { type: "button", class: "danger outline icon-button", "aria-label": `Delete ${n.title}`, title: "Delete", onclick: () => confirmDelete(n, reload) }, binIcon()),
      ),
    ),
  );
  return h(
    "table",
    { class: "responsive" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Title"), h("th", { scope: "col" }, "Projects"), h("th", { scope: "col" }, "Channels"), h("th", { scope: "col" }, "Triggers"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    h("tbody", {}, rows),
  );
}

function confirmDelete(n, reload) {
  confirm(`Delete “${n.title}”?`, n.channels.webhooks.length ? "Its webhooks are deleted with it. This cannot be undone." : "This cannot be undone.", async () => {
    await api("DELETE", `/v1/notifications/${encodeURIComponent(n.id)}`);
    announce(`Deleted ${n.title}.`);
    await reload();
  });
}

// ---------------------------------------------------------------------------------------------
// The five steps of creating (or editing) a notification

const STEPS = ["Enter details", "Add projects", "Add channels", "Add triggers", "Create"];
const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

function blankDraft() {
  return {
    title: "",
    description: "",
    projects: [],
    channels: { slack_channels: [], emails: [], webhooks: [] },
    triggers: { events: [], digests: [] },
  };
}

// stepOf says which step shows an API field.
function stepOf(field) {
  if (field.startsWith("projects")) return 1;
  if (field.startsWith("channels")) return 2;
  if (field.startsWith("triggers")) return 3;
  return 0;
}

// disabledReasons holds why each of the edited notification's webhooks is disabled (Herald
// disables one that fails for days), shown beside it and never sent back.
const disabledReasons = new Map();

async function wizardPage(id) {
  let draft = blankDraft();
  let version = null;
  if (id) {
    const n = await api("GET", `/v1/notifications/${encodeURIComponent(id)}`);
    version = n.version;
    disabledReasons.clear();
    for (const w of n.channels.webhooks) if (!w.enabled && w.disabled_reason) disabledReasons.set(w.id, w.disabled_reason);
    draft = {
      title: n.title,
      description: n.description || "",
      projects: [...n.projects],
      channels: {
        slack_channels: [...n.channels.slack_channels],
        emails: [...n.channels.emails],
        webhooks: n.channels.webhooks.map((w) => ({ id: w.id, url: w.url, enabled: w.enabled, ordered: !!w.ordered, rate_limit_per_second: w.rate_limit_per_second || 0 })),
      },
      triggers: {
        events: [...n.triggers.events],
        digests: n.triggers.digests.map((d) => ({ ...d, times_of_day: [...d.times_of_day] })),
      },
    };
  }
  const state = { id, version, draft, step: 0, errors: {}, catalogue: null, slack: null };
  showStep(state);
}

function showStep(state) {
  const builders = [detailsStep, projectsStep, channelsStep, triggersStep, reviewStep];
  const title = state.id ? `Edit “${state.draft.title}”` : "Create notification";
  const body = h("section", { "aria-labelledby": "step-title" });
  render(
    h("h1", {}, title),
    h(
      "ol",
      { class: "steps", "aria-label": "Steps" },
      stepNames(state).map((s, i) => h("li", { "aria-current": i === state.step ? "step" : null }, s)),
    ),
    h("h2", { id: "step-title" }, `${state.step + 1}. ${stepNames(state)[state.step]}`),
    body,
  );
  builders[state.step](state, body);
  const first = body.querySelector("[aria-invalid=true]") || body.querySelector("input, select, textarea, button");
  first?.focus();
}

// stepNames are the spec's steps; editing ends by saving rather than creating.
function stepNames(state) {
  return state.id ? [...STEPS.slice(0, 4), "Save"] : STEPS;
}

function go(state, step) {
  state.step = step;
  showStep(state);
}

function fieldError(state, field, id) {
  const reason = state.errors[field];
  return h("p", { id, class: "field-error", role: reason ? "alert" : null }, reason || "");
}

// errorsUnder lists the errors of fields under prefix (channels.webhooks[0].url under
// channels.webhooks), for a group that shows them together.
function errorsUnder(state, prefix) {
  return Object.entries(state.errors)
    .filter(([f]) => f === prefix || f.startsWith(prefix + "[") || f.startsWith(prefix + "."))
    .map(([f, r]) => `${f}: ${r}`);
}

function stepButtons(state, { next, back = true, nextLabel = "Next" }) {
  return h(
    "div",
    { class: "step-buttons" },
    back ? h("button", { type: "button", class: "secondary", onclick: () => go(state, state.step - 1) }, "Back") : h("a", { href: "#/notifications", role: "button", class: "secondary" }, "Cancel"),
    h("button", { type: "submit", id: "next" }, nextLabel),
  );
}

function textField(label, id, value, attrs, state, field, onInput) {
  const err = state.errors[field];
  return [
    h("label", { for: id }, label),
    h(attrs.multiline ? "textarea" : "input", {
      id,
      name: id,
      value: attrs.multiline ? null : value,
      "aria-invalid": err ? "true" : null,
      "aria-describedby": `${id}-error`,
      ...attrs.input,
      oninput: (e) => onInput(e.target.value),
    }, attrs.multiline ? value : null),
    fieldError(state, field, `${id}-error`),
  ];
}

function detailsStep(state, body) {
  const d = state.draft;
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        if (!d.title.trim()) {
          state.errors = { ...state.errors, title: "is required" };
          return showStep(state);
        }
        delete state.errors.title;
        go(state, 1);
      },
    },
    textField("Title", "title", d.title, { input: { required: true, maxlength: 200 } }, state, "title", (v) => (d.title = v)),
    textField("Description (optional)", "description", d.description, { multiline: true, input: { rows: 3 } }, state, "description", (v) => (d.description = v)),
    stepButtons(state, { back: false }),
  );
  body.append(h("p", { class: "muted" }, "A clear title and description keep notifications organised and help collaborators find them."), form);
}

// chipList is an entry box whose entries become a list of removable items above it.
function chipList({ id, label, help, items, validate, placeholder, type = "text", state, field }) {
  const error = h("p", { id: `${id}-error`, class: "field-error", role: "alert" }, errorsUnder(state, field).join("; "));
  const list = h("ul", { class: "chips", "aria-label": label });
  const input = h("input", { id, name: id, type, placeholder, autocomplete: "off", "aria-describedby": `${id}-help ${id}-error`, "aria-invalid": error.textContent ? "true" : null });
  const draw = () =>
    list.replaceChildren(
      ...items.map((item, i) =>
        h("li", {}, h("span", {}, item), h("button", { type: "button", "aria-label": `Remove ${item}`, onclick: () => { items.splice(i, 1); draw(); input.focus(); } }, "×")),
      ),
    );
  const add = () => {
    const values = input.value.split(/[\s,;]+/).map((v) => v.trim()).filter(Boolean);
    if (!values.length) return false;
    for (const v of values) {
      const problem = validate(v);
      if (problem) {
        error.textContent = problem;
        input.setAttribute("aria-invalid", "true");
        return true;
      }
    }
    for (const v of values) if (!items.includes(v)) items.push(v);
    input.value = "";
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    draw();
    return true;
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === ",") {
      e.preventDefault();
      add();
    }
  });
  draw();
  return {
    // take adds what the entry box holds, when the form is submitted: true when the form
    // should stay (Enter in the box adds an item and goes no further; an invalid entry stays).
    take() {
      if (document.activeElement === input) {
        add();
        return true;
      }
      return add() && input.getAttribute("aria-invalid") === "true";
    },
    el: h(
      "div",
      {},
      h("label", { for: id }, label),
      list,
      h("div", { role: "group" }, input, h("button", { type: "button", class: "secondary", onclick: () => { add(); input.focus(); } }, "Add")),
      h("small", { id: `${id}-help` }, help),
      error,
    ),
  };
}

function projectsStep(state, body) {
  const projects = chipList({
    id: "project",
    label: "Projects",
    help: "Enter each project's hash, from its settings in the annotation platform, and press Enter.",
    items: state.draft.projects,
    placeholder: "751a3a3e-46b6-4aad-b0b8-19b169f91266",
    validate: (v) => (/^[A-Za-z0-9_-]{1,128}$/.test(v) ? "" : `“${v}” is not a project hash: letters, digits, '-' and '_' only.`),
    state,
    field: "projects",
  });
  body.append(
    h(
      "form",
      {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (projects.take()) return;
          go(state, 2);
        },
      },
      projects.el,
      stepButtons(state, {}),
    ),
  );
}

async function loadSlackChannels(state) {
  try {
    state.slack = (await api("GET", "/v1/slack/channels")).items;
  } catch (err) {
    state.slack = [];
    state.slackError = err.message;
  }
}

function channelsStep(state, body) {
  const c = state.draft.channels;
  const grid = h("div", { class: "grid-cards", id: "slack-grid" });
  const slackNote = h("p", { id: "slack-note", class: "field-error", role: "alert" }, errorsUnder(state, "channels.slack_channels").join("; "));
  const drawSlack = () => {
    if (!state.slack) {
      grid.replaceChildren(h("p", { "aria-busy": "true" }, "Loading Slack channels…"));
      return;
    }
    if (!state.slack.length) {
      grid.replaceChildren(h("p", { class: "muted" }, state.slackError || "No Slack channels yet: add one, then refresh."));
      return;
    }
    grid.replaceChildren(
      ...state.slack.map((ch) =>
        h(
          "div",
          { class: "card" },
          h(
          "label",
          {},
          h("input", {
            type: "checkbox",
            name: "slack",
            value: ch.id,
            checked: c.slack_channels.includes(ch.id),
            onchange: (e) => {
              const i = c.slack_channels.indexOf(ch.id);
              if (e.target.checked && i < 0) c.slack_channels.push(ch.id);
              if (!e.target.checked && i >= 0) c.slack_channels.splice(i, 1);
            },
          }),
          ` ${ch.channel_name} `,
          h("span", { class: "muted" }, `(${ch.team_name})${ch.status === "broken" ? " — broken: connect it again" : ""}`),
          ),
          h("a", { href: `#/slack/${encodeURIComponent(ch.id)}/log`, class: "muted", "aria-label": `Delivery log of ${ch.channel_name}` }, "Delivery log"),
        ),
      ),
    );
  };
  const refresh = async () => {
    state.slack = null;
    drawSlack();
    await loadSlackChannels(state);
    drawSlack();
  };
  const addSlack = async () => {
    slackNote.textContent = "";
    try {
      const start = await api("GET", "/v1/slack/oauth/start");
      // Not noopener: the new tab starts with a copy of this tab's session, which it needs to
      // finish the connection when Slack sends it back here. Slack's page gets no handle on
      // this one.
      const tab = window.open(start.url, "_blank");
      if (tab) tab.opener = null;
      slackNote.textContent = "Pick the workspace and channel in Slack's page, then refresh the grid.";
      slackNote.className = "muted";
    } catch (err) {
      slackNote.className = "field-error";
      slackNote.textContent = err.status === 503 ? "Slack is not set up on this installation (HERALD_SLACK_* settings)." : err.message;
    }
  };

  const emails = chipList({
    id: "email",
    label: "Email addresses",
    help: "Emails are gathered and sent every 5 minutes, one per recipient.",
    items: c.emails,
    type: "email",
    placeholder: "qa-lead@example.com",
    validate: (v) => (EMAIL.test(v) ? "" : `“${v}” is not an email address such as qa@example.com.`),
    state,
    field: "channels.emails",
  });

  const hooks = h("div", { id: "webhooks" });
  const drawHooks = () => {
    hooks.replaceChildren(
      ...c.webhooks.map((w, i) => {
        const err = state.errors[`channels.webhooks[${i}].url`];
        const rateErr = state.errors[`channels.webhooks[${i}].rate_limit_per_second`];
        return h(
          "fieldset",
          { class: "row" },
          h("legend", { class: "visually-hidden" }, `Webhook ${i + 1}`),
          h(
            "div",
            {},
            h("label", { for: `webhook-${i}-url` }, `Webhook ${i + 1} URL`),
            h("input", {
              id: `webhook-${i}-url`,
              type: "url",
              value: w.url,
              placeholder: "https://example.com/hooks/herald",
              "aria-invalid": err ? "true" : null,
              "aria-describedby": `webhook-${i}-error`,
              oninput: (e) => (w.url = e.target.value.trim()),
            }),
            h("p", { id: `webhook-${i}-error`, class: "field-error" }, err || ""),
            !w.enabled && disabledReasons.has(w.id)
              ? h("p", { class: "muted", id: `webhook-${i}-disabled` }, `Disabled: ${disabledReasons.get(w.id)}. Enable it once its receiver answers, then recover its deliveries from its delivery log.`)
              : null,
          ),
          h("label", { class: "shrink" }, h("input", { type: "checkbox", role: "switch", checked: w.enabled, onchange: (e) => (w.enabled = e.target.checked) }), " Enabled"),
          h(
            "div",
            { class: "shrink" },
            h("label", { for: `webhook-${i}-rate` }, "Rate limit"),
            h("input", {
              id: `webhook-${i}-rate`,
              type: "number",
              min: "0",
              max: "10000",
              step: "1",
              placeholder: "No limit",
              title: "Deliveries a second at most; the rest wait their turn, none is dropped.",
              value: w.rate_limit_per_second ? String(w.rate_limit_per_second) : "",
              "aria-invalid": rateErr ? "true" : null,
              "aria-describedby": `webhook-${i}-rate-error`,
              oninput: (e) => (w.rate_limit_per_second = e.target.value === "" ? 0 : Number(e.target.value)),
            }),
            h("p", { id: `webhook-${i}-rate-error`, class: "field-error" }, rateErr || ""),
          ),
          h("label", { class: "shrink", title: "Deliveries arrive in the order the events were accepted; a failing one holds back the later ones." },
            h("input", { type: "checkbox", id: `webhook-${i}-ordered`, checked: !!w.ordered, onchange: (e) => (w.ordered = e.target.checked) }), " In order"),
          w.id ? h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}/log`, class: "shrink", "aria-label": `Delivery log of webhook ${i + 1}` }, "Delivery log") : null,
          h("button", { type: "button", class: "danger outline shrink", "aria-label": `Delete webhook ${i + 1}`, onclick: () => { c.webhooks.splice(i, 1); drawHooks(); } }, "Delete"),
        );
      }),
    );
  };

  body.append(
    h(
      "form",
      {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (emails.take()) return;
          go(state, 3);
        },
      },
      h(
        "fieldset",
        {},
        h("legend", {}, "Slack channels"),
        h(
          "div",
          { class: "row" },
          h("p", { class: "muted" }, "Your Slack channels are shared by all of your notifications."),
          h("button", { type: "button", class: "secondary outline icon-button shrink", "aria-label": "Refresh Slack channels", title: "Refresh", onclick: refresh }, refreshIcon()),
        ),
        grid,
        slackNote,
        h("button", { type: "button", class: "secondary", id: "add-slack", onclick: addSlack }, "Add Slack channel"),
      ),
      h("fieldset", {}, h("legend", {}, "Email"), emails.el),
      h(
        "fieldset",
        {},
        h("legend", {}, "Webhooks"),
        h("p", { class: "muted" }, "A webhook belongs to this notification alone; its signing secret is shown once, after saving."),
        hooks,
        h("button", { type: "button", class: "secondary", id: "add-webhook", onclick: () => { c.webhooks.push({ url: "", enabled: true, ordered: false, rate_limit_per_second: 0 }); drawHooks(); document.getElementById(`webhook-${c.webhooks.length - 1}-url`).focus(); } }, "Add webhook"),
      ),
      stepButtons(state, {}),
    ),
  );
  drawHooks();
  drawSlack();
  if (!state.slack) refresh();
}

const PERIODS = [
  ["1h", "1 hour"],
  ["6h", "6 hours"],
  ["12h", "12 hours"],
  ["24h", "24 hours"],
  ["168h", "7 days"],
];

function triggersStep(state, body) {
  const t = state.draft.triggers;
  const events = h("div", { id: "events" });
  const drawEvents = () => {
    if (!state.catalogue) return events.replaceChildren(h("p", { "aria-busy": "true" }, "Loading events…"));
    events.replaceChildren(
      ...state.catalogue.map((ev) =>
        h(
          "label",
          {},
          h("input", {
            type: "checkbox",
            name: "event",
            value: ev.type,
            checked: t.events.includes(ev.type),
            "aria-describedby": `event-${ev.type}-info`,
            onchange: (e) => {
              const i = t.events.indexOf(ev.type);
              if (e.target.checked && i < 0) t.events.push(ev.type);
              if (!e.target.checked && i >= 0) t.events.splice(i, 1);
            },
          }),
          ` ${ev.type.replaceAll("_", " ")} `,
          h("span", { class: "muted info", id: `event-${ev.type}-info`, title: `From ${ev.source}` }, infoIcon(), ` ${ev.description}`),
        ),
      ),
    );
  };
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
  const digests = h("div", { id: "digests" });
  const drawDigests = () => {
    digests.replaceChildren(
      ...t.digests.map((d, i) => {
        const errs = errorsUnder(state, `triggers.digests[${i}]`);
        return h(
          "fieldset",
          {},
          h("legend", {}, `Digest ${i + 1}`),
          h(
            "div",
            { class: "row" },
            h(
              "div",
              {},
              h("label", { for: `digest-${i}-times` }, "Times of day"),
              h("input", {
                id: `digest-${i}-times`,
                value: d.times_of_day.join(", "),
                placeholder: "09:00, 17:30",
                "aria-describedby": `digest-${i}-help digest-${i}-error`,
                "aria-invalid": errs.length ? "true" : null,
                oninput: (e) => (d.times_of_day = e.target.value.split(/[\s,]+/).filter(Boolean)),
              }),
              h("small", { id: `digest-${i}-help` }, "24-hour HH:MM, separated by commas."),
            ),
            h(
              "div",
              {},
              h("label", { for: `digest-${i}-zone` }, "Time zone"),
              h("select", { id: `digest-${i}-zone`, onchange: (e) => (d.time_zone = e.target.value) }, zones.map((z) => h("option", { value: z, selected: z === d.time_zone }, z))),
            ),
            h(
              "div",
              {},
              h("label", { for: `digest-${i}-period` }, "Summarises the last"),
              h("select", { id: `digest-${i}-period`, onchange: (e) => (d.period = e.target.value) }, PERIODS.map(([v, l]) => h("option", { value: v, selected: v === d.period }, l))),
            ),
          ),
          h("label", {}, h("input", { type: "checkbox", checked: d.skip_empty, onchange: (e) => (d.skip_empty = e.target.checked) }), " Skip a period with no activity"),
          h("p", { id: `digest-${i}-error`, class: "field-error", role: errs.length ? "alert" : null }, errs.join("; ")),
          h("button", { type: "button", class: "danger outline", onclick: () => { t.digests.splice(i, 1); drawDigests(); } }, `Remove digest ${i + 1}`),
        );
      }),
    );
  };
  const preview = h("div", { id: "preview", "aria-live": "polite" });
  const triggerErrors = h("p", { class: "field-error", role: "alert" }, state.errors.triggers || "");
  body.append(
    h(
      "form",
      {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          go(state, 4);
        },
      },
      h("fieldset", {}, h("legend", {}, "Reactive events"), h("p", { class: "muted" }, "Notify when one of these happens in the notification's projects."), events),
      h(
        "fieldset",
        {},
        h("legend", {}, "Digest events"),
        h("p", { class: "muted" }, "Send a summary of the projects' activity at times of day."),
        digests,
        h(
          "div",
          { class: "row" },
          h("button", { type: "button", class: "secondary shrink", id: "add-digest", onclick: () => { t.digests.push({ times_of_day: ["09:00"], time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", period: "24h", skip_empty: false }); drawDigests(); } }, "Add digest"),
          h("button", { type: "button", class: "secondary outline shrink", id: "preview-digest", onclick: () => showPreview(state, preview) }, "Preview the digest"),
        ),
        preview,
      ),
      triggerErrors,
      stepButtons(state, {}),
    ),
  );
  drawEvents();
  drawDigests();
  if (!state.catalogue)
    api("GET", "/v1/notification-events").then((c) => {
      state.catalogue = c.items.filter((e) => e.produced);
      drawEvents();
    });
}

async function showPreview(state, el) {
  el.replaceChildren(h("p", { "aria-busy": "true" }, "Computing the digest…"));
  try {
    // The draft's projects and its first digest's period: what it would send now.
    const q = new URLSearchParams();
    for (const p of state.draft.projects) q.append("project", p);
    q.set("period", state.draft.triggers.digests[0]?.period || "24h");
    const p = await api("GET", `/v1/digest-preview?${q}`);
    const projects = p.projects_stats.map((ps) =>
      h(
        "details",
        {},
        h("summary", {}, `Project ${ps.project_hash}: ${ps.annotator_stats.length} annotators, ${ps.reviewer_stats.length} reviewers`),
        ps.annotator_stats.length
          ? h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["Annotator", "Submitted", "Accepted", "Rejected"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", {}, ps.annotator_stats.map((a) => h("tr", {}, h("td", {}, a.user_email), h("td", {}, a.submitted_labels), h("td", {}, a.accepted_labels), h("td", {}, a.rejected_labels)))),
            )
          : h("p", { class: "muted" }, "No activity."),
      ),
    );
    el.replaceChildren(h("p", {}, `From ${new Date(p.period.start).toLocaleString()} to ${new Date(p.period.end).toLocaleString()}:`), ...projects);
  } catch (err) {
    el.replaceChildren(h("p", { class: "field-error", role: "alert" }, err.message));
  }
}

function reviewStep(state, body) {
  const d = state.draft;
  const general = h("div", { role: "alert", class: "field-error", id: "save-error" });
  const list = (items) => (items.length ? items.join(", ") : "none");
  body.append(
    h(
      "dl",
      {},
      h("dt", {}, "Title"),
      h("dd", {}, d.title),
      d.description ? [h("dt", {}, "Description"), h("dd", {}, d.description)] : null,
      h("dt", {}, "Projects"),
      h("dd", {}, list(d.projects)),
      h("dt", {}, "Channels"),
      h("dd", {}, summariseChannels(d.channels)),
      h("dt", {}, "Triggers"),
      h("dd", {}, summariseTriggers(d.triggers)),
    ),
    general,
    h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          const button = e.target.querySelector("#next");
          button.setAttribute("aria-busy", "true");
          button.disabled = true;
          try {
            const saved = state.id
              ? await api("PATCH", `/v1/notifications/${encodeURIComponent(state.id)}`, d)
              : await api("POST", "/v1/notifications", d);
            savedPage(saved, !state.id);
          } catch (err) {
            button.removeAttribute("aria-busy");
            button.disabled = false;
            const fields = err.fieldErrors;
            if (err.status === 422 && Object.keys(fields).length) {
              state.errors = fields;
              const first = Math.min(...Object.keys(fields).map(stepOf));
              go(state, first);
              announce(`${Object.keys(fields).length} fields need attention.`);
              return;
            }
            general.textContent = err.message;
          }
        },
      },
      stepButtons(state, { nextLabel: state.id ? "Save changes" : "Create" }),
    ),
  );
}

function savedPage(n, created) {
  const secrets = n.channels.webhooks.filter((w) => w.secret);
  render(
    h("h1", {}, created ? `Created “${n.title}”` : `Saved “${n.title}”`),
    secrets.length
      ? h(
          "article",
          {},
          h("h2", {}, "Webhook signing secrets"),
          h("p", {}, "Copy each secret now: it is shown this once. Receivers verify deliveries with it (Standard Webhooks)."),
          secrets.map((w) => h("div", {}, h("p", {}, w.url), h("p", { class: "secret", "data-webhook": w.id }, w.secret))),
        )
      : null,
    h("a", { href: "#/notifications", role: "button", id: "back-to-list" }, "Back to notifications"),
  );
  announce(created ? "Notification created." : "Notification saved.");
}

// ---------------------------------------------------------------------------------------------
// Stage webhooks

const STAGE_KINDS = { annotate: "Annotate", complete: "Complete" };

async function listAll(path) {
  const items = [];
  let cursor = "";
  do {
    const page = await api("GET", path + (path.includes("?") ? "&" : "?") + "limit=100" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    items.push(...page.items);
    cursor = page.next_cursor || "";
  } while (cursor);
  return items;
}

// secretBox shows a signing secret, this once.
function secretBox(title, secret, note) {
  return h(
    "article",
    { id: "secret-box", "aria-labelledby": "secret-title" },
    h("h2", { id: "secret-title" }, title),
    h("p", {}, "Copy it now: it is shown this once. Receivers verify deliveries with it (Standard Webhooks)."),
    h("p", { class: "secret" }, secret),
    note ? h("p", { class: "muted" }, note) : null,
  );
}

async function stageWebhooksPage() {
  const notice = h("div", { id: "notice", "aria-live": "polite" });
  const listing = h("div", { id: "stage-webhooks" }, h("p", { "aria-busy": "true" }, "Loading…"));
  const errors = {};
  const field = (id, label, attrs, help) => [
    h("label", { for: id }, label),
    h("input", { id, name: id, required: true, autocomplete: "off", "aria-describedby": `${id}-help ${id}-error`, ...attrs }),
    help ? h("small", { id: `${id}-help` }, help) : null,
    (errors[id] = h("p", { id: `${id}-error`, class: "field-error" })),
  ];
  const form = h(
    "form",
    { id: "add-stage-webhook", novalidate: true, onsubmit: (e) => addStageWebhook(e, errors, notice, reload) },
    h(
      "div",
      { class: "row" },
      h("div", {}, field("wh-project", "Project hash", { placeholder: "751a3a3e-46b6-4aad-b0b8-19b169f91266" })),
      h("div", {}, field("wh-stage", "Stage UUID", { placeholder: "a1b2c3d4-0000-4000-8000-00000000a001" }, "The stage's UUID in the project's workflow.")),
      h(
        "div",
        { class: "shrink" },
        h("label", { for: "wh-kind" }, "Stage kind"),
        h("select", { id: "wh-kind", name: "wh-kind" }, Object.entries(STAGE_KINDS).map(([v, l]) => h("option", { value: v }, l))),
        (errors["wh-kind"] = h("p", { id: "wh-kind-error", class: "field-error" })),
      ),
    ),
    field("wh-url", "URL", { type: "url", placeholder: "https://example.com/hooks/herald" }),
    field("wh-alert", "Alert email", { type: "email", placeholder: "ops@example.com" }, "Optional. Told if Herald disables this webhook after days of failed deliveries."),
    field("wh-rate", "Rate limit (deliveries a second)", { type: "number", min: "0", max: "10000", step: "1", placeholder: "No limit" }, "Optional. Deliveries over it wait their turn; none is dropped or spends an attempt waiting."),
    h("label", {}, h("input", { type: "checkbox", id: "wh-ordered", name: "wh-ordered", "aria-describedby": "wh-ordered-help wh-ordered-error" }), " Deliver in order"),
    h("small", { id: "wh-ordered-help", class: "muted" }, "Optional. Deliveries arrive in the order Herald accepted the events; one that keeps failing holds back the later ones of this webhook until it succeeds or is dead-lettered."),
    (errors["wh-ordered"] = h("p", { id: "wh-ordered-error", class: "field-error" })),
    h("button", { type: "submit", id: "add-webhook-submit" }, "Add webhook"),
  );
  render(
    h("hgroup", {}, h("h1", {}, "Stage webhooks"), h("p", {}, "Annotate stages send task_submitted_event; Complete stages send task_completed_event.")),
    notice,
    h("details", { id: "add-details", open: true }, h("summary", {}, "Add a stage webhook"), form),
    listing,
  );
  async function reload() {
    try {
      listing.replaceChildren(...[stageWebhookList(await listAll("/v1/webhooks"), notice, reload)].flat());
    } catch (err) {
      listing.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
    }
  }
  await reload();
}

async function addStageWebhook(e, errors, notice, reload) {
  e.preventDefault();
  for (const el of Object.values(errors)) el.textContent = "";
  const value = (id) => document.getElementById(id).value.trim();
  const fields = { project_hash: "wh-project", stage_uuid: "wh-stage", stage_type: "wh-kind", url: "wh-url", rate_limit_per_second: "wh-rate", alert_email: "wh-alert", ordered: "wh-ordered" };
  for (const id of Object.values(fields)) document.getElementById(id).removeAttribute("aria-invalid");
  try {
    const body = { project_hash: value("wh-project"), stage_uuid: value("wh-stage"), stage_type: value("wh-kind"), url: value("wh-url") };
    if (value("wh-rate") !== "") body.rate_limit_per_second = Number(value("wh-rate"));
    if (value("wh-alert") !== "") body.alert_email = value("wh-alert");
    if (document.getElementById("wh-ordered").checked) body.ordered = true;
    const created = await api("POST", "/v1/webhooks", body);
    document.getElementById("wh-url").value = "";
    document.getElementById("wh-rate").value = "";
    document.getElementById("wh-alert").value = "";
    document.getElementById("wh-ordered").checked = false;
    notice.replaceChildren(secretBox(`Added a webhook on the ${STAGE_KINDS[created.stage_type]} stage`, created.secret));
    await reload();
  } catch (err) {
    const byField = err.fieldErrors;
    let shown = false;
    for (const [name, id] of Object.entries(fields)) {
      if (byField[name]) {
        errors[id].textContent = byField[name];
        document.getElementById(id).setAttribute("aria-invalid", "true");
        shown = true;
      }
    }
    if (!shown) notice.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
    document.querySelector("[aria-invalid=true]")?.focus();
  }
}

function stageWebhookList(hooks, notice, reload) {
  if (!hooks.length) {
    return h("div", { class: "empty" }, h("p", {}, "No stage webhooks yet."), h("p", { class: "muted" }, "Add one above: a URL on a project's Annotate or Complete stage."));
  }
  const byProject = new Map();
  for (const w of hooks) {
    if (!byProject.has(w.project_hash)) byProject.set(w.project_hash, []);
    byProject.get(w.project_hash).push(w);
  }
  return [...byProject.entries()].map(([projectHash, ws]) =>
    h(
      "section",
      { "aria-label": `Project ${projectHash}` },
      h("h2", {}, "Project ", h("code", {}, projectHash)),
      h(
        "table",
        { class: "responsive" },
        h("thead", {}, h("tr", {}, ["Stage", "URL", "Status", ""].map((c) => h("th", { scope: "col" }, c ? c : h("span", { class: "visually-hidden" }, "Actions"))))),
        h(
          "tbody",
          {},
          ws
            .sort((a, b) => (a.stage_uuid + a.url).localeCompare(b.stage_uuid + b.url))
            .map((w) =>
              h(
                "tr",
                {},
                h("td", { "data-label": "Stage" }, `${STAGE_KINDS[w.stage_type] || w.stage_type} `, h("code", { class: "muted" }, w.stage_uuid)),
                h("td", { "data-label": "URL" }, w.url),
                h(
                  "td",
                  { "data-label": "Status" },
                  w.enabled ? "Enabled" : "Disabled",
                  w.disabled_reason ? h("span", { class: "muted" }, ` (${w.disabled_reason})`) : null,
                  w.rate_limit_per_second ? h("span", { class: "muted" }, ` · at most ${w.rate_limit_per_second} a second`) : null,
                  w.ordered ? h("span", { class: "muted" }, " · in order") : null,
                ),
                h(
                  "td",
                  { class: "actions" },
                  h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}/log`, role: "button", class: "secondary outline icon-button" }, "Log"),
                  h("button", { type: "button", class: "secondary outline icon-button", "aria-label": `Send a test event to ${w.url}`, onclick: () => sendTest(w, notice) }, "Test"),
                  h("button", { type: "button", class: "secondary outline icon-button", "aria-label": `Rotate the secret of ${w.url}`, onclick: () => rotate(w, notice) }, "Rotate"),
                  h("button", { type: "button", class: "secondary outline icon-button", "aria-label": `${w.enabled ? "Disable" : "Enable"} ${w.url}`, onclick: () => toggle(w, notice, reload) }, w.enabled ? "Disable" : "Enable"),
                  h("button", { type: "button", class: "danger outline icon-button", "aria-label": `Delete the webhook to ${w.url}`, onclick: () => confirmDeleteWebhook(w, reload) }, binIcon()),
                ),
              ),
            ),
        ),
      ),
    ),
  );
}

async function sendTest(w, notice) {
  try {
    const sent = await api("POST", `/v1/webhooks/${encodeURIComponent(w.id)}/test`);
    notice.replaceChildren(
      h("p", { role: "status" }, `A test ${sent.event_type} is on its way to ${w.url}. `, h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}/log` }, "See it in the delivery log")),
    );
  } catch (err) {
    notice.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
  }
}

async function rotate(w, notice) {
  try {
    const r = await api("POST", `/v1/webhooks/${encodeURIComponent(w.id)}/rotate-secret`);
    notice.replaceChildren(secretBox(`New secret for ${w.url}`, r.secret, `The previous secret keeps signing beside it until ${new Date(r.previous_secret_expires_at).toLocaleString()}.`));
    notice.querySelector("h2").focus?.();
  } catch (err) {
    notice.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
  }
}

async function toggle(w, notice, reload) {
  try {
    await api("PATCH", `/v1/webhooks/${encodeURIComponent(w.id)}`, { enabled: !w.enabled });
    announce(`${w.enabled ? "Disabled" : "Enabled"} ${w.url}.`);
    await reload();
  } catch (err) {
    notice.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
  }
}

// confirm asks before something that cannot be undone; act runs on "Delete".
function confirm(title, text, act) {
  const error = h("p", { class: "field-error", role: "alert" });
  const dialog = h(
    "dialog",
    { "aria-labelledby": "confirm-title" },
    h(
      "article",
      {},
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, text),
      error,
      h(
        "footer",
        {},
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel"),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            id: "confirm-delete",
            onclick: async () => {
              try {
                await act();
                dialog.close();
              } catch (err) {
                error.textContent = err.message;
              }
            },
          },
          "Delete",
        ),
      ),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function confirmDeleteWebhook(w, reload) {
  confirm(`Delete the webhook to ${w.url}?`, "Its deliveries stop, and its delivery log goes with it. This cannot be undone.", async () => {
    await api("DELETE", `/v1/webhooks/${encodeURIComponent(w.id)}`);
    announce(`Deleted the webhook to ${w.url}.`);
    await reload();
  });
}

// ---------------------------------------------------------------------------------------------
// Delivery log: a webhook's (stage or notification) or a Slack channel's attempts

const OUTCOMES = { succeeded: "Succeeded", retrying: "Retrying", dead_lettered: "Dead-lettered", webhook_disabled: "Webhook disabled" };

// toRFC3339 turns a datetime-local value (the browser's time zone) into an RFC 3339 time.
function toRFC3339(local) {
  return local ? new Date(local).toISOString() : "";
}

async function deliveryLogPage(kind, id) {
  const base = kind === "slack" ? `/v1/slack/channels/${encodeURIComponent(id)}` : `/v1/webhooks/${encodeURIComponent(id)}`;
  let title = id;
  try {
    if (kind === "slack") {
      const ch = (await api("GET", "/v1/slack/channels")).items.find((c) => c.id === id);
      if (ch) title = `${ch.channel_name} (${ch.team_name})`;
    } else {
      title = (await api("GET", base)).url;
    }
  } catch (err) {
    if (err.status !== 404) throw err;
    // A notification's webhook is not a stage webhook: its log is still there.
  }
  const notice = h("div", { id: "notice", "aria-live": "polite" });
  const rows = h("div", { id: "attempts" });
  const status = h("select", { id: "log-status", name: "status" }, h("option", { value: "" }, "Any outcome"), Object.entries(OUTCOMES).map(([v, l]) => h("option", { value: v }, l)));
  const since = h("input", { id: "log-since", name: "since", type: "datetime-local" });
  let cursor = "";
  const load = async (more) => {
    if (!more) cursor = "";
    const q = new URLSearchParams({ limit: "50" });
    if (status.value) q.set("status", status.value);
    if (since.value) q.set("since", toRFC3339(since.value));
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("GET", `${base}/attempts?${q}`);
      cursor = page.next_cursor || "";
      const table = attemptTable(page.items, notice);
      if (more) rows.querySelector("tbody")?.append(...table.querySelectorAll("tbody tr"));
      else rows.replaceChildren(table);
      rows.querySelector("#older")?.remove();
      if (cursor) rows.append(h("button", { type: "button", class: "secondary", id: "older", onclick: () => load(true) }, "Older attempts"));
    } catch (err) {
      rows.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
    }
  };
  const recoverSince = h("input", { id: "recover-since", name: "recover-since", type: "datetime-local", required: true, "aria-describedby": "recover-error" });
  const recoverError = h("p", { id: "recover-error", class: "field-error" });
  render(
    h("p", {}, h("a", { href: kind === "slack" ? "#/notifications" : "#/webhooks" }, kind === "slack" ? "← Notifications" : "← Stage webhooks")),
    h("hgroup", {}, h("h1", {}, "Delivery log"), h("p", {}, title)),
    notice,
    h(
      "form",
      { class: "row", onsubmit: (e) => { e.preventDefault(); load(false); } },
      h("div", {}, h("label", { for: "log-status" }, "Outcome"), status),
      h("div", {}, h("label", { for: "log-since" }, "Since"), since),
      h("div", { class: "shrink" }, h("label", { for: "apply-filter" }, h("span", { class: "visually-hidden" }, "Apply the filter")), h("button", { type: "submit", id: "apply-filter" }, "Show")),
    ),
    rows,
    kind === "slack"
      ? null
      : h(
          "details",
          {},
          h("summary", {}, "Recover dead-lettered deliveries"),
          h(
            "form",
            {
              id: "recover-form",
              onsubmit: async (e) => {
                e.preventDefault();
                recoverError.textContent = "";
                try {
                  const r = await api("POST", `${base}/recover`, { since: toRFC3339(recoverSince.value) });
                  notice.replaceChildren(h("p", { role: "status" }, `${r.queued} dead-lettered ${r.queued === 1 ? "delivery" : "deliveries"} queued again, with their webhook-ids.`));
                } catch (err) {
                  recoverError.textContent = err.fieldErrors.since || err.message;
                }
              },
            },
            h("label", { for: "recover-since" }, "Every delivery dead-lettered since"),
            recoverSince,
            recoverError,
            h("button", { type: "submit", id: "recover" }, "Recover"),
          ),
        ),
  );
  await load(false);
}

function attemptTable(items, notice) {
  if (!items.length) {
    const t = h("div", { class: "empty" }, h("p", {}, "No attempts match."), h("p", { class: "muted" }, "Deliveries appear here as they are attempted; send a test event to see one."));
    t.append(h("table", {}, h("tbody")));
    return t;
  }
  return h(
    "table",
    { class: "responsive" },
    h("thead", {}, h("tr", {}, ["Time", "Event", "Attempt", "Outcome", "Response", "Latency", ""].map((c) => h("th", { scope: "col" }, c || h("span", { class: "visually-hidden" }, "Actions"))))),
    h(
      "tbody",
      {},
      items.map((a) =>
        h(
          "tr",
          { "data-delivery": a.delivery_id },
          h("td", { "data-label": "Time" }, new Date(a.at).toLocaleString()),
          h("td", { "data-label": "Event" }, a.event_type),
          h("td", { "data-label": "Attempt" }, String(a.attempt)),
          h("td", { "data-label": "Outcome", class: `outcome-${a.outcome}` }, OUTCOMES[a.outcome] || a.outcome),
          h(
            "td",
            { "data-label": "Response" },
            a.status_code ? `HTTP ${a.status_code}` : "",
            a.class ? h("span", { class: "muted" }, ` ${a.class}`) : "",
            a.snippet ? h("details", {}, h("summary", {}, "Body"), h("pre", {}, a.snippet)) : null,
          ),
          h("td", { "data-label": "Latency" }, `${a.latency_ms} ms`),
          h(
            "td",
            { class: "actions" },
            h(
              "button",
              {
                type: "button",
                class: "secondary outline icon-button",
                "aria-label": `Redeliver ${a.delivery_id}`,
                onclick: async () => {
                  try {
                    await api("POST", `/v1/deliveries/${encodeURIComponent(a.delivery_id)}/redeliver`);
                    notice.replaceChildren(h("p", { role: "status" }, `Delivery ${a.delivery_id} queued again, with the same webhook-id. Show the log again to see the attempt.`));
                  } catch (err) {
                    notice.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
                  }
                },
              },
              "Redeliver",
            ),
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Events: recent inbound events and what each triggered, or why nothing

const EVENT_OUTCOMES = { routed: "Routed", no_match: "Nothing fired", rejected: "Rejected" };
const ROUTERS = { stage_webhooks: "Stage webhooks", notifications: "Notifications" };

async function eventsPage() {
  const outcome = h("select", { id: "events-outcome", name: "outcome" }, h("option", { value: "" }, "Any outcome"), Object.entries(EVENT_OUTCOMES).map(([v, l]) => h("option", { value: v }, l)));
  const list = h("div", { id: "event-list" });
  let cursor = "";
  const load = async (more) => {
    if (!more) cursor = "";
    const q = new URLSearchParams({ limit: "50" });
    if (outcome.value) q.set("outcome", outcome.value);
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("GET", `/v1/events?${q}`);
      cursor = page.next_cursor || "";
      const table = eventTable(page.items);
      if (more) list.querySelector("tbody")?.append(...table.querySelectorAll("tbody tr"));
      else list.replaceChildren(table);
      list.querySelector("#older-events")?.remove();
      if (cursor) list.append(h("button", { type: "button", class: "secondary", id: "older-events", onclick: () => load(true) }, "Older events"));
    } catch (err) {
      list.replaceChildren(h("p", { role: "alert", class: "field-error" }, err.message));
    }
  };
  render(
    h("hgroup", {}, h("h1", {}, "Events"), h("p", {}, "Inbound events of the last 7 days that queued nothing, and why. What the others delivered is in each webhook's delivery log.")),
    h(
      "form",
      { class: "row", onsubmit: (e) => { e.preventDefault(); load(false); } },
      h("div", {}, h("label", { for: "events-outcome" }, "Outcome"), outcome),
      h("div", { class: "shrink" }, h("label", { for: "events-show" }, h("span", { class: "visually-hidden" }, "Show the events")), h("button", { type: "submit", id: "events-show" }, "Show")),
    ),
    list,
  );
  await load(false);
}

function eventTable(items) {
  if (!items.length) {
    const empty = h(
      "div",
      { class: "empty" },
      h("p", {}, "No events match."),
      h("p", { class: "muted" }, "Every event with this tenant's tenant_id that was rejected, or reached a stage without a webhook, appears here."),
    );
    empty.append(h("table", {}, h("tbody")));
    return empty;
  }
  return h(
    "table",
    { class: "responsive" },
    h("thead", {}, h("tr", {}, ["Time", "Event", "Router", "Outcome", "Why"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      items.map((e) =>
        h(
          "tr",
          { "data-event": e.event_id, "data-outcome": e.outcome },
          h("td", { "data-label": "Time" }, new Date(e.at).toLocaleString()),
          h("td", { "data-label": "Event" }, e.detail_type, h("br"), h("code", { class: "muted" }, e.event_id), e.task_id ? h("span", { class: "muted" }, ` task ${e.task_id}`) : null),
          h("td", { "data-label": "Router" }, ROUTERS[e.router] || e.router),
          h("td", { "data-label": "Outcome" }, EVENT_OUTCOMES[e.outcome] || e.outcome, e.outcome === "routed" ? h("span", { class: "muted" }, ` (${e.deliveries} queued)`) : null),
          h("td", { "data-label": "Why" }, e.reason ? h("code", {}, e.reason) : "", e.detail ? h("span", { class: "muted" }, ` ${e.detail}`) : null),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Routing

async function route() {
  const hash = location.hash || "#/notifications";
  if (hash.startsWith("#sign-in=")) return redeemSignInLink(decodeURIComponent(hash.slice("#sign-in=".length)));
  if (!signedIn()) {
    if (hash !== "#/sign-in") {
      location.hash = "#/sign-in";
      return;
    }
    return signInPage();
  }
  for (const a of document.querySelectorAll("[data-tab]")) a.removeAttribute("aria-current");
  try {
    let m;
    if (hash === "#/sign-in") {
      location.hash = "#/notifications";
    } else if (hash === "#/notifications") {
      document.querySelector('[data-tab="notifications"]').setAttribute("aria-current", "page");
      await notificationsPage();
    } else if (hash === "#/webhooks") {
      document.querySelector('[data-tab="webhooks"]').setAttribute("aria-current", "page");
      await stageWebhooksPage();
    } else if ((m = hash.match(/^#\/(webhooks|slack)\/([^/]+)\/log$/))) {
      await deliveryLogPage(m[1], decodeURIComponent(m[2]));
    } else if (hash === "#/slack-connected") {
      location.hash = "#/notifications";
    } else if (hash === "#/events") {
      document.querySelector('[data-tab="events"]').setAttribute("aria-current", "page");
      await eventsPage();
    } else if (hash === "#/notifications/new") {
      await wizardPage(null);
    } else if ((m = hash.match(/^#\/notifications\/([^/]+)\/edit$/))) {
      await wizardPage(decodeURIComponent(m[1]));
    } else {
      render(h("h1", {}, "Not found"), h("p", {}, "There is no such page. "), h("a", { href: "#/notifications" }, "Go to notifications"));
    }
  } catch (err) {
    if (err.status === 401) return;
    render(h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, err.message), h("a", { href: "#/notifications" }, "Go to notifications"));
  }
}

async function start() {
  try {
    config = await (await fetch("/console/config.json")).json();
  } catch {
    // The defaults stand: API keys.
  }
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  showWho();
  window.addEventListener("hashchange", route);
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    // Back from the issuer (a sign-in this tab started), or from Slack (a channel added by
    // a signed-in user).
    const signingIn = config.auth.mode === "oidc" && (sessionStorage.getItem(PKCE) || !signedIn());
    try {
      if (signingIn) {
        await finishOIDC(params);
      } else if (signedIn()) {
        return await finishSlack(params);
      } else {
        history.replaceState(null, "", location.pathname + "#/sign-in");
        flash = "Sign in, then add the Slack channel again.";
      }
    } catch (err) {
      flash = err.message;
    }
  }
  await route();
}

// finishSlack connects the channel Slack's consent page sent back (?code=&state=) as the
// signed-in user: the API checks that the state is theirs.
async function finishSlack(params) {
  history.replaceState(null, "", location.pathname + "#/slack-connected");
  try {
    const ch = await api("GET", "/v1/slack/oauth/callback?" + params.toString());
    render(
      h("h1", {}, `Connected ${ch.channel_name}`),
      h("p", {}, `${ch.channel_name} (${ch.team_name}) is now in the Slack channels grid of all your notifications.`),
      h("p", {}, "Go back to the tab you came from and refresh the grid, or close this one."),
      h("a", { href: "#/notifications", role: "button", id: "slack-done" }, "Go to notifications"),
    );
  } catch (err) {
    render(
      h("h1", {}, "Slack was not connected"),
      h("p", { role: "alert", class: "field-error" }, err.message),
      h("a", { href: "#/notifications", role: "button" }, "Go to notifications"),
    );
  }
}

start();
