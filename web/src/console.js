// The call handler's live-triage console: /console.
import { Intake } from "./gen/bluelight/v1/intake_pb.js";
import { Dispatch } from "./gen/bluelight/v1/dispatch_pb.js";
import { Operations } from "./gen/bluelight/v1/operations_pb.js";
import {
  AgencySchema,
  AnswersSchema,
  Channel,
  ChannelSchema,
  GradeSchema,
  LocationSource,
  OnlineCategorySchema,
  ReferralSchema,
  Agency,
} from "./gen/bluelight/v1/types_pb.js";
import {
  client,
  Code,
  codeName,
  ConnectError,
  el,
  fieldViolations,
  getToken,
  humanField,
  humanName,
  newContactId,
  setToken,
  setupClient,
  shortName,
} from "./client.js";

const $ = (id) => document.getElementById(id);

setupClient({ tokenKey: "bluelight.console.token" });

const intake = client(Intake);
const dispatch = client(Dispatch);
const operations = client(Operations);

// Desks from config/desks.toml; GetQueueStats adds any others when allowed.
const DESKS = [
  ["police-north", "Police north"],
  ["police-west", "Police west"],
  ["police-south", "Police south"],
  ["police-overflow", "Police overflow"],
  ["fire-control", "Fire control"],
  ["fire-overflow", "Fire control overflow"],
  ["joint", "Joint coordination"],
  ["firearms", "Armed policing"],
  ["water-rescue", "Water rescue"],
  ["hazmat", "Hazardous materials"],
  ["resolution", "Resolution centre"],
  ["supervisor", "Control room supervisor"],
];

const CHANNEL_LABELS = {
  [Channel.PHONE_999]: "999 call",
  [Channel.PHONE_101]: "101 call",
  [Channel.ONLINE_FORM]: "Online form",
  [Channel.WEBCHAT]: "Webchat",
  [Channel.EMERGENCY_SMS]: "Emergency SMS",
  [Channel.TEXT_RELAY]: "Text relay",
  [Channel.ECALL]: "eCall",
  [Channel.ALARM_RECEIVING_CENTRE]: "Alarm receiving centre",
};

// --- Errors -----------------------------------------------------------------

let errorSource = "";

function showError(source, err, what) {
  const e = ConnectError.from(err);
  const box = $("console-error");
  const lines = [];
  let head = `${what}: ${codeName(e.code)}: ${e.rawMessage}`;
  if (e.code === Code.Unauthenticated) head += " (set an access token in Settings)";
  else if (e.code === Code.PermissionDenied) head += " (your access token does not allow this)";
  else if (e.code === Code.ResourceExhausted || e.code === Code.Unavailable) head += " (try again shortly)";
  for (const v of fieldViolations(e)) lines.push(`${v.field}: ${v.description}`);
  box.replaceChildren(el("p", { text: head }));
  if (lines.length) box.append(el("ul", null, ...lines.map((l) => el("li", { text: l }))));
  box.hidden = false;
  errorSource = source;
}

function clearError(source) {
  if (source && source !== errorSource) return;
  $("console-error").hidden = true;
  $("console-error").replaceChildren();
  errorSource = "";
}

// --- Contact form -----------------------------------------------------------

let contactId = newContactId();
let answers = emptyAnswers();
let submitted = false;

function emptyAnswers() {
  const a = {};
  for (const f of AnswersSchema.fields) {
    if (f.fieldKind === "list") a[f.localName] = [];
    else if (f.fieldKind === "enum") a[f.localName] = 0;
  }
  a.casualties = undefined;
  return a;
}

function fillSelect(select, schema, labels, skipZero) {
  for (const v of schema.values) {
    if (skipZero && v.number === 0) continue;
    const text = (labels && labels[v.number]) || (v.number === 0 ? "Not chosen" : humanName(schema, v.number));
    select.append(el("option", { value: String(v.number), text }));
  }
}

fillSelect($("channel"), ChannelSchema, CHANNEL_LABELS, true);
$("channel").value = String(Channel.PHONE_999);
fillSelect($("category"), OnlineCategorySchema, null, false);

function isOnline(channel) {
  return channel === Channel.ONLINE_FORM || channel === Channel.WEBCHAT;
}

function updateCategoryVisibility() {
  $("category-group").hidden = !isOnline(Number($("channel").value));
}

