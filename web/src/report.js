// The public's online report form: /report.
import { Intake } from "./gen/bluelight/v1/intake_pb.js";
import {
  Channel,
  HappeningSchema,
  LocationSource,
  OnlineCategorySchema,
} from "./gen/bluelight/v1/types_pb.js";
import { client, Code, ConnectError, el, fieldViolations, newContactId, setupClient } from "./client.js";

const $ = (id) => document.getElementById(id);

const BASE_TITLE = document.title;

// Server field path -> input id.
const FIELD_INPUTS = {
  "contact.narrative": "what",
  "contact.location.postcode": "postcode",
  "contact.location.address": "address",
  "contact.caller.name": "name",
  "contact.caller.phone": "phone",
  "contact.category": "category",
  "contact.location.lat": "use-location",
  "contact.location.lon": "use-location",
  "contact.location.accuracy_m": "use-location",
};

const LABELS = {
  what: "What happened",
  postcode: "Postcode",
  address: "Address or description of the place",
  name: "Your name",
  phone: "Phone number",
  category: "What is it about",
  "use-location": "Your location",
};

setupClient({ tokenKey: "bluelight.report.token" });
const intake = client(Intake);

let contactId = newContactId();
let sending = false;
let coords = null; // { lat, lon, accuracy }

function enumValue(schema, name) {
  const v = schema.values.find((x) => x.name === name);
  return v ? v.number : 0;
}

// "When did it happen": the chosen value; when not chosen but someone is in danger now, the
// incident is happening now, so the triage sees the danger.
function happeningAnswer() {
  const chosen = enumValue(HappeningSchema, $("when").value);
  if (chosen !== 0) return chosen;
  return $("danger-yes").checked ? enumValue(HappeningSchema, "HAPPENING_IN_PROGRESS") : 0;
}

function buildContact() {
  const postcode = $("postcode").value.trim();
  const address = $("address").value.trim();
  const location = { postcode, address };
  if (coords) {
    location.lat = coords.lat;
    location.lon = coords.lon;
    location.accuracyM = Math.max(0, Math.round(coords.accuracy));
    location.source = LocationSource.MAP_PIN;
  } else if (postcode || address) {
    location.source = LocationSource.CALLER;
  }
  return {
    contactId,
    channel: Channel.ONLINE_FORM,
    narrative: $("what").value,
    category: enumValue(OnlineCategorySchema, $("category").value),
    answers: { happening: happeningAnswer() },
    location,
    caller: { name: $("name").value.trim(), phone: $("phone").value.trim() },
  };
}

// --- Errors -----------------------------------------------------------------

