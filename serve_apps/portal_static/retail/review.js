// Recommendation review: the queue with approve / reject / override, the audit log and the
// outcome of a published price. Errors (a price breaking a rule, an item decided already)
// are shown next to the decision.
portal.start(async (me) => {
  const { api, el, fmt, table } = portal;
  const $ = (id) => document.getElementById(id);
  const mayDecide = retail.decides(me);
  const PAGE = 20;
  let open = null; // {item, action} of the decision form
  let queueOffset = 0;

  const change = (item) => item.recommended_price / item.current_price - 1;
  const measure = (m, field) => (m ? fmt.money(m[field]) : "—");

  function describeFailure(error) {
    if (error.status === 409 && error.detail && error.detail.decision) {
      const d = error.detail.decision;
      return `Already decided: ${error.detail.message} (${d.action} by ${d.by}, ${fmt.time(d.at)}` +
        `${d.price != null ? ", price " + fmt.money(d.price) : ""}).`;
    }
    if (error.status === 422 && Array.isArray(error.detail)) {
      return "Not allowed by the pricing rules: " + error.detail.map((d) => d.message).join("; ");
    }
    return error.message;
  }

  function decisionText(answer) {
    const a = answer.audit;
    const price = a.price_after != null ? ` at ${fmt.money(a.price_after)} (was ${fmt.money(a.price_before)})` : "";
    const verb = { approve: "Approved", override: "Overridden", reject: "Rejected" }[a.action];
    return `${verb}: ${a.product_id} at ${a.location_id}${price}` +
      (answer.published_event ? ", published to the stores." : ".");
  }

  async function decide(item, action, body) {
    const answer = await api(`/review/${item.id}/${action}`, { method: "POST", body, quiet: true });
    tell(decisionText(answer), false);
    closeForm();
    await Promise.all([showQueue(), showAudit(), showCounts()]);
  }

  function openForm(item, action) {
    open = { item, action };
    $("decision-outcome").hidden = true;
    $("decision").hidden = false;
    $("decision-error").hidden = true;
    $("decision-title").textContent = `${action === "override" ? "Override" : "Reject"}: ${item.product_id} at ${item.location_id}`;
    $("decision-context").textContent = `Current ${fmt.money(item.current_price)}, recommended ` +
      `${fmt.money(item.recommended_price)} (${item.method}${item.note ? ", " + item.note : ""}).`;
    $("decision-price-field").hidden = action !== "override";
    $("decision-price").required = action === "override";
    $("decision-price").value = action === "override" ? item.recommended_price.toFixed(2) : "";
    $("decision-reason").value = "";
    $("decision-reason").required = true;
    $("decision-reason").focus();
  }

  function closeForm() {
    open = null;
    $("decision").hidden = true;
  }

  $("decision-cancel").addEventListener("click", closeForm);
  $("decision-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!open) return;
    const body = { reason: $("decision-reason").value.trim() };
    if (open.action === "override") body.price = Number($("decision-price").value);
    $("decision-submit").disabled = true;
    try {
      await decide(open.item, open.action, body);
    } catch (error) {
      $("decision-error").textContent = describeFailure(error);
      $("decision-error").hidden = false;
    } finally {
      $("decision-submit").disabled = false;
    }
  });

  function tell(text, failed) {
    $("decision-outcome").textContent = text;
    $("decision-outcome").className = failed ? "portal-error" : "notice";
    $("decision-outcome").setAttribute("role", failed ? "alert" : "status");
    $("decision-outcome").hidden = false;
  }

  async function approve(item, button) {
    button.disabled = true;
    closeForm();
    try {
      await decide(item, "approve", {});
    } catch (error) {
      tell(describeFailure(error), true);
      button.disabled = false;
    }
  }

  function actions(item) {
    if (item.status !== "pending") {
      const d = item.decision;
      return d ? [`${d.by}, ${fmt.time(d.at)}`, d.reason ? ` — ${d.reason}` : "",
        d.price != null ? " " : "", d.price != null ? el("button", { type: "button", class: "link",
          onclick: () => showOutcome(item) }, "outcome") : ""] : "";
    }
    if (!mayDecide) return el("span", { class: "muted" }, "read only");
    const button = (label, action, onclick) => el("button", { type: "button", class: action === "approve" ? "" : "secondary",
      "data-action": action, onclick }, label);
    return el("span", { class: "actions" },
      button("Approve", "approve", (e) => approve(item, e.currentTarget)), " ",
      button("Override…", "override", () => openForm(item, "override")), " ",
      button("Reject…", "reject", () => openForm(item, "reject")));
  }

  const queueColumns = [
    { label: "Product", value: (i) => el("a", { href: `charts.html?product=${encodeURIComponent(i.product_id)}&location=${encodeURIComponent(i.location_id)}&date=${i.target_date}` }, i.product_id) },
    { label: "Store", value: (i) => i.location_id },
    { label: "Region", value: (i) => i.region },
    { label: "Category", value: (i) => i.category },
    { label: "Source", value: (i) => (i.source === "alert"
      ? el("span", { class: "badge sev-" + (i.severity || "info") }, "alert " + (i.severity || ""))
      : el("span", { class: "badge" }, "batch")) },
    { label: "Current", className: "num", value: (i) => fmt.money(i.current_price) },
    { label: "Recommended", className: "num", value: (i) => fmt.money(i.recommended_price) },
    { label: "Change", className: "num", value: (i) => el("span", { class: change(i) >= 0 ? "up" : "down" },
      (change(i) >= 0 ? "+" : "") + fmt.percent(change(i))) },
    { label: "Revenue/day now → expected", className: "num",
      value: (i) => `${measure(i.status_quo, "revenue")} → ${measure(i.expected, "revenue")}` },
    { label: "For", value: (i) => i.target_date },
    { label: "Status", value: (i) => el("span", { class: "badge status-" + i.status }, i.status) },
    { label: "", value: actions },
  ];

  async function showQueue() {
    const query = { status: $("status").value, source: $("source").value,
      region: $("region").value.trim(), category: $("category").value.trim(),
      limit: PAGE, offset: queueOffset };
    const page = await api("/review/queue", { query });
    const last = Math.min(queueOffset + page.items.length, page.count);
    const move = (label, offset, disabled) => el("button", { type: "button", class: "secondary",
      disabled, onclick: () => { queueOffset = offset; showQueue(); } }, label);
    $("queue-summary").replaceChildren(`${page.count} items` +
      (page.count ? `, ${queueOffset + 1}–${last} shown, newest first. ` : ". "),
      move("Newer", Math.max(queueOffset - PAGE, 0), queueOffset === 0), " ",
      move("Older", queueOffset + PAGE, last >= page.count));
    const rendered = table(queueColumns, page.items, { id: "queue-table" });
    rendered.querySelectorAll("tbody tr").forEach((row, i) => {
      if (page.items[i]) row.dataset.item = page.items[i].id;
    });
    $("queue").replaceChildren(rendered);
  }

  async function showCounts() {
    const counts = await api("/review/counts");
    $("counts").replaceChildren(...Object.entries(counts).flatMap(([status, n]) => [
      el("span", { class: "badge status-" + status }, `${n} ${status}`), " "]));
  }

  const auditColumns = [
    { label: "When", value: (a) => fmt.time(a.at) },
    { label: "Who", value: (a) => `${a.who} (${a.role})` },
    { label: "Action", value: (a) => el("span", { class: "badge status-" + { approve: "approved", override: "overridden", reject: "rejected" }[a.action] }, a.action) },
    { label: "Product", value: (a) => a.product_id },
    { label: "Store", value: (a) => a.location_id },
    { label: "Before", className: "num", value: (a) => fmt.money(a.price_before) },
    { label: "Recommended", className: "num", value: (a) => fmt.money(a.recommended_price) },
    { label: "After", className: "num", value: (a) => fmt.money(a.price_after) },
    { label: "Reason", value: (a) => a.reason || "" },
    { label: "Model", value: (a) => a.model_version || "—" },
  ];

  async function showAudit() {
    const query = { product_id: $("audit-product").value.trim(), who: $("audit-who").value.trim(),
      action: $("audit-action").value, limit: 100 };
    const page = await api("/review/audit", { query });
    const rendered = table(auditColumns, page.entries, { id: "audit-table" });
    rendered.querySelectorAll("tbody tr").forEach((row, i) => {
      if (page.entries[i]) row.dataset.item = page.entries[i].recommendation_id;
    });
    $("audit").replaceChildren(rendered);
  }

  async function showOutcome(item) {
    const outcome = await api(`/review/${item.id}/outcome`);
    $("outcome").hidden = false;
    $("outcome-title").textContent = `Outcome: ${item.product_id} at ${item.location_id}, published ${fmt.money(outcome.published_price)}`;
    const per = (period) => (period.per_day ? period.per_day : {});
    $("outcome-body").replaceChildren(table([
      { label: "", value: (r) => r.label },
      { label: "Days", className: "num", value: (r) => r.days },
      { label: "Units/day", className: "num", value: (r) => fmt.number(r.m.units, 1) },
      { label: "Revenue/day", className: "num", value: (r) => fmt.money(r.m.revenue) },
      { label: "Margin/day", className: "num", value: (r) => fmt.money(r.m.margin) },
    ], [
      { label: "before the decision", days: outcome.before.days, m: per(outcome.before) },
      { label: "since the decision", days: outcome.after.days, m: per(outcome.after) },
      { label: "predicted", days: "", m: outcome.predicted_per_day || {} },
    ]), el("p", { class: "muted" }, outcome.adoption == null ? "No sales recorded at the new price yet."
      : `${fmt.percent(outcome.adoption)} of the records since the decision carry the published price.`));
    $("outcome").scrollIntoView();
  }

  $("queue-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    queueOffset = 0;
    showQueue();
  });
  $("audit-filters").addEventListener("submit", (e) => { e.preventDefault(); showAudit(); });
  await Promise.all([showCounts(), showQueue(), showAudit()]);
});