function buildContact() {
  const channel = Number($("channel").value);
  const postcode = $("postcode").value.trim();
  const a = {};
  for (const f of AnswersSchema.fields) {
    const v = answers[f.localName];
    if (f.fieldKind === "list") a[f.localName] = [...v];
    else if (v !== undefined) a[f.localName] = v;
  }
  return {
    contactId,
    channel,
    narrative: $("narrative").value,
    category: isOnline(channel) ? Number($("category").value) : 0,
    answers: a,
    location: postcode ? { postcode, source: LocationSource.CALLER } : {},
    caller: { name: $("caller-name").value.trim(), phone: $("caller-phone").value.trim() },
  };
}

function hasAnything() {
  if ($("narrative").value.trim() || $("postcode").value.trim()) return true;
  return AnswersSchema.fields.some((f) => {
    const v = answers[f.localName];
    return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== 0;
  });
}

// --- Answers toggles --------------------------------------------------------

function renderAnswers() {
  const body = $("answers-body");
  body.replaceChildren();
  for (const f of AnswersSchema.fields) {
    const labelId = `answer-${f.name}-label`;
    if (f.fieldKind === "scalar") {
      const input = el("input", {
        type: "number",
        id: f.name,
        min: "0",
        step: "1",
        inputmode: "numeric",
        class: "input-short",
      });
      input.addEventListener("input", () => {
        const n = parseInt(input.value, 10);
        answers[f.localName] = Number.isFinite(n) && n >= 0 ? n : undefined;
        schedulePreview();
      });
      body.append(el("div", { class: "form-group" }, el("label", { for: f.name, text: humanField(f.name) }), input));
      continue;
    }
    const enumDesc = f.enum;
    const group = el("div", {
      class: "toggle-group",
      role: "group",
      "aria-labelledby": labelId,
      "data-field": f.name,
    });
    group.append(
      el("p", { id: labelId, class: "group-label", text: humanField(f.name) + (f.fieldKind === "list" ? " (any that apply)" : "") }),
    );
    const row = el("div", { class: "toggle-row" });
    for (const v of enumDesc.values) {
      if (v.number === 0) continue;
      const b = el("button", {
        type: "button",
        class: "toggle",
        "aria-pressed": "false",
        "data-field": f.name,
        "data-value": String(v.number),
        text: humanName(enumDesc, v.number),
      });
      b.addEventListener("click", () => {
        toggleAnswer(f, v.number);
        previewNow();
      });
      row.append(b);
    }
    group.append(row);
    body.append(group);
  }
  syncAnswers();
}

function toggleAnswer(f, number) {
  if (f.fieldKind === "list") {
    const list = answers[f.localName];
    const i = list.indexOf(number);
    if (i >= 0) list.splice(i, 1);
    else list.push(number);
  } else {
    answers[f.localName] = answers[f.localName] === number ? 0 : number;
  }
  syncAnswers();
}

function setAnswer(f, number) {
  if (f.fieldKind === "list") {
    if (!answers[f.localName].includes(number)) answers[f.localName].push(number);
  } else {
    answers[f.localName] = number;
  }
  syncAnswers();
}

function syncAnswers() {
  for (const b of $("answers-body").querySelectorAll("button[data-field]")) {
    const f = AnswersSchema.fields.find((x) => x.name === b.dataset.field);
    const v = answers[f.localName];
    const n = Number(b.dataset.value);
    const on = Array.isArray(v) ? v.includes(n) : v === n;
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  const cas = $("casualties");
  if (cas) {
    const want = answers.casualties === undefined ? "" : String(answers.casualties);
    if (cas.value !== want && !(cas.value === "" && want === "")) cas.value = want;
  }
}

// --- Preview ----------------------------------------------------------------

let previewTimer = 0;
let previewSeq = 0;
let previewApplied = 0;

function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(previewNow, 250);
}

async function previewNow() {
  clearTimeout(previewTimer);
  const seq = ++previewSeq;
  if (!hasAnything()) {
    previewApplied = seq;
    renderDecision(null);
    clearError("preview");
    return;
  }
  try {
    const res = await intake.previewTriage({ contact: buildContact() });
    if (seq < previewApplied) return; // an older answer arriving late
    previewApplied = seq;
    renderDecision(res);
    clearError("preview");
  } catch (err) {
    if (seq < previewApplied) return;
    previewApplied = seq;
    showError("preview", err, "Triage preview failed");
  }
}

function agencyText(t) {
  const agency = shortName(AgencySchema, t.agency);
  if (t.agency === Agency.JOINT) return `${agency} (lead ${shortName(AgencySchema, t.leadAgency)})`;
  if (t.agency === Agency.NONE) {
    return t.referral ? `${agency} (referral ${shortName(ReferralSchema, t.referral)})` : `${agency} (referral)`;
  }
  return agency;
}