function clearErrors() {
  const summary = $("error-summary");
  summary.hidden = true;
  $("error-summary-list").replaceChildren();
  $("error-summary-text").hidden = true;
  $("error-summary-text").textContent = "";
  for (const id of Object.keys(LABELS)) {
    const input = $(id);
    const msg = $(`${id}-error`);
    if (msg) msg.remove();
    input.removeAttribute("aria-invalid");
    const group = $(`${id}-group`);
    if (group) group.classList.remove("form-group-error");
    const described = (input.getAttribute("aria-describedby") || "")
      .split(/\s+/)
      .filter((x) => x && x !== `${id}-error`);
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  document.title = BASE_TITLE;
}

/** Shows the error summary: `items` are { id?, label, text }; `message` a plain paragraph. */
function showErrors(items, message) {
  clearErrors();
  const list = $("error-summary-list");
  for (const item of items) {
    const text = item.label ? `${item.label}: ${item.text}` : item.text;
    if (item.id) {
      const a = el("a", { href: `#${item.id}`, text });
      a.addEventListener("click", (e) => {
        e.preventDefault();
        const input = $(item.id);
        const label = document.querySelector(`label[for="${item.id}"]`);
        (label || input).scrollIntoView({ block: "start" });
        input.focus({ preventScroll: true });
      });
      list.append(el("li", null, a));
      markInvalid(item.id, item.text);
    } else {
      list.append(el("li", { text }));
    }
  }
  const p = $("error-summary-text");
  if (message) {
    p.textContent = message;
    p.hidden = false;
  }
  const summary = $("error-summary");
  summary.hidden = false;
  document.title = `Error: ${BASE_TITLE}`;
  summary.focus();
  summary.scrollIntoView({ block: "start" });
}

function markInvalid(id, text) {
  const input = $(id);
  if (!input || $(`${id}-error`)) return;
  const msg = el(
    "p",
    { id: `${id}-error`, class: "error-message" },
    el("span", { class: "visually-hidden", text: "Error: " }),
    text,
  );
  input.before(msg);
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  described.push(`${id}-error`);
  input.setAttribute("aria-describedby", described.join(" "));
  const group = $(`${id}-group`);
  if (group) group.classList.add("form-group-error");
}

function showServerError(err) {
  const e = ConnectError.from(err);
  if (e.code === Code.InvalidArgument) {
    const violations = fieldViolations(e);
    if (violations.length > 0) {
      showErrors(
        violations.map((v) => {
          const id = FIELD_INPUTS[v.field];
          return id
            ? { id, label: LABELS[id], text: v.description || "Check this answer" }
            : { label: "Your report", text: v.description || "Check your answers" };
        }),
      );
      return;
    }
    showErrors([], `Your report could not be sent: ${e.rawMessage || "check your answers"}. Check your answers and try again.`);
    return;
  }
  const emergency = "In an emergency, call 999. For non-emergencies you can also call 101.";
  let message;
  switch (e.code) {
    case Code.ResourceExhausted:
      message = "Sorry, the service is busy at the moment. Your report has not been sent yet. Try again in a few minutes.";
      break;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      message = "Sorry, this form cannot send reports from this page at the moment. Your report has not been sent.";
      break;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Canceled:
    case Code.Unknown:
      // The report may have been written before the answer was lost.
      message = "Sorry, we could not confirm your report: it may not have been sent. Check your internet connection and press \u201cSend report\u201d again; this will not make a duplicate report.";
      break;
    default:
      message = "Sorry, something went wrong and your report may not have been sent. Try again; you will not create a duplicate report.";
  }
  showErrors([], `${message} ${emergency}`);
}

// --- Behaviour --------------------------------------------------------------

function updateDanger() {
  $("call-999").hidden = !$("danger-yes").checked;
}
$("danger-yes").addEventListener("change", updateDanger);
$("danger-no").addEventListener("change", updateDanger);

$("use-location").addEventListener("click", () => {
  const status = $("location-status");
  if (window.isSecureContext === false) {
    status.textContent = "Location not added: your location can only be shared from a secure (https) page. Enter a postcode or describe the place instead.";
    return;
  }
  if (!("geolocation" in navigator)) {
    status.textContent = "Your browser cannot share your location. Enter a postcode or describe the place instead.";
    return;
  }
  status.textContent = "Finding your location…";
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      coords = {
        lat: pos.coords.latitude,
        lon: pos.coords.longitude,
        accuracy: pos.coords.accuracy || 0,
      };
      status.textContent = "Location added";
    },
    (err) => {
      coords = null;
      const instead = "Enter a postcode or describe the place instead.";
      let why;
      if (window.isSecureContext === false) why = "your location can only be shared from a secure (https) page";
      else if (err && err.code === 1) why = "you did not allow it";
      else why = "your location could not be found";
      status.textContent = `Location not added: ${why}. ${instead}`;
    },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
  );
});

function setSending(on) {
  sending = on;
  const send = $("send");
  send.disabled = on;
  send.setAttribute("aria-disabled", on ? "true" : "false");
  send.textContent = on ? "Sending…" : "Send report";
  $("send-status").textContent = on ? "Sending your report…" : "";
}

$("report-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (sending) return;
  if ($("what").value.trim() === "") {
    showErrors([{ id: "what", label: LABELS.what, text: "Enter what happened" }]);
    return;
  }
  setSending(true);
  try {
    const res = await intake.submitContact({ contact: buildContact() });
    clearErrors();
    showConfirmation(res);
  } catch (err) {
    showServerError(err);
  } finally {
    setSending(false);
  }
});

function showConfirmation(res) {
  $("reference").textContent = res.incident ? res.incident.reference : "";
  $("public-message").textContent = res.publicMessage || "";
  $("public-message").hidden = !res.publicMessage;
  $("report-area").hidden = true;
  const panel = $("confirmation");
  panel.hidden = false;
  document.title = `Report sent - ${BASE_TITLE}`;
  panel.focus();
  window.scrollTo(0, 0);
}

$("another").addEventListener("click", () => {
  $("report-form").reset();
  coords = null;
  contactId = newContactId();
  $("location-status").textContent = "";
  updateDanger();
  clearErrors();
  $("confirmation").hidden = true;
  $("report-area").hidden = false;
  document.title = BASE_TITLE;
  document.querySelector("h1").setAttribute("tabindex", "-1");
  document.querySelector("h1").focus();
});
