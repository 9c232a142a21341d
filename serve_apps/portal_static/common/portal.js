// dynaprice portal runtime, shared by every portal page (no build step, no internet).
//
// window.portal:
//   apiBase               the app's route prefix ("/api/ads"), read from the page's URL
//   api(path, options)    fetch `apiBase + path` with X-API-Key; resolves to the JSON body.
//                         options: method, body (object -> JSON), query (object), headers,
//                         quiet (don't show the error banner). A 401 goes to the login page;
//                         other errors show the server's {"error", "detail"} and reject with
//                         a PortalError {status, code, detail}.
//   follow(path, onEvent, options)
//                         server-sent events read with fetch streams (EventSource cannot send
//                         headers); reconnects after `retry` ms with Last-Event-ID.
//                         onEvent({id, event, data}) gets `data` parsed as JSON when it is.
//                         options: query, onStatus("open" | "reconnecting" | "closed").
//                         Returns {close()}.
//   start(onReady)        a page's entry point: needs a key (else the login page), loads
//                         the session (GET /portal/session), fills the header, hides
//                         [data-staff] elements from non-staff, then onReady(session).
//   plot(element, traces, layout)   Plotly.react with the portal's defaults.
//   el(tag, attributes, ...children), table(columns, rows), fmt.*, showError, clearError,
//   key(), setKey(key), logout(), loginUrl()
(function () {
  "use strict";

  const MARKER = "/portal/";
  const at = location.pathname.indexOf(MARKER);
  const apiBase = at >= 0 ? location.pathname.slice(0, at) : "";
  const portalRoot = apiBase + MARKER;
  const storageKey = "dynaprice:api-key:" + apiBase;

  class PortalError extends Error {
    constructor(status, code, detail) {
      super(describe(status, code, detail));
      this.status = status;
      this.code = code;
      this.detail = detail;
    }
  }

  function describeDetail(detail) {
    if (detail == null) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => (d && d.field ? d.field + ": " + d.message : describeDetail(d)))
        .join("; ");
    }
    if (typeof detail === "object" && detail.message) {
      const extra = Object.entries(detail).filter(([k]) => k !== "message")
        .map(([k, v]) => k + ": " + (Array.isArray(v) ? v.join(", ") : JSON.stringify(v)));
      return [detail.message, ...extra].join(" — ");
    }
    return JSON.stringify(detail);
  }

  function describe(status, code, detail) {
    const text = describeDetail(detail);
    return `${status} ${code || "error"}${text ? ": " + text : ""}`;
  }

  const key = () => sessionStorage.getItem(storageKey);
  const setKey = (value) => sessionStorage.setItem(storageKey, value);

  function loginUrl(reason) {
    const next = location.pathname + location.search + location.hash;
    const query = new URLSearchParams({ next });
    if (reason) query.set("reason", reason);
    return portalRoot + "common/login.html?" + query;
  }

  function login(reason) {
    location.assign(loginUrl(reason));
    return new Promise(() => {}); // the page is going away
  }

  function logout() {
    sessionStorage.removeItem(storageKey);
    location.assign(portalRoot + "common/login.html?" + new URLSearchParams({ next: portalRoot }));
  }

  function errorBanner() {
    let banner = document.getElementById("portal-error");
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "portal-error";
      banner.className = "portal-error";
      banner.setAttribute("role", "alert");
      banner.hidden = true;
      document.body.prepend(banner);
    }
    return banner;
  }

  function showError(message) {
    const banner = errorBanner();
    banner.textContent = String(message);
    banner.hidden = false;
  }

  function clearError() {
    errorBanner().hidden = true;
  }

  function url(path, query) {
    const search = query
      ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== ""))
      : "";
    return apiBase + path + (search === "?" ? "" : search);
  }

  async function errorOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return new PortalError(response.status, body && body.error, body ? body.detail : response.statusText);
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const current = key();
    if (!current) return login();
    headers["X-API-Key"] = current;
    let body = options.body;
    if (body !== undefined && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url(path, options.query), {
        method: options.method || (body === undefined ? "GET" : "POST"), headers, body,
        cache: "no-store",
      });
    } catch (failure) {
      const error = new PortalError(0, "network", "the server did not answer (" + failure.message + ")");
      if (!options.quiet) showError(error.message);
      throw error;
    }
    if (response.status === 401 && !options.quiet) {
      sessionStorage.removeItem(storageKey);
      return login("expired");
    }
    if (!response.ok) {
      const error = await errorOf(response);
      if (!options.quiet) showError(error.message);
      throw error;
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  // One server-sent event block ("field: value" lines) -> {id, event, data, retry} or null.
  function parseEvent(block) {
    const event = { id: null, event: "message", data: [], retry: null };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") event.data.push(value);
      else if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
      else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
    }
    return event;
  }

  function follow(path, onEvent, options = {}) {
    const controller = new AbortController();
    const status = options.onStatus || (() => {});
    let lastEventId = options.lastEventId || null;
    let retryMs = options.retryMs || 2000;
    let closed = false;

    function dispatch(block) {
      const parsed = parseEvent(block);
      if (parsed.retry != null) retryMs = parsed.retry;
      if (parsed.id != null) lastEventId = parsed.id;
      if (!parsed.data.length) return;
      const text = parsed.data.join("\n");
      let data = text;
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = text;
      }
      onEvent({ id: parsed.id, event: parsed.event, data });
    }

    async function readOnce() {
      const headers = { Accept: "text/event-stream", "X-API-Key": key() || "" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(url(path, options.query), {
        headers, signal: controller.signal, cache: "no-store",
      });
      if (response.status === 401) {
        closed = true;
        sessionStorage.removeItem(storageKey);
        login("expired");
        return;
      }
      if (!response.ok) {
        const error = await errorOf(response);
        showError(error.message);
        if (response.status < 500 && response.status !== 429) closed = true;
        return;
      }
      status("open");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    }

    (async () => {
      while (!closed) {
        try {
          await readOnce();
        } catch (failure) {
          if (closed || controller.signal.aborted) break;
        }
        if (closed) break;
        status("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
      status("closed");
    })();

    return {
      close() {
        closed = true;
        controller.abort();
      },
      get lastEventId() {
        return lastEventId;
      },
    };
  }

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value == null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        node.addEventListener(name.slice(2), value);
      } else if (name === "dataset") {
        Object.assign(node.dataset, value);
      } else {
        node.setAttribute(name, value === true ? "" : value);
      }
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // columns: [{label, value: row => text or Node, className?}]
  function table(columns, rows, attributes = {}) {
    return el("table", { class: "portal-table", ...attributes },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c.label)))),
      el("tbody", {}, rows.length
        ? rows.map((row) => el("tr", {}, columns.map((c) => el("td", { class: c.className }, c.value(row)))))
        : el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "nothing yet"))));
  }

  const fmt = {
    number: (v, digits = 0) => (v == null ? "—" : Number(v).toLocaleString(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits })),
    money: (v, currency = "USD") => (v == null ? "—" : Number(v).toLocaleString(undefined, {
      style: "currency", currency })),
    percent: (v, digits = 1) => (v == null ? "—" : (100 * v).toFixed(digits) + " %"),
    time: (v) => (v ? new Date(v).toLocaleString() : "—"),
    hour: (v) => (v ? String(v).slice(0, 13).replace("T", " ") + ":00" : "—"),
  };

  function plot(element, traces, layout = {}) {
    const target = typeof element === "string" ? document.getElementById(element) : element;
    return window.Plotly.react(target, traces, {
      margin: { t: 36, r: 16, b: 48, l: 56 }, font: { family: "system-ui, sans-serif", size: 12 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", ...layout,
      xaxis: { automargin: true, ...(layout.xaxis || {}) },
      yaxis: { automargin: true, ...(layout.yaxis || {}) },
    }, { displaylogo: false, responsive: true, showLink: false, showSendToCloud: false });
  }

  let sessionPromise = null;
  const session = () => (sessionPromise ||= api("/portal/session"));

  function fillHeader(me) {
    const user = document.querySelector(".portal-user");
    if (user) {
      user.replaceChildren(
        el("span", { class: "muted" }, me.name + " (" + me.roles.join(", ") + ")"),
        el("button", { type: "button", class: "link", id: "logout", onclick: logout }, "Log out"));
    }
    for (const node of document.querySelectorAll("[data-staff]")) node.hidden = !me.staff;
    const here = location.pathname.replace(/index\.html$/, "");
    for (const link of document.querySelectorAll(".portal-header nav a")) {
      const target = new URL(link.href).pathname.replace(/index\.html$/, "");
      if (target === here) link.setAttribute("aria-current", "page");
    }
  }

  async function start(onReady) {
    if (!key()) return login();
    const go = async () => {
      const me = await session();
      fillHeader(me);
      document.body.classList.add("portal-ready");
      if (onReady) await onReady(me);
    };
    const run = () => go().catch((error) => {
      if (!(error instanceof PortalError)) showError(error.message || String(error));
    });
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  window.portal = {
    apiBase, portalRoot, PortalError, api, follow, start, session, plot, el, table, fmt,
    showError, clearError, key, setKey, logout, loginUrl, describe,
  };
})();