function gradeText(g) {
  const m = /^GRADE_(\d)_(.+)$/.exec(GradeSchema.values.find((v) => v.number === g)?.name || "");
  if (!m) return "Not graded";
  const word = m[2].charAt(0) + m[2].slice(1).toLowerCase();
  return `Grade ${m[1]} — ${word}`;
}

function fillList(ul, items) {
  ul.replaceChildren(...items.map((t) => el("li", { text: t })));
  if (items.length === 0) ul.append(el("li", { text: "None" }));
}

// One short line for screen readers, announced only when it changes.
let decisionLiveText = "";
function setDecisionLive(text) {
  if (text === decisionLiveText) return;
  decisionLiveText = text;
  $("decision-live").textContent = text;
}

function decisionSummary(t) {
  const m = /^GRADE_(\d)_/.exec(GradeSchema.values.find((v) => v.number === t.grade)?.name || "");
  const parts = [agencyText(t), m ? `grade ${m[1]}` : "not graded"];
  const type = [t.incidentType, t.incidentTypeName].filter(Boolean).join(" ");
  if (type) parts.push(type);
  if (t.needsConfirmation) parts.push("needs confirming");
  return parts.join(", ");
}

function renderDecision(res) {
  const panel = $("needs-confirmation");
  // Re-rendering removes the answer buttons; keep focus off <body> when it was in the panel.
  const hadFocus = panel.contains(document.activeElement);
  renderDecisionBody(res);
  if (hadFocus && !panel.contains(document.activeElement)) {
    if (!panel.hidden && !$("decision-body").hidden) $("next-question").focus();
    else $("decision-title").focus();
  }
}

function renderDecisionBody(res) {
  const body = $("decision-body");
  if (!res || !res.triage) {
    body.hidden = true;
    $("decision-empty").hidden = false;
    $("needs-confirmation").hidden = true;
    setDecisionLive("");
    return;
  }
  const t = res.triage;
  const r = res.route || { desks: [], area: "", reasons: [] };
  $("agency").textContent = agencyText(t);
  $("grade").textContent = gradeText(t.grade);
  $("grade").dataset.grade = String(t.grade);
  $("type").textContent = [t.incidentType, t.incidentTypeName].filter(Boolean).join(" ");
  $("confidence").textContent = `${Math.round((t.confidence || 0) * 100)}%`;
  $("route-desks").textContent = r.desks.join(", ") || "None";
  $("route-area").textContent = r.area || "Unknown";
  $("qualifiers").textContent = t.qualifiers.join(", ") || "None";
  fillList($("reasons"), t.reasons);
  fillList($("route-reasons"), r.reasons);
  $("decision-public-message").textContent = res.publicMessage || "";
  renderQuestion(t);
  $("decision-empty").hidden = true;
  body.hidden = false;
  setDecisionLive(decisionSummary(t));
}

function renderQuestion(t) {
  const panel = $("needs-confirmation");
  const q = t.nextQuestion;
  if (!t.needsConfirmation) {
    panel.hidden = true;
    return;
  }
  $("next-question").textContent = q && q.text ? q.text : "Confirm the details with the caller.";
  const box = $("next-question-answers");
  box.replaceChildren();
  const f = q ? AnswersSchema.fields.find((x) => x.name === q.field || x.localName === q.field) : undefined;
  if (f && f.enum) {
    for (const v of f.enum.values) {
      if (v.number === 0) continue;
      const b = el("button", {
        type: "button",
        class: "button secondary",
        "data-field": f.name,
        "data-value": String(v.number),
        text: (f.fieldKind === "list" ? "Add: " : "") + humanName(f.enum, v.number),
      });
      b.addEventListener("click", () => {
        setAnswer(f, v.number);
        previewNow();
      });
      box.append(b);
    }
  } else if (f && f.fieldKind === "scalar") {
    const input = el("input", { type: "number", min: "0", id: "next-question-number", class: "input-short", "aria-labelledby": "next-question" });
    const b = el("button", { type: "button", class: "button secondary", text: "Set" });
    b.addEventListener("click", () => {
      const n = parseInt(input.value, 10);
      if (Number.isFinite(n) && n >= 0) {
        answers[f.localName] = n;
        syncAnswers();
        previewNow();
      }
    });
    box.append(input, b);
  }
  panel.hidden = false;
}

// --- Submit -----------------------------------------------------------------

