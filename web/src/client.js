// Shared gRPC-Web client setup, error decoding and small helpers for the bluelight pages.
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export { Code, ConnectError };

// The sessionStorage key of this page's access token. Each page passes its own key to
// setupClient() so a handler's console token is never sent by the public form in the same tab.
let tokenKey = "";

/** Sets this page's client options; call once, before client(). */
export function setupClient({ tokenKey: key }) {
  if (typeof key !== "string" || key === "") throw new Error("setupClient: tokenKey is required");
  tokenKey = key;
}

/** The gRPC-Web base URL: <meta name="bluelight-server"> when set, else this page's origin. */
export function baseUrl() {
  const meta = document.querySelector('meta[name="bluelight-server"]');
  const content = meta ? (meta.getAttribute("content") || "").trim() : "";
  return content !== "" ? content.replace(/\/+$/, "") : window.location.origin;
}

export function getToken() {
  if (!tokenKey) return "";
  try {
    return sessionStorage.getItem(tokenKey) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  if (!tokenKey) return;
  try {
    if (token) sessionStorage.setItem(tokenKey, token);
    else sessionStorage.removeItem(tokenKey);
  } catch {
    // Storage unavailable (privacy mode): the token only lasts for this call.
  }
}

/** Adds `authorization: Bearer <token>` when a token is stored; read on every call. */
const auth = (next) => async (req) => {
  const token = getToken();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

let transport;
export function client(service) {
  if (!tokenKey) throw new Error("client: call setupClient({ tokenKey }) first");
  if (!transport) {
    transport = createGrpcWebTransport({
      baseUrl: baseUrl(),
      useBinaryFormat: true,
      interceptors: [auth],
    });
  }
  return createClient(service, transport);
}

/** A fresh client-made contact id (UUID v4). */
export function newContactId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  // randomUUID needs a secure context; fall back to getRandomValues.
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The field violations of a google.rpc.BadRequest in the error's details.
 * BadRequest { repeated FieldViolation field_violations = 1; }
 * FieldViolation { string field = 1; string description = 2; }
 */
export function fieldViolations(err) {
  const out = [];
  if (!(err instanceof ConnectError)) return out;
  for (const d of err.details) {
    const type = typeof d.type === "string" ? d.type : "";
    if (!(type === "google.rpc.BadRequest" || type.endsWith("/google.rpc.BadRequest"))) continue;
    if (!(d.value instanceof Uint8Array)) continue;
    try {
      const r = new BinaryReader(d.value);
      while (r.pos < r.len) {
        const [no, wt] = r.tag();
        if (no === 1 && wt === WireType.LengthDelimited) {
          const v = new BinaryReader(r.bytes());
          let field = "";
          let description = "";
          while (v.pos < v.len) {
            const [n, w] = v.tag();
            if (n === 1 && w === WireType.LengthDelimited) field = v.string();
            else if (n === 2 && w === WireType.LengthDelimited) description = v.string();
            else v.skip(w, n);
          }
          out.push({ field, description });
        } else {
          r.skip(wt, no);
        }
      }
    } catch {
      // A malformed detail is ignored; the status message still shows.
    }
  }
  return out;
}

/** Longest common prefix ending in "_" of an enum's value names, e.g. "TRAPPED_". */
export function enumPrefix(enumDesc) {
  const names = enumDesc.values.map((v) => v.name);
  let p = names[0] || "";
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  const i = p.lastIndexOf("_");
  return i >= 0 ? p.slice(0, i + 1) : "";
}

/** The value name without its enum prefix: AGENCY_FIRE -> FIRE. */
export function shortName(enumDesc, number) {
  const v = enumDesc.values.find((x) => x.number === number);
  if (!v) return String(number);
  return v.name.slice(enumPrefix(enumDesc).length);
}

const ACRONYMS = new Set(["HMO", "AFA", "AML", "EISEC", "SMS"]);

/** Human-readable words from an enum value: TRAPPED_LOCKED_IN -> "Locked in". */
export function humanName(enumDesc, number) {
  const words = shortName(enumDesc, number).split("_").filter(Boolean);
  return words
    .map((w, i) => {
      if (ACRONYMS.has(w)) return w;
      const lower = w.toLowerCase();
      return i === 0 ? lower.charAt(0).toUpperCase() + lower.slice(1) : lower;
    })
    .join(" ");
}

/** Human words from a proto field name: other_agency_request -> "Other agency request". */
export function humanField(name) {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const CODE_NAMES = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

export function codeName(code) {
  return CODE_NAMES[code] || String(code);
}

/** Removes every child and sets text content. */
export function setText(el, text) {
  el.textContent = text == null ? "" : String(text);
}

export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