let submitting = false;

$("contact-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (submitting || submitted) return;
  submitting = true;
  const button = $("submit");
  button.disabled = true;
  button.textContent = "Submitting…";
  try {
    const res = await intake.submitContact({ contact: buildContact() });
    clearError();
    submitted = true;
    $("submitted-reference").textContent = res.incident ? res.incident.reference : "";
    $("tell-caller").textContent = res.publicMessage || "";
    const notes = [];
    if (res.linked) notes.push("Linked to an incident already known (a repeat call).");
    if (res.replayed) notes.push("Already submitted: this is the original answer.");
    $("submitted-notes").replaceChildren(...notes.map((n) => el("li", { text: n })));
    $("submitted").hidden = false;
    $("submitted").focus();
    refreshQueueSoon();
  } catch (err) {
    showError("submit", err, "Submit failed");
  } finally {
    submitting = false;
    button.textContent = "Submit";
    button.disabled = submitted;
  }
});

function newContact() {
  contactId = newContactId();
  submitted = false;
  $("contact-form").reset();
  $("channel").value = String(Channel.PHONE_999);
  answers = emptyAnswers();
  syncAnswers();
  updateCategoryVisibility();
  previewSeq++;
  previewApplied = previewSeq;
  clearTimeout(previewTimer);
  renderDecision(null);
  $("submitted").hidden = true;
  $("submit").disabled = false;
  clearError();
  $("narrative").focus();
}

$("new-contact").addEventListener("click", newContact);
$("submitted-new").addEventListener("click", newContact);

for (const id of ["narrative", "postcode"]) $(id).addEventListener("input", schedulePreview);
$("channel").addEventListener("change", () => {
  updateCategoryVisibility();
  schedulePreview();
});
$("category").addEventListener("change", schedulePreview);

// --- Settings ---------------------------------------------------------------

$("token").value = getToken();
$("token").addEventListener("input", () => setToken($("token").value.trim()));

// --- Desk view --------------------------------------------------------------

function addDeskOption(id, name) {
  const select = $("desk");
  if ([...select.options].some((o) => o.value === id)) return;
  select.append(el("option", { value: id, text: name ? `${id} (${name})` : id }));
}
for (const [id, name] of DESKS) addDeskOption(id, name);

operations
  .getQueueStats({})
  .then((res) => {
    for (const d of res.desks) addDeskOption(d.desk, "");
  })
  .catch(() => {
    // Not allowed or not reachable: the built-in list stays.
  });

function deskStatus(text) {
  $("desk-status").textContent = text;
}

function currentDesk() {
  return $("desk").value;
}

function dispatcherName() {
  return $("dispatcher").value.trim() || "console";
}

function formatWait(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

let queueDesk = "";
let listing = false;
let listAgain = false;

async function refreshQueue() {
  if (!queueDesk) return;
  if (listing) {
    listAgain = true;
    return;
  }
  listing = true;
  try {
    do {
      listAgain = false;
      // Re-read the desk each time: it may have changed while a listing was in flight.
      const desk = queueDesk;
      if (!desk) break;
      try {
        const res = await dispatch.listQueue({ desk, limit: 0 });
        if (desk !== queueDesk) {
          listAgain = true; // stale answer: list the current desk instead
          continue;
        }
        renderQueue(desk, res);
        clearError("queue");
        clearError("watch");
      } catch (err) {
        if (desk !== queueDesk) {
          listAgain = true;
          continue;
        }
        showError("queue", err, "Loading the queue failed");
      }
    } while (listAgain);
  } finally {
    listing = false;
  }
}

// At most one ListQueue per 100 ms however many events arrive (a replay can bring many);
// a refresh asked for while one is in flight runs once more after it (listAgain).
let refreshTimer = 0;
function refreshQueueSoon() {
  if (!queueDesk || refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    refreshQueue();
  }, 100);
}

function renderQueue(desk, res) {
  const fetched = Date.now();
  $("queue-caption").textContent = `Queue for ${desk}: ${res.depth} waiting`;
  const rows = res.entries.map((e) => {
    const wait = el("td", { class: "wait", "data-wait-ms": String(e.waitMs), "data-fetched": String(fetched) });
    wait.textContent = formatWait(Number(e.waitMs));
    const claim = el("button", { type: "button", class: "button small secondary", text: "Claim", disabled: claiming.has(e.reference) });
    claim.setAttribute("aria-label", `Claim ${e.reference}`);
    claim.addEventListener("click", () => busy(claim, () => claimOne(e.reference)));
    return el(
      "tr",
      { "data-reference": e.reference, "data-grade": String(e.grade) },
      el("th", { scope: "row", text: e.reference }),
      el("td", { text: gradeText(e.grade) }),
      el("td", { text: e.incidentType }),
      el("td", { text: shortName(AgencySchema, e.agency) }),
      wait,
      el("td", null, claim),
    );
  });
  if (rows.length === 0) rows.push(el("tr", { class: "empty" }, el("td", { colspan: "6", text: "Queue empty" })));
  $("queue-body").replaceChildren(...rows);
}

// Waiting times tick without a reload.
setInterval(() => {
  const now = Date.now();
  for (const td of document.querySelectorAll("#queue-body td.wait")) {
    td.textContent = formatWait(Number(td.dataset.waitMs) + (now - Number(td.dataset.fetched)));
  }
}, 1000);

// Watching: ListQueue, then WatchDesk; every event refreshes the list; reconnect with after_id.
// The first subscription of a desk uses after_id "0" (replay what the server keeps) so an
// incident queued between ListQueue and the stream opening is not missed; after a drop it
// resumes from the last event id seen.
let watch = null; // { desk, abort, lastId }

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function watchLoop(w) {
  let delay = 1000;
  while (!w.abort.signal.aborted) {
    try {
      await refreshQueue();
      const stream = dispatch.watchDesk({ desk: w.desk, afterId: w.lastId }, { signal: w.abort.signal });
      deskStatus(`Watching ${w.desk}`);
      for await (const ev of stream) {
        delay = 1000;
        if (ev.id) w.lastId = ev.id;
        clearError("watch");
        refreshQueueSoon(); // coalesced: a replay of many events makes one ListQueue
      }
    } catch (err) {
      if (w.abort.signal.aborted) return;
      const e = ConnectError.from(err);
      if (e.code === Code.Canceled && w.abort.signal.aborted) return;
      showError("watch", e, `Watching ${w.desk} interrupted, reconnecting`);
    }
    if (w.abort.signal.aborted) return;
    deskStatus(`Reconnecting to ${w.desk}…`);
    await sleep(delay, w.abort.signal);
    delay = Math.min(delay * 2, 15000);
  }
}

function stopWatching() {
  if (!watch) return;
  watch.abort.abort();
  watch = null;
  $("watch").textContent = "Watch desk";
  $("watch").setAttribute("aria-pressed", "false");
}

function startWatching() {
  stopWatching();
  const desk = currentDesk();
  queueDesk = desk;
  watch = { desk, abort: new AbortController(), lastId: "0" };
  $("watch").textContent = "Stop watching";
  $("watch").setAttribute("aria-pressed", "true");
  deskStatus(`Watching ${desk}`);
  watchLoop(watch);
}

$("watch").addEventListener("click", () => {
  if (watch) {
    stopWatching();
    deskStatus("Stopped watching");
  } else {
    startWatching();
  }
});

$("desk").addEventListener("change", () => {
  if (watch) startWatching();
  else if (queueDesk) {
    queueDesk = currentDesk();
    refreshQueue();
  }
});

// Holding a lease.
let held = null; // { reference, desk, token, expiresAtMs, leaseMs, deadline }
let renewTimer = 0;
const RENEW_RETRY_MS = 5000;

// The lease length is read once, when the lease arrives; after that only the monotonic
// clock (performance.now) is used, so a wrong or changing wall clock does not move renewals.
function setLeaseTiming(h, expiresAtMs) {
  h.expiresAtMs = expiresAtMs;
  h.leaseMs = expiresAtMs ? expiresAtMs - Date.now() : 0;
  h.deadline = performance.now() + h.leaseMs;
}

function showHeld(lease, incident) {
  held = { reference: lease.reference, desk: lease.desk, token: lease.token };
  setLeaseTiming(held, Number(lease.expiresAtMs));
  $("held-reference").textContent = lease.reference;
  $("held-token").textContent = String(lease.token);
  updateExpiry();
  const t = incident && incident.triage;
  $("held-summary").textContent = t
    ? `${gradeText(t.grade)} · ${[t.incidentType, t.incidentTypeName].filter(Boolean).join(" ")} · ${agencyText(t)}`
    : "";
  $("outcome").value = "";
  $("held").hidden = false;
  scheduleRenew();
}

function updateExpiry() {
  $("held-expiry").textContent = held && held.expiresAtMs
    ? `lease until ${new Date(held.expiresAtMs).toLocaleTimeString("en-GB")}`
    : "";
}

function clearHeld() {
  held = null;
  clearTimeout(renewTimer);
  $("held").hidden = true;
}

// Keep the lease while it is held: renew at half its length; on failure retry every 5 s
// while it has time left.
function scheduleRenew(delay) {
  clearTimeout(renewTimer);
  if (!held || !held.expiresAtMs) return;
  const h = held;
  const wait = delay !== undefined ? delay : Math.max(1000, h.leaseMs / 2);
  renewTimer = setTimeout(() => renewLease(h), wait);
}

function leaseLost(h, why) {
  if (held !== h) return;
  clearHeld();
  clearError("lease");
  deskStatus(`Lease on ${h.reference} lost: ${why}. It is no longer held by you.`);
  ensureQueueShown();
}

async function renewLease(h) {
  if (held !== h) return;
  try {
    const res = await dispatch.renewLease({ reference: h.reference, desk: h.desk, token: h.token, leaseSeconds: 0 });
    if (held !== h) return;
    if (!res.lease) throw new ConnectError("no lease in the answer", Code.Internal);
    h.token = res.lease.token;
    setLeaseTiming(h, Number(res.lease.expiresAtMs));
    $("held-token").textContent = String(h.token);
    updateExpiry();
    clearError("lease");
    scheduleRenew();
  } catch (err) {
    if (held !== h) return;
    const e = ConnectError.from(err);
    if (e.code === Code.FailedPrecondition || e.code === Code.NotFound) {
      leaseLost(h, e.rawMessage || codeName(e.code));
      return;
    }
    const left = h.deadline - performance.now();
    if (left > 1000) {
      showError("lease", e, `Renewing the lease on ${h.reference} failed, retrying`);
      scheduleRenew(Math.min(RENEW_RETRY_MS, left - 1000));
    } else {
      leaseLost(h, "it could not be renewed before it ran out");
    }
  }
}

function ensureQueueShown() {
  if (!queueDesk) queueDesk = currentDesk();
  refreshQueueSoon();
}

async function busy(button, fn) {
  if (button.disabled) return;
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.disabled = false;
  }
}

$("claim-next").addEventListener("click", () =>
  busy($("claim-next"), async () => {
    const desk = currentDesk();
    try {
      const res = await dispatch.claimNext({ desk, dispatcher: dispatcherName(), leaseSeconds: 0 });
      clearError();
      if (!res.lease) {
        deskStatus(`Queue empty on ${desk}`);
      } else {
        showHeld(res.lease, res.incident);
        deskStatus(`Claimed ${res.lease.reference}`);
      }
      ensureQueueShown();
    } catch (err) {
      showError("claim", err, "Claim next failed");
    }
  }),
);

const claiming = new Set(); // references with a Claim call in flight

async function claimOne(reference) {
  if (claiming.has(reference)) return;
  claiming.add(reference);
  const desk = queueDesk || currentDesk();
  try {
    const res = await dispatch.claim({ reference, desk, dispatcher: dispatcherName(), leaseSeconds: 0 });
    clearError();
    if (res.lease) {
      showHeld(res.lease, res.incident);
      deskStatus(`Claimed ${res.lease.reference}`);
    }
    ensureQueueShown();
  } catch (err) {
    showError("claim", err, `Claim ${reference} failed`);
  } finally {
    claiming.delete(reference);
    for (const b of document.querySelectorAll(`#queue-body tr[data-reference="${CSS.escape(reference)}"] button`)) b.disabled = false;
  }
}

$("complete").addEventListener("click", () =>
  busy($("complete"), async () => {
    if (!held) return;
    const h = held;
    try {
      await dispatch.complete({ reference: h.reference, desk: h.desk, token: h.token, outcome: $("outcome").value.trim() });
      clearError();
      clearHeld();
      deskStatus(`Completed ${h.reference}`);
      ensureQueueShown();
    } catch (err) {
      showError("complete", err, `Complete ${h.reference} failed`);
    }
  }),
);

$("release").addEventListener("click", () =>
  busy($("release"), async () => {
    if (!held) return;
    const h = held;
    try {
      await dispatch.release({ reference: h.reference, desk: h.desk, token: h.token, reason: "released from console" });
      clearError();
      clearHeld();
      deskStatus(`Released ${h.reference}`);
      ensureQueueShown();
    } catch (err) {
      showError("release", err, `Release ${h.reference} failed`);
    }
  }),
);

// --- Start ------------------------------------------------------------------

renderAnswers();
updateCategoryVisibility();
