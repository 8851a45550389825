// crowdact reference web client: Preact + htm, ES modules, no build step.
// Leaflet is loaded before this module by a classic <script> and used as window.L.
import { h, render } from "./vendor/preact.module.js";
import { useState, useEffect, useRef, useCallback } from "./vendor/preact-hooks.module.js";
import htm from "./vendor/htm.module.js";
import { LANGS, initialLang, keepLang, translator } from "./i18n.js";
import { finishSignIn, startSignIn } from "./auth.js";

const html = htm.bind(h);
const CONFIG = Object.assign({ apiBase: "", tileUrl: null, stage: "local" }, window.CROWDACT_CONFIG || {});
const POLL_MS = 2000;
const LEADERBOARD_POLL_MS = 5000; // the API caches a leaderboard for 5 s: polling faster reads the same
const FRANCE = { center: [46.6, 2.4], zoom: 5 };
const enc = encodeURIComponent;

// ---------------------------------------------------------------- session
const TOKEN_KEY = "crowdact.token";
const listeners = new Set();
let notice = null;

function decodeJwt(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("not a JWT");
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function sessionFrom(token) {
  if (!token) return null;
  try {
    const claims = decodeJwt(token);
    if (claims.exp && claims.exp * 1000 < Date.now()) return null;
    const groups = claims["cognito:groups"] || [];
    const role = groups.includes("admin") ? "admin" : groups.includes("org-admin") ? "org-admin" : "participant";
    return { token, sub: claims.sub, name: claims.name || claims.sub, role, orgId: claims["custom:org_id"] || null };
  } catch (_) {
    return null;
  }
}

let session = sessionFrom(sessionStorage.getItem(TOKEN_KEY));
if (!session) sessionStorage.removeItem(TOKEN_KEY);

function setToken(token, why = null) {
  session = sessionFrom(token);
  if (session) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  notice = why;
  listeners.forEach((f) => f());
}

const isAdmin = (s) => !!s && (s.role === "admin" || s.role === "org-admin");

// ---------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(path, opts = {}) {
  const { method = "GET", body, headers = {}, raw = false, retried = false } = opts;
  const h = { ...headers };
  const token = session && session.token;
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(CONFIG.apiBase + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { detail: String(e) });
  }
  if (res.status === 401 && token && !retried) {
    // An expired or refused token: drop it; a public read is tried again anonymously.
    setToken(null, "sessionExpired");
    if (method === "GET") return api(path, { ...opts, retried: true });
  }
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch (_) { problem = { title: res.statusText }; }
    throw new ApiError(res.status, problem);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

// Every page of a list (bounded), for lists a person reads whole.
async function apiAll(path, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

function problemText(t, err) {
  if (!err) return "";
  if (err.status === 0) return t("networkError");
  const p = err.problem || {};
  const msgs = (p.errors || []).map((e) => `${(e.loc || []).filter((x) => x !== "body").join(".")}: ${e.msg}`);
  return t("error", { detail: [p.detail || p.title || err.message, ...msgs].filter(Boolean).join(" — ") });
}

// problem+json 400 errors by field: loc without "body", matched to the longest known field name.
function fieldErrors(err, fieldNames) {
  const byField = {};
  const general = [];
  for (const e of (err.problem && err.problem.errors) || []) {
    const path = (e.loc || []).filter((x, i) => !(i === 0 && x === "body")).map(String);
    let field = null;
    for (let k = path.length; k > 0 && !field; k--) {
      const name = path.slice(0, k).join(".");
      if (fieldNames.includes(name)) field = name;
    }
    if (field) {
      byField[field] = byField[field] || [];
      if (!byField[field].includes(e.msg)) byField[field].push(e.msg);
    } else {
      general.push(path.length ? `${path.join(".")}: ${e.msg}` : e.msg);
    }
  }
  return { byField, general };
}

// ---------------------------------------------------------------- routing
// A form's answer from the API: each problem+json error next to its field (the first of them
// focused), the others and any other failure above the button.
function showFormErrors(t, err, names, form, { setErrors, setSummary, setGeneral }) {
  const { byField, general: rest } = err.status === 400 ? fieldErrors(err, names) : { byField: {}, general: [] };
  setErrors(byField);
  const fields = Object.keys(byField);
  if (fields.length) setSummary(t("fixErrors"));
  if (rest.length || !fields.length) {
    const p = err.problem || {};
    setGeneral(err.status === 400 && rest.length
      ? t("error", { detail: rest.join(" ; ") })
      : problemText(t, { ...err, problem: { ...p, errors: [] } }));
  }
  if (fields.length && form) {
    const first = names.find((n) => byField[n]);
    const input = form.elements.namedItem(first);
    if (input && input.focus) setTimeout(() => input.focus(), 0);
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(qs || "") };
}

function go(path) {
  location.hash = `#${path}`;
}

// ---------------------------------------------------------------- hooks
// Runs load() now and every `ms` while the component is mounted (one at a time).
function usePolling(load, deps, ms = POLL_MS) {
  useEffect(() => {
    let stopped = false;
    let timer = null;
    const alive = () => !stopped;
    const tick = async () => {
      if (stopped) return;
      if (!document.hidden) {
        try { await load(alive); } catch (_) { /* shown by load itself */ }
      }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    tick();
    return () => { stopped = true; clearTimeout(timer); };
  }, deps);
}

// ---------------------------------------------------------------- formatting
function progressOf(ch) {
  const quantity = ch.target.metric === "quantity";
  const current = quantity ? ch.progress.quantity : ch.progress.participants;
  const max = ch.target.value;
  return { quantity, current, max, unit: quantity ? ch.target.unit || "" : "" };
}

function progressText(t, ch) {
  const p = progressOf(ch);
  const text = `${t.number(p.current)} / ${t.number(p.max)}`;
  return p.unit ? `${text} ${p.unit}` : text;
}

function timeLeft(t, ch, now = Date.now()) {
  if (ch.status === "closed") return t("closed");
  if (ch.status === "ended") return ch.ends_at ? t("endedOn", { date: t.date(ch.ends_at) }) : t("ended");
  if (ch.starts_at && Date.parse(ch.starts_at) > now) return t("startsOn", { date: t.dateTime(ch.starts_at) });
  if (!ch.ends_at) return t("noEnd");
  const ms = Date.parse(ch.ends_at) - now;
  if (ms <= 0) return t("ended");
  const min = Math.floor(ms / 60000);
  if (min < 1) return t("lessThanMinute");
  const days = Math.floor(min / 1440);
  if (days >= 1) return t("daysLeft", { n: days });
  const hours = Math.floor(min / 60);
  if (hours >= 1) return t("hoursLeft", { h: hours, m: min % 60 });
  return t("minutesLeft", { m: min });
}

function ifThen(t, ch) {
  const p = progressOf(ch);
  const target = p.quantity ? `${t.number(p.max)} ${p.unit}`.trim() : t.number(p.max);
  const params = {
    target,
    action: ch.action,
    sponsor: ch.sponsor.name,
    reward: ch.reward,
    beneficiary: ch.beneficiary.name,
  };
  return t(p.quantity ? "ifThenQuantity" : "ifThenParticipants", params);
}

// ---------------------------------------------------------------- small components
function StatusBadge({ t, status }) {
  return html`<span class=${`badge badge-${status}`}>${t(`status_${status}`)}</span>`;
}

function ProgressBar({ t, ch, compact = false }) {
  const p = progressOf(ch);
  const pct = p.max > 0 ? Math.min(100, (100 * p.current) / p.max) : 0;
  const text = progressText(t, ch);
  return html`
    <div class=${compact ? "progress compact" : "progress"}>
      <p class="progress-count"><span data-testid="progress-count">${text}</span>${
        !p.quantity ? html` <span class="muted">${t("participantsCount", { n: "", raw: p.current }).trim()}</span>` : null
      }</p>
      <div class="bar" data-testid="progress-bar" role="progressbar" aria-label=${t("progressLabel")}
        aria-valuemin="0" aria-valuenow=${p.current} aria-valuemax=${p.max} aria-valuetext=${text}>
        <div class="bar-fill" style=${`width:${pct}%`}></div>
      </div>
    </div>`;
}

function Alert({ kind = "error", children, testid }) {
  if (!children) return null;
  return html`<p class=${`alert alert-${kind}`} role=${kind === "error" ? "alert" : "status"} data-testid=${testid}>${children}</p>`;
}

function FieldError({ name, errors }) {
  const msgs = errors[name];
  if (!msgs || !msgs.length) return null;
  return html`<p class="field-error" id=${`err-${name}`} data-testid=${`error-${name}`}>${msgs.join(" ; ")}</p>`;
}

// ---------------------------------------------------------------- header
function Header({ t, sess, lang, setLang }) {
  return html`
    <header class="site-header">
      <div class="wrap header-inner">
        <a class="brand" href="#/">${t("appName")}</a>
        <nav aria-label=${t("navMain")}>
          <ul class="nav-list">
            <li><a href="#/">${t("navChallenges")}</a></li>
            <li><a href="#/proposals" data-testid="proposals-link">${t("navProposals")}</a></li>
            ${sess ? html`<li><a href="#/me">${t("navMyPledges")}</a></li>` : null}
            ${sess ? html`<li><a href="#/me/feed" data-testid="my-feed-link">${t("navMyFeed")}</a></li>` : null}
            ${sess ? html`<li><a href="#/me/data" data-testid="my-data-link">${t("navMyData")}</a></li>` : null}
            ${isAdmin(sess) ? html`<li><a href="#/admin">${t("navAdmin")}</a></li>` : null}
            ${isAdmin(sess) ? html`<li><a href="#/admin/audit" data-testid="audit-link">${t("navAudit")}</a></li>` : null}
            ${isAdmin(sess) ? html`<li><a href="#/admin/proposals" data-testid="admin-proposals-link">${t("navAdminProposals")}</a></li>` : null}
          </ul>
        </nav>
        <div class="header-tools">
          ${sess
            ? html`<span data-testid="whoami" class="whoami">${t("whoami", { name: sess.name, role: t(`role_${sess.role}`) })}</span>
                <button type="button" class="link-button" data-testid="signout" onClick=${() => { setToken(null); go("/"); }}>${t("signOut")}</button>`
            : html`<a data-testid="signin-link" href=${`#/signin?next=${enc(parseHash().path)}`}>${t("signIn")}</a>`}
          <label class="lang-label" for="lang-select">${t("language")}</label>
          <select id="lang-select" data-testid="lang" value=${lang} onChange=${(e) => setLang(e.currentTarget.value)}>
            ${LANGS.map((l) => html`<option value=${l} selected=${l === lang}>${l === "fr" ? "Français (fr)" : "English (en)"}</option>`)}
          </select>
        </div>
      </div>
    </header>`;
}

// ---------------------------------------------------------------- list
function ChallengeList({ t }) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);

  const load = useCallback(async (after) => {
    try {
      const page = await api(`/challenges?limit=50${after ? `&cursor=${enc(after)}` : ""}`);
      setItems((old) => (after && old ? [...old, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => { load(null); }, [load]);

  return html`
    <h1 tabindex="-1">${t("listTitle")}</h1>
    <p class="lead">${t("listIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${items && !items.length ? html`<p>${t("noChallenges")}</p>` : null}
    ${items && items.length
      ? html`<ul class="cards">
          ${items.map((ch) => html`
            <li class="card" data-testid="challenge-card" key=${ch.id}>
              <h2 class="card-title"><a href=${`#/challenges/${enc(ch.id)}`}>${ch.title}</a></h2>
              <p class="card-action">${ch.action}</p>
              <p class="muted">${ch.sponsor.name} → ${ch.beneficiary.name} <${StatusBadge} t=${t} status=${ch.status} /></p>
              <${CardProgress} t=${t} ch=${ch} />
            </li>`)}
        </ul>`
      : null}
    ${cursor ? html`<button type="button" class="secondary" onClick=${() => load(cursor)}>${t("loadMore")}</button>` : null}`;
}

// A list card's progress, without the test ids of the challenge page.
function CardProgress({ t, ch }) {
  const p = progressOf(ch);
  const pct = p.max > 0 ? Math.min(100, (100 * p.current) / p.max) : 0;
  const text = progressText(t, ch);
  return html`
    <div class="progress compact">
      <p class="progress-count">${text}${ch.progress.reached ? html` · <strong>${t("reached")}</strong>` : null}</p>
      <div class="bar" role="progressbar" aria-label=${`${t("progress")}: ${ch.title}`} aria-valuemin="0"
        aria-valuenow=${p.current} aria-valuemax=${p.max} aria-valuetext=${text}>
        <div class="bar-fill" style=${`width:${pct}%`}></div>
      </div>
    </div>`;
}

// ---------------------------------------------------------------- map
function AreaMap({ t, geojson }) {
  const el = useRef(null);
  const state = useRef({ map: null, layer: null, key: null });

  useEffect(() => {
    const L = window.L;
    if (!L || !el.current) return undefined;
    const map = L.map(el.current, {
      attributionControl: !!CONFIG.tileUrl,
      scrollWheelZoom: false,
      zoomSnap: 0.5,
    });
    if (CONFIG.tileUrl) {
      L.tileLayer(CONFIG.tileUrl, {
        maxZoom: 18,
        attribution: CONFIG.tileAttribution || "© OpenStreetMap contributors",
      }).addTo(map);
    }
    map.setView(FRANCE.center, FRANCE.zoom);
    state.current.map = map;
    return () => { map.remove(); state.current = { map: null, layer: null, key: null }; };
  }, []);

  useEffect(() => {
    const L = window.L;
    const s = state.current;
    if (!L || !s.map || !geojson) return;
    const cells = (geojson.features || []).filter((f) => f.geometry);
    const most = Math.max(1, ...cells.map((f) => f.properties.participants || 0));
    if (s.layer) s.layer.remove();
    s.layer = L.geoJSON({ type: "FeatureCollection", features: cells }, {
      style: (f) => ({
        className: "area-cell",
        color: "#1e40af",
        weight: 1,
        fillColor: "#2563eb",
        fillOpacity: 0.2 + 0.45 * ((f.properties.participants || 0) / most),
      }),
      onEachFeature: (f, layer) => {
        layer.bindTooltip(String(f.properties.participants), {
          permanent: true,
          direction: "center",
          className: "area-label",
        });
      },
    }).addTo(s.map);
    // Fit the view when the set of cells changes (not on every poll, so a person can pan).
    const key = cells.map((f) => f.properties.area).sort().join(",");
    if (key !== s.key) {
      s.key = key;
      if (cells.length) s.map.fitBounds(s.layer.getBounds(), { padding: [24, 24], maxZoom: 12 });
      else s.map.setView(FRANCE.center, FRANCE.zoom);
    }
  }, [geojson]);

  return html`<div class=${CONFIG.tileUrl ? "map" : "map no-tiles"} ref=${el} data-testid="map"
    role="region" aria-label=${t("mapLabel")}></div>`;
}

function AreasBlock({ t, geojson }) {
  const features = (geojson && geojson.features) || [];
  const hidden = (geojson && geojson.hidden_participants) || 0;
  // Postal districts have no shape (geometry null): listed under the map instead.
  const districts = features.filter((f) => !f.geometry);
  return html`
    <section class="block" aria-labelledby="map-title">
      <h2 id="map-title">${t("mapTitle")}</h2>
      <${AreaMap} t=${t} geojson=${geojson} />
      ${districts.length
        ? html`<p class="districts">${t("districts")} ${districts.map((f, i) => html`${i ? ", " : ""}<span class="district">${t("districtCount", { area: f.properties.area, n: t.number(f.properties.participants) })}</span>`)}</p>`
        : null}
      ${hidden > 0 ? html`<p data-testid="elsewhere" class="elsewhere">${t("elsewhere", { n: t.number(hidden), raw: hidden })}</p>` : null}
      ${features.length
        ? html`<details class="areas-table">
            <summary>${t("areasTableCaption")}</summary>
            <table>
              <thead><tr><th scope="col">${t("area")}</th><th scope="col">${t("participants")}</th></tr></thead>
              <tbody>
                ${features.map((f) => html`<tr key=${f.properties.area}><td>${f.properties.area}</td><td>${t.number(f.properties.participants)}</td></tr>`)}
              </tbody>
            </table>
          </details>`
        : geojson ? html`<p class="muted">${t("noAreas")}</p>` : null}
    </section>`;
}

// ---------------------------------------------------------------- nearby
function nearbyPath(id, q) {
  const params = "lat" in q ? `lat=${q.lat}&lon=${q.lon}` : `postal_code=${enc(q.postal_code)}&country=${enc(q.country)}`;
  return `/challenges/${enc(id)}/nearby?${params}`;
}

function NearbyBlock({ t, result, error, onQuery }) {
  const [postal, setPostal] = useState("");
  const [country, setCountry] = useState("FR");
  const [geoMsg, setGeoMsg] = useState(null);
  const [locating, setLocating] = useState(false);

  const submit = (e) => {
    e.preventDefault();
    if (!postal.trim()) return;
    onQuery({ postal_code: postal.trim(), country: (country.trim() || "FR").toUpperCase() });
  };
  const locate = () => {
    if (!navigator.geolocation) { setGeoMsg(t("geoUnavailable")); return; }
    setLocating(true);
    setGeoMsg(null);
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        setLocating(false);
        // Rounded before it leaves the browser: the server keeps only a ~5 km cell anyway.
        const round = (x) => Math.round(x * 1000) / 1000;
        onQuery({ lat: round(pos.coords.latitude), lon: round(pos.coords.longitude) });
      },
      (err) => { setLocating(false); setGeoMsg(err.code === 1 ? t("geoDenied") : t("geoUnavailable")); },
      { maximumAge: 600000, timeout: 15000 },
    );
  };
  return html`
    <section class="block" data-testid="nearby" aria-labelledby="nearby-title">
      <h2 id="nearby-title">${t("nearbyTitle")}</h2>
      <form class="inline-form" onSubmit=${submit}>
        <div class="field">
          <label for="nearby-postal">${t("postalCode")}</label>
          <input id="nearby-postal" name="postal_code" autocomplete="postal-code" inputmode="text" maxlength="10"
            value=${postal} onInput=${(e) => setPostal(e.currentTarget.value)} />
        </div>
        <div class="field field-small">
          <label for="nearby-country">${t("country")}</label>
          <input id="nearby-country" name="country" maxlength="2" autocomplete="country"
            value=${country} onInput=${(e) => setCountry(e.currentTarget.value)} />
        </div>
        <button type="submit">${t("nearbySubmit")}</button>
        <button type="button" class="secondary" onClick=${locate} disabled=${locating}>
          ${locating ? t("locating") : t("useMyLocation")}
        </button>
      </form>
      <${Alert}>${geoMsg || (error && problemText(t, error))}<//>
      ${result
        ? html`<p class="nearby-result" aria-live="polite"><span data-testid="nearby-count">${t("nearbyCount", {
            n: t.number(result.participants), raw: result.participants, area: result.area,
          })}</span></p>`
        : null}
    </section>`;
}

// ---------------------------------------------------------------- pledge and report
function PledgeBlock({ t, ch, sess, mine, onPledged, onWithdrawn, onReported }) {
  const [displayName, setDisplayName] = useState("");
  const [postal, setPostal] = useState("");
  const [country, setCountry] = useState("FR");
  const [position, setPosition] = useState(null);
  const [locating, setLocating] = useState(false);
  const [notify, setNotify] = useState(true);
  const [quantity, setQuantity] = useState("");
  const [offer, setOffer] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const live = ch.status === "live";
  const path = `/challenges/${enc(ch.id)}`;

  const pledge = async (e) => {
    e.preventDefault();
    if (!sess) { go(`/signin?next=${enc(`/challenges/${ch.id}`)}`); return; }
    const body = { notify };
    if (displayName.trim()) body.display_name = displayName.trim();
    if (ch.target.unit && offer.trim()) {
      const q = Number(offer.replace(",", "."));
      body.offer = { quantity: Number.isFinite(q) ? q : offer };
    }
    if (position) body.location = position;
    else if (postal.trim()) body.location = { postal_code: postal.trim(), country: (country.trim() || "FR").toUpperCase() };
    setBusy(true); setError(null); setDone(null);
    try {
      const answer = await api(`${path}/pledges`, { method: "POST", body });
      onPledged(answer, body.location);
      setDone(t("pledgeDone"));
    } catch (err) { setError(err); }
    setBusy(false);
  };
  // A position puts the pledge in its ~5 km cell on the map (a postal code only in its
  // district, which has no shape to draw). Rounded before it leaves the browser.
  const locate = () => {
    if (!navigator.geolocation) { setError({ message: t("geoUnavailable") }); return; }
    setLocating(true);
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        setLocating(false);
        const round = (x) => Math.round(x * 1000) / 1000;
        setPosition({ lat: round(pos.coords.latitude), lon: round(pos.coords.longitude) });
      },
      (err) => { setLocating(false); setError({ message: err.code === 1 ? t("geoDenied") : t("geoUnavailable") }); },
      { maximumAge: 600000, timeout: 15000 },
    );
  };
  const withdraw = async () => {
    setBusy(true); setError(null); setDone(null);
    try {
      await api(`${path}/pledges/me`, { method: "DELETE" });
      onWithdrawn();
      setDone(t("withdrawn"));
    } catch (err) { setError(err); }
    setBusy(false);
  };
  const report = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null); setDone(null);
    const q = Number(quantity.replace(",", "."));
    try {
      const answer = await api(`${path}/reports`, { method: "POST", body: { quantity: Number.isFinite(q) ? q : quantity } });
      onReported(answer);
      setQuantity("");
      setDone(t("reportDone", { q: `${t.number(answer.report.quantity)} ${answer.report.unit || ""}`.trim() }));
    } catch (err) { setError(err); }
    setBusy(false);
  };

  let content;
  if (mine) {
    const unit = ch.target.unit;
    content = html`
      <p data-testid="pledged" class="pledged">${t("pledged", { date: t.date(mine.created_at) })}${
        unit && mine.quantity_reported ? ` ${t("pledgedQuantity", { q: `${t.number(mine.quantity_reported)} ${unit}` })}` : ""}</p>
      ${live ? html`<button type="button" class="danger" data-testid="withdraw" onClick=${withdraw} disabled=${busy}>${t("withdraw")}</button>` : null}
      ${live && unit
        ? html`<form class="inline-form report-form" data-testid="report-form" onSubmit=${report}>
            <h3 class="form-title">${t("reportTitle")}</h3>
            <div class="field">
              <label for="report-quantity">${t("quantity", { unit })}</label>
              <input id="report-quantity" name="quantity" type="number" min="0" step="any" inputmode="decimal" required
                value=${quantity} onInput=${(e) => setQuantity(e.currentTarget.value)} />
            </div>
            <button type="submit" data-testid="report" disabled=${busy}>${t("reportSubmit")}</button>
          </form>`
        : null}`;
  } else if (!live) {
    content = html`<p>${t("notOpen")}</p>`;
  } else {
    content = html`
      ${!sess ? html`<p class="muted"><a href=${`#/signin?next=${enc(`/challenges/${ch.id}`)}`}>${t("signInToPledge")}</a></p>` : null}
      <form class="pledge-form" data-testid="pledge-form" onSubmit=${pledge}>
        <div class="field">
          <label for="pledge-name">${t("displayName")}</label>
          <input id="pledge-name" name="display_name" maxlength="80" autocomplete="nickname" aria-describedby="pledge-name-hint"
            value=${displayName} onInput=${(e) => setDisplayName(e.currentTarget.value)} />
          <p class="hint" id="pledge-name-hint">${t("displayNameHint")}</p>
        </div>
        <div class="row">
          <div class="field">
            <label for="pledge-postal">${t("pledgePostalCode")}</label>
            <input id="pledge-postal" name="postal_code" maxlength="10" autocomplete="postal-code" aria-describedby="pledge-hint"
              value=${postal} onInput=${(e) => setPostal(e.currentTarget.value)} />
          </div>
          <div class="field field-small">
            <label for="pledge-country">${t("country")}</label>
            <input id="pledge-country" name="country" maxlength="2" autocomplete="country"
              value=${country} onInput=${(e) => setCountry(e.currentTarget.value)} />
          </div>
        </div>
        <p class="hint" id="pledge-hint">${t("pledgeHint")}</p>
        <p>
          <button type="button" class="secondary" data-testid="pledge-locate" onClick=${locate} disabled=${locating}>
            ${locating ? t("locating") : t("useMyLocation")}
          </button>
          ${position ? html` <span data-testid="pledge-located">${t("pledgeLocated")}</span>` : null}
        </p>
        ${ch.target.unit
          ? html`<div class="field field-small">
              <label for="pledge-offer">${t("offerLabel", { unit: ch.target.unit })}</label>
              <input id="pledge-offer" name="offer" inputmode="decimal" data-testid="pledge-offer" aria-describedby="pledge-offer-hint"
                value=${offer} onInput=${(e) => setOffer(e.currentTarget.value)} />
              <p class="hint" id="pledge-offer-hint">${t("offerHint")}</p>
            </div>`
          : null}
        <div class="field checkbox">
          <input id="pledge-notify" name="notify" type="checkbox" checked=${notify} onChange=${(e) => setNotify(e.currentTarget.checked)} />
          <label for="pledge-notify">${t("notify")}</label>
        </div>
        <button type="submit" data-testid="pledge" disabled=${busy}>${t("pledgeSubmit")}</button>
      </form>`;
  }
  return html`
    <section class="block pledge-block" aria-labelledby="pledge-title">
      <h2 id="pledge-title">${t("pledgeTitle")}</h2>
      ${content}
      <${Alert}>${error && problemText(t, error)}<//>
      <${Alert} kind="ok">${done}<//>
    </section>`;
}

async function findMyPledge(id) {
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const page = await api(`/me/pledges?limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    const found = page.items.find((p) => p.challenge_id === id);
    if (found) return found;
    cursor = page.next_cursor;
    if (!cursor) return null;
  }
  return null;
}

// ---------------------------------------------------------------- beneficiary vote
function VoteBlock({ t, ch, sess, mine, onVoted }) {
  const [tallies, setTallies] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(null);
  const [busy, setBusy] = useState(false);
  usePolling(async (alive) => {
    try {
      const answer = await api(`/challenges/${enc(ch.id)}/votes`);
      if (alive()) setTallies(answer);
    } catch (e) {
      if (alive()) setError(e);
    }
  }, [ch.id]);
  const choice = ch.beneficiary_choice;
  const open = (tallies ? tallies.status : choice.status) === "open";
  const myVote = mine ? mine.candidate_id : null;
  const votes = {};
  if (tallies) for (const c of tallies.candidates) votes[c.id] = c.votes;
  const winner = choice.candidates.find((c) => c.id === (tallies ? tallies.winner_id : choice.winner_id));

  const cast = async (candidate) => {
    setBusy(true);
    setError(null);
    try {
      await api(`/challenges/${enc(ch.id)}/vote`, { method: "PUT", body: { candidate_id: candidate.id } });
      setSaved(candidate.name);
      onVoted(candidate.id);
      setTallies(await api(`/challenges/${enc(ch.id)}/votes`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <section class="block vote" aria-labelledby="vote-title" data-testid="vote">
      <h2 id="vote-title">${t("voteTitle")}</h2>
      ${open
        ? html`<p data-testid="vote-status">${choice.closes_at ? t("voteOpenUntil", { date: t.dateTime(choice.closes_at) }) : t("voteOpen")}</p>`
        : html`<p class="reached" data-testid="vote-status">${t("voteClosed", { name: winner ? winner.name : "" })}</p>`}
      <${Alert} testid="vote-error">${error && problemText(t, error)}<//>
      ${saved ? html`<${Alert} kind="ok" testid="vote-saved">${t("voteSaved", { name: saved })}<//>` : null}
      <ul class="candidates">
        ${choice.candidates.map((c) => html`<li key=${c.id} data-testid="candidate" data-candidate=${c.id} class=${myVote === c.id ? "mine" : ""}>
          <div class="candidate-head">
            <strong>${c.name}</strong>
            ${winner && winner.id === c.id ? html` <span class="badge" data-testid="vote-winner">${t("voteWinner")}</span>` : null}
            ${myVote === c.id ? html` <span class="badge" data-testid="my-vote">${t("voteMine")}</span>` : null}
            <span class="muted" data-testid="candidate-votes">${tallies ? t("voteCount", { n: t.number(votes[c.id] || 0), raw: votes[c.id] || 0 }) : ""}</span>
          </div>
          ${c.description ? html`<p class="muted">${c.description}</p>` : null}
          ${c.url ? html`<p><a href=${c.url} rel="noopener noreferrer" target="_blank">${t("voteSite", { name: c.name })}</a></p>` : null}
          ${open && mine
            ? html`<button type="button" data-testid="vote-for" disabled=${busy || myVote === c.id}
                aria-pressed=${myVote === c.id ? "true" : "false"} onClick=${() => cast(c)}>${t("voteFor", { name: c.name })}</button>`
            : null}
        </li>`)}
      </ul>
      ${tallies ? html`<p class="muted" data-testid="vote-total">${t("voteTotal", { n: t.number(tallies.total), raw: tallies.total })}</p>` : null}
      ${open && sess && !mine ? html`<p class="muted" data-testid="vote-pledge-first">${t("votePledgeFirst")}</p>` : null}
    </section>`;
}

// ---------------------------------------------------------------- challenge page
function ChallengePage({ t, id, sess }) {
  const [ch, setCh] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [areas, setAreas] = useState(null);
  const [nearbyQuery, setNearbyQuery] = useState(null);
  const [nearby, setNearby] = useState(null);
  const [nearbyError, setNearbyError] = useState(null);
  const [mine, setMine] = useState(null);
  const [campaign, setCampaign] = useState(null);
  const queryRef = useRef(null);
  queryRef.current = nearbyQuery;

  const loadNearby = async (q, alive = () => true) => {
    try {
      const answer = await api(nearbyPath(id, q));
      if (alive() && queryRef.current === q) { setNearby(answer); setNearbyError(null); }
    } catch (e) {
      if (alive() && queryRef.current === q) setNearbyError(e);
    }
  };

  usePolling(async (alive) => {
    const challenge = api(`/challenges/${enc(id)}`);
    const cells = api(`/challenges/${enc(id)}/areas?format=geojson`).catch(() => null);
    try {
      const c = await challenge;
      if (!alive()) return;
      setCh(c);
      setLoadError(null);
    } catch (e) {
      if (alive()) setLoadError(e);
    }
    const a = await cells;
    if (alive() && a) setAreas(a);
    if (queryRef.current) await loadNearby(queryRef.current, alive);
  }, [id]);

  useEffect(() => {
    setMine(null);
    if (!sess) return undefined;
    let alive = true;
    findMyPledge(id).then((p) => { if (alive) setMine(p); }).catch(() => {});
    return () => { alive = false; };
  }, [id, sess && sess.sub]);

  const campaignId = ch && ch.campaign_id;
  useEffect(() => {
    setCampaign(null);
    if (!campaignId) return undefined;
    let alive = true;
    api(`/campaigns/${enc(campaignId)}`).then((c) => { if (alive) setCampaign(c); }).catch(() => {});
    return () => { alive = false; };
  }, [campaignId]);

  const query = (q) => { setNearbyQuery(q); queryRef.current = q; setNearby(null); loadNearby(q); };

  if (!ch) {
    return html`
      <p><a href="#/">← ${t("backToList")}</a></p>
      ${loadError
        ? html`<h1 tabindex="-1">${loadError.status === 404 ? t("notFound") : t("appName")}</h1><${Alert}>${problemText(t, loadError)}<//>`
        : html`<h1 tabindex="-1">${t("loading")}</h1>`}`;
  }

  return html`
    <p><a href="#/">← ${t("backToList")}</a></p>
    <article class="challenge">
      <h1 tabindex="-1">${ch.title} <${StatusBadge} t=${t} status=${ch.status} /></h1>
      <p class="if-then" data-testid="if-then">${ifThen(t, ch)}</p>
      ${ch.description ? html`<p>${ch.description}</p>` : null}
      <${Alert} kind="warn">${loadError && problemText(t, loadError)}<//>

      <section class="block" aria-labelledby="progress-title">
        <h2 id="progress-title">${t("progress")}</h2>
        <${ProgressBar} t=${t} ch=${ch} />
        ${ch.progress.reached ? html`<p class="reached" data-testid="reached">${t("reached")}</p>` : null}
        ${ch.target.unit && ch.progress.promised
          ? html`<p data-testid="promised">${t("promisedReported", {
              promised: `${t.number(ch.progress.promised)} ${ch.target.unit}`,
              reported: `${t.number(ch.progress.quantity)} ${ch.target.unit}`,
            })}</p>`
          : null}
        ${ch.target.metric === "participants" && ch.target.unit && ch.progress.quantity
          ? html`<p class="muted">${t("reportedTogether", { q: `${t.number(ch.progress.quantity)} ${ch.target.unit}` })}</p>`
          : null}
        <dl class="facts">
          <div><dt>${t("sponsor")}</dt><dd data-testid="sponsor">${ch.sponsor.name}</dd></div>
          <div><dt>${t("beneficiary")}</dt><dd data-testid="beneficiary">${ch.beneficiary.name}</dd></div>
          <div><dt>${t("reward")}</dt><dd data-testid="reward">${ch.reward}</dd></div>
          ${ch.campaign_id
            ? html`<div><dt>${t("campaign")}</dt><dd data-testid="campaign"><a href=${`#/campaigns/${enc(ch.campaign_id)}`}>${campaign ? campaign.title : ch.campaign_id}</a>${
                campaign && campaign.totals ? html` <span class="muted">(${t("participantsCount", { n: t.number(campaign.totals.participants), raw: campaign.totals.participants })})</span>` : null}</dd></div>`
            : null}
          <div><dt>${t("timeLeft")}</dt><dd data-testid="time-left">${timeLeft(t, ch)}</dd></div>
        </dl>
      </section>

      <${PledgeBlock} t=${t} ch=${ch} sess=${sess} mine=${mine} key=${`${ch.id}:${sess ? sess.sub : ""}`}
        onPledged=${(answer, location) => {
          setMine(answer.pledge);
          setCh(answer.challenge);
          if (location && !queryRef.current) query(location);
        }}
        onWithdrawn=${() => { setMine(null); api(`/challenges/${enc(id)}`).then(setCh).catch(() => {}); }}
        onReported=${(answer) => {
          setCh(answer.challenge);
          // The pledge's own total may lag behind the report: add it here.
          setMine((m) => m && { ...m, quantity_reported: (m.quantity_reported || 0) + answer.report.quantity });
        }} />

      ${ch.organization_id
        ? html`<${TeamsSection} t=${t} sess=${sess} scope="challenge" id=${ch.id} organizationId=${ch.organization_id}
            back=${`/challenges/${ch.id}`} key=${`teams:${ch.id}`} />`
        : null}
      <${FollowBlock} t=${t} ch=${ch} sess=${sess} key=${`follow:${ch.id}:${sess ? sess.sub : ""}`} />
      <${UpdatesBlock} t=${t} id=${ch.id} />
      <${MeetupsBlock} t=${t} owner=${`/challenges/${ch.id}`} sess=${sess} key=${`meetups:${ch.id}:${sess ? sess.sub : ""}`} />

      ${ch.beneficiary_choice
        ? html`<${VoteBlock} t=${t} ch=${ch} sess=${sess} mine=${mine}
            onVoted=${(candidateId) => setMine((m) => m && { ...m, candidate_id: candidateId })} />`
        : null}
      ${ch.progress.reached ? html`<${PayoutTrail} t=${t} id=${ch.id} />` : null}
      <${AreasBlock} t=${t} geojson=${areas} />
      <${NearbyBlock} t=${t} result=${nearby} error=${nearbyError} onQuery=${query} />
    </article>`;
}

// ---------------------------------------------------------------- payouts ("where the money went")
// Amounts come as decimal strings; Intl formats a string exactly (no float on the way).
function money(t, amount, currency) {
  try { return new Intl.NumberFormat(t.lang, { style: "currency", currency }).format(amount); }
  catch (_) { return `${amount} ${currency}`; }
}

// A calendar date (YYYY-MM-DD) as the payer wrote it, whatever the reader's time zone.
function calendarDate(t, day) {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return new Intl.DateTimeFormat(t.lang, { dateStyle: "long", timeZone: "UTC" }).format(d);
}

function PayoutTrail({ t, id, reload = 0, headingLevel = 2 }) {
  const [trail, setTrail] = useState(null);
  const [news, setNews] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    let alive = true;
    api(`/challenges/${enc(id)}/payouts?limit=100`)
      .then((answer) => { if (alive) { setTrail(answer); setError(null); } })
      .catch((e) => { if (alive) setError(e); });
    // The news posted since the first payout: what the money is doing.
    api(`/challenges/${enc(id)}/updates?limit=20`)
      .then((page) => { if (alive) setNews(page.items); })
      .catch(() => {});
    return () => { alive = false; };
  }, [id, reload]);
  const first = trail && trail.items.length
    ? Math.min(...trail.items.map((p) => Date.parse(p.recorded_at))) : null;
  const since = first === null ? [] : news.filter((u) => Date.parse(u.created_at) >= first);
  const Heading = `h${headingLevel}`;
  return html`
    <section class="block payouts" aria-labelledby="payouts-title" data-testid="payouts">
      <${Heading} id="payouts-title">${t("payoutsTitle")}<//>
      <${Alert} kind="warn">${error && problemText(t, error)}<//>
      ${trail === null && !error ? html`<p>${t("loading")}</p>` : null}
      ${trail && !trail.items.length ? html`<p data-testid="payouts-none">${t("payoutsNone")}</p>` : null}
      ${trail && trail.totals.length
        ? html`<p class="payout-totals" data-testid="payout-totals">${t("payoutsTotal", {
            amounts: trail.totals.map((x) => money(t, x.amount, x.currency)).join(" · "),
          })}</p>`
        : null}
      ${trail && trail.items.length
        ? html`<ul class="payout-list">
            ${trail.items.map((p) => html`<li data-testid="payout" key=${p.id}>
              <strong data-testid="payout-amount">${money(t, p.amount, p.currency)}</strong>
              ${" "}${t("payoutTo", { name: p.recipient_name || p.to, date: calendarDate(t, p.paid_on) })}
              ${p.note ? html`<br /><span class="muted" data-testid="payout-note">${p.note}</span>` : null}
              ${p.proof_url ? html`<br /><a href=${p.proof_url} rel="noopener noreferrer" target="_blank" data-testid="payout-proof">${t("payoutProof")}</a>` : null}
            </li>`)}
          </ul>`
        : null}
      ${trail && trail.next_cursor ? html`<p class="muted">${t("payoutsMore")}</p>` : null}
      ${since.length
        ? html`<h3>${t("payoutsSince")}</h3>
            <ul class="payout-news">${since.map((u) => html`<li data-testid="trail-update" key=${u.id}>
              <strong lang=${u.locale}>${u.title}</strong> <span class="muted">${t.dateTime(u.created_at)}</span></li>`)}</ul>`
        : null}
    </section>`;
}

const PAYOUT_FIELDS = [
  { name: "amount", required: true, inputmode: "decimal", placeholder: "5000.00" },
  { name: "currency", required: true, maxlength: 3, value: "EUR" },
  { name: "paid_on", type: "date", required: true },
  { name: "to", type: "select", required: true },
  { name: "proof_url", type: "url" },
  { name: "note", type: "textarea" },
];
const PAYOUT_NAMES = PAYOUT_FIELDS.map((f) => f.name);

function payoutBody(form) {
  const fd = new FormData(form);
  const body = {};
  for (const f of PAYOUT_FIELDS) {
    const v = String(fd.get(f.name) || "").trim();
    // The amount stays a string: the API takes decimals as JSON strings, never as floats.
    if (v) body[f.name] = f.name === "currency" ? v.toUpperCase() : v;
  }
  return body;
}

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `k-${Date.now()}-${Math.random().toString(36).slice(2)}`);

function PayoutForm({ t, ch, onRecorded }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [summary, setSummary] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  // One Idempotency-Key per payout being entered: a resubmission (a lost answer, a double
  // click) records it once; a new key once it is recorded.
  const keyRef = useRef(newKey());

  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    setBusy(true); setErrors({}); setGeneral(null); setSummary(null); setDone(null);
    try {
      const payout = await api(`/admin/challenges/${enc(ch.id)}/payouts`, {
        method: "POST", body: payoutBody(form), headers: { "Idempotency-Key": keyRef.current },
      });
      keyRef.current = newKey();
      form.reset();
      setDone(t("payoutRecorded", { amount: money(t, payout.amount, payout.currency) }));
      onRecorded(payout);
    } catch (err) {
      showFormErrors(t, err, PAYOUT_NAMES, formRef.current, { setErrors, setSummary, setGeneral });
    }
    setBusy(false);
  };

  const field = (f) => {
    const id = `pf-${f.name}`;
    const errId = `err-payout-${f.name}`;
    const err = errors[f.name];
    const a11y = err ? { "aria-invalid": "true", "aria-describedby": errId } : {};
    const label = html`<label for=${id}>${t(`p_${f.name}`)}${f.required ? html` <span aria-hidden="true">*</span>` : null}</label>`;
    let input;
    if (f.type === "textarea") input = html`<textarea id=${id} name=${f.name} rows="2" maxlength="500" ...${a11y}></textarea>`;
    else if (f.type === "select") {
      input = html`<select id=${id} name=${f.name} ...${a11y}>
        <option value="beneficiary">${t("payoutToBeneficiary", { name: ch.beneficiary.name })}</option>
      </select>`;
    } else {
      const extra = {};
      if (f.inputmode) extra.inputmode = f.inputmode;
      if (f.placeholder) extra.placeholder = f.placeholder;
      if (f.maxlength) extra.maxlength = String(f.maxlength);
      // Defaults as defaultValue: the input stays the person's to change, and reset() restores them.
      if (f.value) extra.defaultValue = f.value;
      if (f.type === "date") extra.defaultValue = new Date().toISOString().slice(0, 10);
      input = html`<input id=${id} name=${f.name} type=${f.type || "text"} aria-required=${f.required ? "true" : null} ...${extra} ...${a11y} />`;
    }
    const msgs = errors[f.name];
    return html`<div class="field" key=${f.name}>${label}${input}${msgs && msgs.length
      ? html`<p class="field-error" id=${errId} data-testid=${`payout-error-${f.name}`}>${msgs.join(" ; ")}</p>` : null}</div>`;
  };

  return html`
    <section class="block" aria-labelledby="payout-form-title">
      <h2 id="payout-form-title">${t("payoutFormTitle")}</h2>
      <form class="stack-form" data-testid="payout-form" onSubmit=${submit} novalidate ref=${formRef}>
        ${PAYOUT_FIELDS.map(field)}
        <${Alert}>${summary}<//>
        <${Alert} testid="payout-form-error">${general}<//>
        <button type="submit" data-testid="record-payout" disabled=${busy}>${t("payoutSubmit")}</button>
      </form>
      <${Alert} kind="ok" testid="payout-recorded">${done}<//>
    </section>`;
}

// ---------------------------------------------------------------- follow and updates
function FollowBlock({ t, ch, sess }) {
  const [following, setFollowing] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const path = `/challenges/${enc(ch.id)}/follow`;

  useEffect(() => {
    if (!sess) return undefined;
    let alive = true;
    api("/me/follows")
      .then((page) => { if (alive) setFollowing(page.items.some((f) => f.kind === "challenges" && f.id === ch.id)); })
      .catch(() => { if (alive) setFollowing(false); });
    return () => { alive = false; };
  }, [ch.id]);

  const toggle = async () => {
    setBusy(true); setError(null); setDone(null);
    try {
      if (following) {
        await api(path, { method: "DELETE" });
        setFollowing(false);
        setDone(t("unfollowed"));
      } else {
        const answer = await api(path, { method: "PUT" });
        setFollowing(true);
        setDone(answer.email_updates ? t("followedByEmail") : t("followedFeedOnly"));
      }
    } catch (err) { setError(err); }
    setBusy(false);
  };

  return html`
    <section class="block" aria-labelledby="follow-title">
      <h2 id="follow-title">${t("followTitle")}</h2>
      <p class="muted">${t("followHint")}</p>
      ${sess
        ? html`<button type="button" class=${following ? "secondary" : ""} data-testid="follow"
            aria-pressed=${following ? "true" : "false"} disabled=${busy || following === null} onClick=${toggle}>
            ${following ? t("unfollow") : t("follow")}</button>`
        : html`<p><a href=${`#/signin?next=${enc(`/challenges/${ch.id}`)}`}>${t("signInToFollow")}</a></p>`}
      <${Alert}>${error && problemText(t, error)}<//>
      <${Alert} kind="ok" testid="follow-done">${done}<//>
    </section>`;
}

function UpdateItem({ t, u, challengeTitle = null }) {
  return html`<li class="card update" data-testid="update" key=${u.id}>
    <h3 class="card-title" lang=${u.locale}>${u.title}</h3>
    <p class="muted">${t.dateTime(u.created_at)}${challengeTitle
      ? html` · <a href=${`#/challenges/${enc(u.challenge_id)}`}>${challengeTitle}</a>` : null}</p>
    <p class="update-body" lang=${u.locale}>${u.body}</p>
  </li>`;
}

// A paged list of updates: the first page polled, older pages on demand.
function usePagedUpdates(path, deps) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [older, setOlder] = useState([]);
  const [error, setError] = useState(null);
  const paged = useRef(false); // older pages loaded: the polled first page keeps its cursor
  usePolling(async (alive) => {
    try {
      const page = await api(`${path}?limit=10`);
      if (!alive()) return;
      setItems(page.items);
      if (!paged.current) setCursor(page.next_cursor);
      setError(null);
    } catch (e) { if (alive()) setError(e); }
  }, deps);
  const more = async () => {
    try {
      const page = await api(`${path}?limit=10&cursor=${enc(cursor)}`);
      paged.current = true;
      setOlder((o) => [...o, ...page.items.filter((u) => !o.some((x) => x.id === u.id))]);
      setCursor(page.next_cursor);
    } catch (e) { setError(e); }
  };
  const all = items ? [...items, ...older.filter((o) => !items.some((i) => i.id === o.id))] : null;
  return { all, cursor, error, more };
}

function UpdatesBlock({ t, id }) {
  const { all, cursor, error, more } = usePagedUpdates(`/challenges/${enc(id)}/updates`, [id]);
  return html`
    <section class="block" aria-labelledby="updates-title">
      <h2 id="updates-title">${t("updatesTitle")}</h2>
      <${Alert} kind="warn">${error && problemText(t, error)}<//>
      ${all && !all.length ? html`<p data-testid="updates-none">${t("updatesNone")}</p>` : null}
      ${all && all.length ? html`<ul class="cards updates">${all.map((u) => html`<${UpdateItem} t=${t} u=${u} key=${u.id} />`)}</ul>` : null}
      ${cursor ? html`<button type="button" class="secondary" data-testid="older-updates" onClick=${more}>${t("olderUpdates")}</button>` : null}
    </section>`;
}

function MyFeed({ t, sess }) {
  if (!sess) return html`<h1 tabindex="-1">${t("feedTitle")}</h1><p><a href="#/signin?next=%2Fme%2Ffeed">${t("signInFirst")}</a></p>`;
  return html`<${FeedList} t=${t} sess=${sess} />`;
}

function FeedList({ t, sess }) {
  const { all, cursor, error, more } = usePagedUpdates("/me/feed", [sess.sub]);
  return html`
    <h1 tabindex="-1">${t("feedTitle")}</h1>
    <p class="muted">${t("feedIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${all === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${all && !all.length ? html`<p data-testid="feed-none">${t("feedNone")}</p>` : null}
    ${all && all.length
      ? html`<ul class="cards updates" data-testid="feed">${all.map((u) => html`<${UpdateItem} t=${t} u=${u} challengeTitle=${u.challenge_title} key=${u.id} />`)}</ul>`
      : null}
    ${cursor ? html`<button type="button" class="secondary" data-testid="older-updates" onClick=${more}>${t("olderUpdates")}</button>` : null}`;
}

function Unsubscribe({ t, query }) {
  const token = query.get("token") || "";
  const [target, setTarget] = useState(null);
  const [state, setState] = useState("loading");
  const [error, setError] = useState(null);
  const path = `/unsubscribe?token=${enc(token)}`;
  useEffect(() => {
    let alive = true;
    api(path).then((answer) => { if (alive) { setTarget(answer); setState("ask"); } })
      .catch((e) => { if (alive) { setError(e); setState("invalid"); } });
    return () => { alive = false; };
  }, [token]);
  const confirm = async () => {
    setError(null);
    try {
      await api(path, { method: "POST" });
      setState("done");
    } catch (e) { setError(e); }
  };
  return html`
    <h1 tabindex="-1">${t("unsubscribeTitle")}</h1>
    ${state === "loading" ? html`<p>${t("loading")}</p>` : null}
    ${state === "ask" && target
      ? html`<p>${t(target.kind === "campaigns" ? "unsubscribeAskCampaign" : "unsubscribeAsk")}</p>
          <button type="button" data-testid="unsubscribe" onClick=${confirm}>${t("unsubscribeConfirm")}</button>
          ${target.kind === "challenges" ? html` <a href=${`#/challenges/${enc(target.id)}`}>${t("publicPage")}</a>` : null}`
      : null}
    ${state === "done" ? html`<p class="alert alert-ok" role="status" data-testid="unsubscribed">${t("unsubscribed")}</p>` : null}
    <${Alert}>${error && problemText(t, error)}<//>`;
}

const UPDATE_LOCALES = ["fr", "en"];

function PostUpdateForm({ t, id }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const fd = new FormData(form);
    const body = {
      title: String(fd.get("title") || "").trim(),
      body: String(fd.get("body") || "").trim(),
      locale: String(fd.get("locale") || "fr"),
    };
    setBusy(true); setErrors({}); setGeneral(null); setDone(null);
    try {
      const created = await api(`/admin/challenges/${enc(id)}/updates`, { method: "POST", body });
      form.reset();
      setDone(t("updatePosted", { title: created.title }));
    } catch (err) {
      const found = fieldErrors(err, ["title", "body", "locale"]);
      setErrors(found.byField);
      if (found.general.length || !Object.keys(found.byField).length) setGeneral(err);
    }
    setBusy(false);
  };
  const described = (name) => (errors[name] ? `err-${name}` : undefined);
  return html`
    <section class="block" aria-labelledby="post-update-title">
      <h2 id="post-update-title">${t("postUpdateTitle")}</h2>
      <p class="muted">${t("postUpdateHint")}</p>
      <form data-testid="update-form" onSubmit=${submit} noValidate>
        <div class="field">
          <label for="update-title">${t("updateTitleLabel")}</label>
          <input id="update-title" name="title" maxlength="200" required aria-invalid=${errors.title ? "true" : "false"} aria-describedby=${described("title")} />
          <${FieldError} name="title" errors=${errors} />
        </div>
        <div class="field">
          <label for="update-body">${t("updateBodyLabel")}</label>
          <textarea id="update-body" name="body" rows="5" maxlength="10000" required aria-invalid=${errors.body ? "true" : "false"} aria-describedby=${described("body")}></textarea>
          <${FieldError} name="body" errors=${errors} />
        </div>
        <div class="field">
          <label for="update-locale">${t("updateLocaleLabel")}</label>
          <select id="update-locale" name="locale">
            ${UPDATE_LOCALES.map((l) => html`<option value=${l} selected=${l === t.lang}>${l === "fr" ? "Français (fr)" : "English (en)"}</option>`)}
          </select>
        </div>
        <button type="submit" data-testid="post-update" disabled=${busy}>${t("postUpdate")}</button>
      </form>
      <${Alert}>${general && problemText(t, general)}<//>
      <${Alert} kind="ok" testid="update-posted">${done}<//>
    </section>`;
}

// ---------------------------------------------------------------- citizen proposals
const PROPOSAL_FIELDS = ["title", "action", "description", "suggested_target.value", "postal_code"];

function proposalBody(form) {
  const fd = new FormData(form);
  const value = Number(String(fd.get("target") || "").trim());
  return {
    title: String(fd.get("title") || "").trim(),
    action: String(fd.get("action") || "").trim(),
    description: String(fd.get("description") || "").trim(),
    suggested_target: { metric: "participants", value: Number.isFinite(value) ? value : 0 },
    postal_code: String(fd.get("postal_code") || "").trim(),
  };
}

function ProposeForm({ t, onProposed }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    setBusy(true); setErrors({}); setGeneral(null); setDone(null);
    try {
      const created = await api("/proposals", { method: "POST", body: proposalBody(form) });
      form.reset();
      setDone(t("proposed", { title: created.title }));
      onProposed(created);
    } catch (err) {
      const found = fieldErrors(err, PROPOSAL_FIELDS);
      setErrors(found.byField);
      if (found.general.length || !Object.keys(found.byField).length) setGeneral(err);
    }
    setBusy(false);
  };
  const invalid = (name) => (errors[name] ? "true" : "false");
  const described = (name) => (errors[name] ? `err-${name}` : undefined);
  return html`
    <section class="block" aria-labelledby="propose-title">
      <h2 id="propose-title">${t("proposeTitle")}</h2>
      <p class="muted">${t("proposeHint")}</p>
      <form data-testid="propose-form" onSubmit=${submit} noValidate>
        <div class="field">
          <label for="proposal-title">${t("proposalTitleLabel")}</label>
          <input id="proposal-title" name="title" maxlength="140" required aria-invalid=${invalid("title")} aria-describedby=${described("title")} />
          <${FieldError} name="title" errors=${errors} />
        </div>
        <div class="field">
          <label for="proposal-action">${t("proposalActionLabel")}</label>
          <input id="proposal-action" name="action" maxlength="280" required aria-invalid=${invalid("action")} aria-describedby=${described("action")} />
          <${FieldError} name="action" errors=${errors} />
        </div>
        <div class="field">
          <label for="proposal-description">${t("proposalDescriptionLabel")}</label>
          <textarea id="proposal-description" name="description" rows="3" maxlength="5000"></textarea>
        </div>
        <div class="field">
          <label for="proposal-target">${t("proposalTargetLabel")}</label>
          <input id="proposal-target" name="target" inputmode="numeric" required aria-invalid=${invalid("suggested_target.value")} aria-describedby=${described("suggested_target.value")} />
          <${FieldError} name="suggested_target.value" errors=${errors} />
        </div>
        <div class="field">
          <label for="proposal-postal">${t("proposalPostalLabel")}</label>
          <input id="proposal-postal" name="postal_code" autocomplete="postal-code" required aria-invalid=${invalid("postal_code")} aria-describedby=${described("postal_code")} />
          <${FieldError} name="postal_code" errors=${errors} />
        </div>
        <button type="submit" data-testid="propose" disabled=${busy}>${t("propose")}</button>
      </form>
      <${Alert}>${general && problemText(t, general)}<//>
      <${Alert} kind="ok" testid="proposed">${done}<//>
    </section>`;
}

function ProposalCard({ t, p, sess, onChanged, page = false }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const supported = !!p.supported_by_me;
  const toggle = async () => {
    setBusy(true); setError(null);
    try {
      const answer = await api(`/proposals/${enc(p.id)}/support`, { method: supported ? "DELETE" : "PUT" });
      onChanged({ ...answer.proposal, supported_by_me: answer.supported });
    } catch (err) { setError(err); }
    setBusy(false);
  };
  return html`
    <li class="card" data-testid="proposal-card" key=${p.id}>
      <h2 class="card-title">${page ? p.title : html`<a href=${`#/proposals/${enc(p.id)}`}>${p.title}</a>`}</h2>
      <p class="card-action">${p.action}</p>
      ${p.description ? html`<p>${p.description}</p>` : null}
      <p class="muted" data-testid="proposal-supports">${t("proposalSupports", { n: p.supports, threshold: p.support_threshold })}
        ${p.threshold_reached ? html` · <strong>${t("proposalThresholdReached")}</strong>` : null}</p>
      ${sess && p.status === "open"
        ? html`<button type="button" class=${supported ? "secondary" : ""} data-testid="support"
            aria-pressed=${supported ? "true" : "false"} disabled=${busy} onClick=${toggle}>
            ${supported ? t("unsupport") : t("support")}</button>`
        : null}
      <${Alert}>${error && problemText(t, error)}<//>
    </li>`;
}

function ProposalList({ t, sess }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(async () => {
    try {
      const page = await api("/proposals?status=open&limit=50");
      const mine = sess
        ? await Promise.all(page.items.map((p) => api(`/proposals/${enc(p.id)}`).catch(() => p)))
        : page.items;
      setItems(mine);
      setError(null);
    } catch (e) { setError(e); }
  }, [sess && sess.token]);
  useEffect(() => { load(); }, [load]);
  const changed = (p) => setItems((old) => (old || []).map((x) => (x.id === p.id ? p : x)));
  return html`
    <h1 tabindex="-1">${t("proposalsTitle")}</h1>
    <p class="lead">${t("proposalsIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${items && !items.length ? html`<p>${t("noProposals")}</p>` : null}
    ${items && items.length
      ? html`<ul class="cards">${items.map((p) => html`<${ProposalCard} t=${t} p=${p} sess=${sess} onChanged=${changed} key=${p.id} />`)}</ul>`
      : null}
    ${sess
      ? html`<${ProposeForm} t=${t} onProposed=${() => load()} />`
      : html`<p><a href="#/signin?next=%2Fproposals">${t("signInToPropose")}</a></p>`}`;
}

// One proposal (the e-mails link here), with its meetups.
function ProposalPage({ t, id, sess }) {
  const [p, setP] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(`/proposals/${enc(id)}`).then((found) => { setP(found); setError(null); }).catch(setError);
  }, [id, sess && sess.token]);
  return html`
    <p><a href="#/proposals">${t("proposalsTitle")}</a></p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${p === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${p ? html`
      <h1 tabindex="-1">${p.title}</h1>
      <ul class="cards"><${ProposalCard} t=${t} p=${p} sess=${sess} onChanged=${setP} page=${true} /></ul>
      <${MeetupsBlock} t=${t} owner=${`/proposals/${p.id}`} sess=${sess} key=${`meetups:${p.id}:${sess ? sess.sub : ""}`} />`
    : null}`;
}

const ADOPT_NAMES = ["sponsor.name", "sponsor.email", "beneficiary.name", "beneficiary.email", "reward"];

function AdminProposal({ t, p, onChanged }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [adopted, setAdopted] = useState(null);
  const uid = `p-${p.id}`;
  const decide = async (verb) => {
    setBusy(true); setError(null);
    const reason = (document.getElementById(`${uid}-reason`) || {}).value || "";
    try {
      onChanged(await api(`/admin/proposals/${enc(p.id)}/${verb}`, { method: "POST", body: reason.trim() ? { reason: reason.trim() } : {} }));
    } catch (err) { setError(err); }
    setBusy(false);
  };
  const adopt = async (e) => {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const get = (n) => String(fd.get(n) || "").trim();
    setBusy(true); setError(null);
    try {
      const answer = await api(`/admin/proposals/${enc(p.id)}/adopt`, {
        method: "POST",
        body: {
          sponsor: { name: get("sponsor.name"), email: get("sponsor.email") },
          beneficiary: { name: get("beneficiary.name"), email: get("beneficiary.email") },
          reward: get("reward"),
        },
      });
      setAdopted(answer.challenge);
      onChanged(answer.proposal);
    } catch (err) { setError(err); }
    setBusy(false);
  };
  return html`
    <li class="card" data-testid="admin-proposal" key=${p.id}>
      <h3 class="card-title">${p.title}</h3>
      <p class="card-action">${p.action}</p>
      <p class="muted">${t(`proposalStatus_${p.status}`)} · ${t("proposalSupports", { n: p.supports, threshold: p.support_threshold })}</p>
      ${p.status === "pending"
        ? html`<div class="field">
            <label for=${`${uid}-reason`}>${t("decisionReasonLabel")}</label>
            <input id=${`${uid}-reason`} maxlength="1000" />
          </div>
          <button type="button" data-testid="approve" disabled=${busy} onClick=${() => decide("approve")}>${t("approve")}</button>
          ${" "}<button type="button" class="secondary" data-testid="reject" disabled=${busy} onClick=${() => decide("reject")}>${t("reject")}</button>`
        : null}
      ${p.status === "open"
        ? html`<form data-testid="adopt-form" onSubmit=${adopt}>
            <fieldset><legend>${t("adoptTitle")}</legend>
            ${ADOPT_NAMES.map((n) => html`<div class="field">
              <label for=${`${uid}-${n}`}>${t(`adopt_${n.replace(".", "_")}`)}</label>
              <input id=${`${uid}-${n}`} name=${n} required type=${n.endsWith("email") ? "email" : "text"} />
            </div>`)}
            </fieldset>
            <button type="submit" data-testid="adopt" disabled=${busy}>${t("adopt")}</button>
          </form>`
        : null}
      ${adopted || p.challenge_id
        ? html`<p data-testid="adopted">${t("adoptedAs")} <a href=${`#/admin/challenges/${enc((adopted && adopted.id) || p.challenge_id)}`}>${(adopted && adopted.title) || p.title}</a></p>`
        : null}
      <${Alert}>${error && problemText(t, error)}<//>
    </li>`;
}

function AdminProposals({ t, sess }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!isAdmin(sess)) return;
    Promise.all([api("/admin/proposals?status=pending&limit=50"), api("/admin/proposals?status=open&limit=50")])
      .then(([pending, open]) => { setItems([...pending.items, ...open.items]); setError(null); })
      .catch(setError);
  }, [sess && sess.token]);
  if (!sess) return html`<h1 tabindex="-1">${t("adminProposalsTitle")}</h1><p><a href="#/signin?next=%2Fadmin%2Fproposals">${t("signInFirst")}</a></p>`;
  const changed = (p) => setItems((old) => (old || []).map((x) => (x.id === p.id ? p : x)));
  return html`
    <h1 tabindex="-1">${t("adminProposalsTitle")}</h1>
    <p class="lead">${t("adminProposalsIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${items && !items.length ? html`<p>${t("noProposals")}</p>` : null}
    ${items && items.length
      ? html`<ul class="cards">${items.map((p) => html`<${AdminProposal} t=${t} p=${p} onChanged=${changed} key=${p.id} />`)}</ul>`
      : null}`;
}

// ---------------------------------------------------------------- meetups
// `owner`: the page the meetups are on, `/challenges/<id>` or `/proposals/<id>` (its API path
// lists them, its hash is where sign-in comes back to).
function MeetupsBlock({ t, owner, sess }) {
  const [events, setEvents] = useState(null);
  const [error, setError] = useState(null);
  const [kind, id] = owner.split("/").filter(Boolean);
  const load = () => api(`/${kind}/${enc(id)}/events`)
    .then((page) => { setEvents(page.items); setError(null); })
    .catch(setError);
  useEffect(() => { load(); }, [owner]);
  if (events && !events.length && !error) return null;
  return html`
    <section class="block" aria-labelledby="meetups-title">
      <h2 id="meetups-title">${t("meetupsTitle")}</h2>
      <${Alert} kind="warn">${error && problemText(t, error)}<//>
      ${events ? html`<ul class="cards meetups">${events.map((ev) => html`
        <${MeetupItem} t=${t} ev=${ev} owner=${owner} sess=${sess} onChanged=${load} key=${ev.id} />`)}</ul>` : null}
    </section>`;
}

function MeetupItem({ t, ev, owner, sess, onChanged }) {
  const [mine, setMine] = useState(undefined); // undefined: loading, null: not signed up
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const rsvpPath = `/events/${enc(ev.id)}/rsvp`;
  useEffect(() => {
    if (!sess) return undefined;
    let alive = true;
    api(rsvpPath).then((r) => { if (alive) setMine(r); })
      .catch(() => { if (alive) setMine(null); });
    return () => { alive = false; };
  }, [ev.id]);
  const act = async (method) => {
    setBusy(true); setError(null);
    try {
      const answer = await api(rsvpPath, { method });
      setMine(method === "PUT" ? answer : null);
      onChanged();
    } catch (err) { setError(err); }
    setBusy(false);
  };
  const titleId = `meetup-${ev.id}`;
  return html`<li class="card meetup" data-testid="meetup" aria-labelledby=${titleId}>
    <h3 class="card-title" id=${titleId}>${ev.title}</h3>
    <p class="muted">${t.dateTime(ev.starts_at)} · ${ev.place}</p>
    <p data-testid="meetup-counts">${t("meetupCounts", { confirmed: ev.confirmed, capacity: ev.capacity, waiting: ev.waitlisted })}</p>
    ${mine ? html`<p data-testid="meetup-status" data-status=${mine.status} role="status">${mine.status === "confirmed"
      ? t("meetupConfirmed") : t("meetupWaitlisted", { position: mine.position })}</p>` : null}
    ${sess
      ? (mine
        ? html`<button type="button" class="secondary" data-testid="meetup-cancel" disabled=${busy} onClick=${() => act("DELETE")}>${t("meetupCancel")}</button>`
        : html`<button type="button" data-testid="meetup-signup" disabled=${busy || mine === undefined} onClick=${() => act("PUT")}>${t("meetupSignUp")}</button>`)
      : html`<p><a href=${`#/signin?next=${enc(owner)}`}>${t("signInToMeetup")}</a></p>`}
    <p><a href=${CONFIG.apiBase + ev.calendar_url} data-testid="meetup-ics" download=${`${ev.id}.ics`}>${t("meetupCalendar")}</a></p>
    <${Alert}>${error && problemText(t, error)}<//>
  </li>`;
}

function CreateMeetupForm({ t, id }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const fd = new FormData(form);
    const local = String(fd.get("starts_at") || "");
    const starts = local ? new Date(local) : null;
    const body = {
      title: String(fd.get("title") || "").trim(),
      starts_at: starts && !Number.isNaN(starts.getTime()) ? starts.toISOString() : local,
      place: String(fd.get("place") || "").trim(),
      capacity: Number.parseInt(String(fd.get("capacity") || ""), 10),
    };
    setBusy(true); setErrors({}); setGeneral(null); setDone(null);
    try {
      const created = await api(`/admin/challenges/${enc(id)}/events`, { method: "POST", body });
      form.reset();
      setDone(t("meetupCreated", { title: created.title }));
    } catch (err) {
      const found = fieldErrors(err, ["title", "starts_at", "place", "capacity"]);
      setErrors(found.byField);
      if (found.general.length || !Object.keys(found.byField).length) setGeneral(err);
    }
    setBusy(false);
  };
  const described = (name) => (errors[name] ? `err-${name}` : undefined);
  const field = (name, label, attrs) => html`
    <div class="field">
      <label for=${`meetup-${name}`}>${label}</label>
      <input id=${`meetup-${name}`} name=${name} required ...${attrs}
        aria-invalid=${errors[name] ? "true" : "false"} aria-describedby=${described(name)} />
      <${FieldError} name=${name} errors=${errors} />
    </div>`;
  return html`
    <section class="block" aria-labelledby="create-meetup-title">
      <h2 id="create-meetup-title">${t("createMeetupTitle")}</h2>
      <form data-testid="meetup-form" onSubmit=${submit} noValidate>
        ${field("title", t("meetupTitleLabel"), { maxlength: "200" })}
        ${field("starts_at", t("meetupStartsLabel"), { type: "datetime-local" })}
        ${field("place", t("meetupPlaceLabel"), { maxlength: "300" })}
        ${field("capacity", t("meetupCapacityLabel"), { type: "number", min: "1", step: "1" })}
        <button type="submit" data-testid="create-meetup" disabled=${busy}>${t("createMeetup")}</button>
      </form>
      <${Alert}>${general && problemText(t, general)}<//>
      <${Alert} kind="ok" testid="meetup-created">${done}<//>
    </section>`;
}

// ---------------------------------------------------------------- teams and leaderboards
// A challenge's or a campaign's organisation's teams, ranked, with the person's own team.
// The section is there only when the organisation has teams (the leaderboard lists them all).
function TeamsSection({ t, sess, scope, id, organizationId, back }) {
  const [by, setBy] = useState("participants");
  const [board, setBoard] = useState(null);
  const [error, setError] = useState(null);
  const [myTeam, setMyTeam] = useState(null);
  const path = `/${scope}s/${enc(id)}/leaderboard`;
  usePolling(async (alive) => {
    try {
      const answer = await api(`${path}?by=${by}`);
      if (alive()) { setBoard(answer); setError(null); }
    } catch (e) { if (alive()) setError(e); }
  }, [path, by], LEADERBOARD_POLL_MS);
  if (!organizationId || !board || !board.teams.length) return null;
  // A challenge without a unit has no quantity to report: ranking by it would rank nothing.
  const quantities = board.scope === "campaign" || !!board.unit;
  const quantityText = (q) => (board.unit ? `${t.number(q)} ${board.unit}` : t.number(q));
  const titleId = `teams-title-${scope}`;
  return html`
    <section class="block teams" aria-labelledby=${titleId} data-testid="teams">
      <h2 id=${titleId}>${t("teamsTitle")}</h2>
      <p class="muted">${t(scope === "campaign" ? "teamsIntroCampaign" : "teamsIntro")}</p>
      ${quantities
        ? html`<fieldset class="segmented" data-testid="rank-by">
            <legend>${t("rankBy")}</legend>
            ${["participants", "quantity"].map((b) => html`<label key=${b}>
              <input type="radio" name=${`rank-by-${scope}`} value=${b} checked=${by === b}
                data-testid=${`rank-by-${b}`} onChange=${() => setBy(b)} />
              ${t(`rankBy_${b}`)}</label>`)}
          </fieldset>`
        : null}
      <${Alert} kind="warn">${error && problemText(t, error)}<//>
      <ol class="leaderboard" data-testid="leaderboard" data-by=${board.by}>
        ${board.teams.map((team) => html`<li key=${team.team_id} data-testid="team-row" data-team=${team.team_id}
            class=${myTeam === team.team_id ? "mine" : ""}>
          <div class="team-head">
            <span class="team-rank" data-testid="team-rank">${t("teamRank", { rank: team.rank })}</span>
            <strong data-testid="team-name">${team.name}</strong>
            ${myTeam === team.team_id ? html`<span class="badge" data-testid="team-mine">${t("teamMine")}</span>` : null}
          </div>
          <p class="team-figures">
            <span data-testid="team-participants">${t("participantsCount", { n: t.number(team.participants), raw: team.participants })}</span>
            ${quantities ? html` · <span data-testid="team-quantity">${quantityText(team.quantity)}</span>` : null}
          </p>
          ${team.members
            ? (team.members.length
              ? html`<p class="team-members" data-testid="team-members">${t("teamMembers", { names: team.members.join(", ") })}</p>`
              : html`<p class="muted" data-testid="team-members-none">${t("teamMembersNone")}</p>`)
            : html`<p class="muted" data-testid="team-names-hidden">${t("teamNamesHidden")}</p>`}
        </li>`)}
      </ol>
      <${MyTeam} t=${t} sess=${sess} organizationId=${organizationId} back=${back} onTeam=${setMyTeam}
        key=${`${organizationId}:${sess ? sess.sub : ""}`} />
    </section>`;
}

const TEAM_NAMES = ["team_id", "display_name"];

// "Your team": the person's team in the organisation, to join, change or leave.
function MyTeam({ t, sess, organizationId, back, onTeam }) {
  const [mine, setMine] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [errors, setErrors] = useState({});
  const [summary, setSummary] = useState(null);
  const [general, setGeneral] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  const path = `/me/teams/${enc(organizationId)}`;

  useEffect(() => {
    if (!sess) return undefined;
    let alive = true;
    api(path).then((answer) => {
      if (!alive) return;
      setMine(answer);
      onTeam(answer.membership.team_id);
    }).catch((e) => { if (alive) setLoadError(e); });
    return () => { alive = false; };
  }, [path]);

  if (!sess) {
    return html`<p data-testid="team-signin"><a href=${`#/signin?next=${enc(back)}`}>${t("signInToJoinTeam")}</a></p>`;
  }
  if (loadError) {
    return loadError.status === 403
      ? html`<p class="alert alert-warn" role="status" data-testid="team-forbidden">${t("teamForbidden")}</p>`
      : html`<${Alert} kind="warn">${problemText(t, loadError)}<//>`;
  }
  if (!mine) return html`<p>${t("loading")}</p>`;

  const membership = mine.membership;
  const current = mine.teams.find((x) => x.id === membership.team_id);
  const reset = () => { setErrors({}); setSummary(null); setGeneral(null); setDone(null); };
  const changed = (m, message) => {
    setMine({ ...mine, membership: m });
    onTeam(m.team_id);
    setDone(message);
  };
  const join = async (e) => {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const body = { team_id: String(fd.get("team_id") || "") };
    const shown = String(fd.get("display_name") || "").trim();
    if (shown) body.display_name = shown;
    setBusy(true); reset();
    try {
      const m = await api(path, { method: "PUT", body });
      const team = mine.teams.find((x) => x.id === m.team_id);
      changed(m, t("teamJoined", { name: team ? team.name : m.team_id }));
    } catch (err) {
      showFormErrors(t, err, TEAM_NAMES, formRef.current, { setErrors, setSummary, setGeneral });
    }
    setBusy(false);
  };
  const leave = async () => {
    setBusy(true); reset();
    try {
      await api(path, { method: "DELETE" });
      changed({ ...membership, team_id: null, since: null, display_name: null }, t("teamLeft"));
    } catch (err) {
      showFormErrors(t, err, TEAM_NAMES, formRef.current, { setErrors, setSummary, setGeneral });
    }
    setBusy(false);
  };
  const a11y = (name) => (errors[name] ? { "aria-invalid": "true", "aria-describedby": `err-team-${name}` } : {});
  const fieldError = (name) => (errors[name] && errors[name].length
    ? html`<p class="field-error" id=${`err-team-${name}`} data-testid=${`team-error-${name}`}>${errors[name].join(" ; ")}</p>`
    : null);
  const formId = `my-team-${organizationId}`;
  return html`
    <div class="my-team" data-testid="my-team">
      <h3>${t("myTeamTitle")}</h3>
      <p data-testid="my-team-current">${current
        ? t("myTeamIs", { name: current.name, date: t.date(membership.since) })
        : t("myTeamNone")}</p>
      <form class="stack-form" data-testid="team-form" onSubmit=${join} novalidate ref=${formRef}>
        <div class="field">
          <label for=${`${formId}-team`}>${t("teamLabel")}</label>
          <select id=${`${formId}-team`} name="team_id" ...${a11y("team_id")}>
            <option value="" selected=${!current}>${t("teamChoose")}</option>
            ${mine.teams.map((x) => html`<option value=${x.id} key=${x.id} selected=${current && current.id === x.id}>${x.name}</option>`)}
          </select>
          ${fieldError("team_id")}
        </div>
        <div class="field">
          <label for=${`${formId}-name`}>${t("teamShownName")}</label>
          <input id=${`${formId}-name`} name="display_name" maxlength="80" autocomplete="nickname"
            defaultValue=${membership.display_name || ""} aria-describedby=${[`${formId}-hint`, errors.display_name ? "err-team-display_name" : null].filter(Boolean).join(" ")}
            aria-invalid=${errors.display_name ? "true" : null} />
          <p class="hint" id=${`${formId}-hint`}>${t("teamShownNameHint")}</p>
          ${fieldError("display_name")}
        </div>
        <${Alert}>${summary}<//>
        <${Alert} testid="team-form-error">${general}<//>
        <div class="actions">
          <button type="submit" data-testid="team-join" disabled=${busy}>${current ? t("teamChange") : t("teamJoin")}</button>
          ${current ? html`<button type="button" class="secondary" data-testid="team-leave" disabled=${busy} onClick=${leave}>${t("teamLeave")}</button>` : null}
        </div>
      </form>
      <${Alert} kind="ok" testid="team-done">${done}<//>
    </div>`;
}

// ---------------------------------------------------------------- campaign page
function CampaignPage({ t, id, sess }) {
  const [campaign, setCampaign] = useState(null);
  const [error, setError] = useState(null);
  usePolling(async (alive) => {
    try {
      const answer = await api(`/campaigns/${enc(id)}`);
      if (alive()) { setCampaign(answer); setError(null); }
    } catch (e) { if (alive()) setError(e); }
  }, [id]);
  if (!campaign) {
    return html`
      <p><a href="#/">← ${t("backToList")}</a></p>
      ${error
        ? html`<h1 tabindex="-1">${error.status === 404 ? t("notFound") : t("appName")}</h1><${Alert}>${problemText(t, error)}<//>`
        : html`<h1 tabindex="-1">${t("loading")}</h1>`}`;
  }
  const totals = campaign.totals;
  const quantities = Object.entries(totals.quantity || {});
  return html`
    <p><a href="#/">← ${t("backToList")}</a></p>
    <article class="campaign">
      <h1 tabindex="-1">${campaign.title}</h1>
      ${campaign.description ? html`<p>${campaign.description}</p>` : null}
      <${Alert} kind="warn">${error && problemText(t, error)}<//>
      <p class="lead" data-testid="campaign-totals">${t("participantsCount", { n: t.number(totals.participants), raw: totals.participants })}${
        quantities.map(([unit, q]) => ` · ${t.number(q)} ${unit}`).join("")}</p>
      ${campaign.organization_id
        ? html`<${TeamsSection} t=${t} sess=${sess} scope="campaign" id=${campaign.id} organizationId=${campaign.organization_id}
            back=${`/campaigns/${campaign.id}`} />`
        : null}
      <section class="block" aria-labelledby="campaign-challenges-title">
        <h2 id="campaign-challenges-title">${t("campaignChallenges")}</h2>
        ${campaign.challenges.length
          ? html`<ul class="cards">${campaign.challenges.map((ch) => html`<li class="card" key=${ch.id} data-testid="campaign-challenge">
              <h3 class="card-title"><a href=${`#/challenges/${enc(ch.id)}`}>${ch.title}</a></h3>
              <p class="card-action">${ch.action}</p>
              <${CardProgress} t=${t} ch=${ch} />
            </li>`)}</ul>`
          : html`<p>${t("noChallenges")}</p>`}
      </section>
    </article>`;
}

// ---------------------------------------------------------------- organisations and teams (admin)
function AdminOrganizations({ t, sess }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!isAdmin(sess)) return undefined;
    let alive = true;
    apiAll("/admin/organizations", 5)
      .then((list) => { if (alive) { setItems(list); setError(null); } })
      .catch((e) => { if (alive) setError(e); });
    return () => { alive = false; };
  }, [sess && sess.token]);
  if (!sess) return html`<h1 tabindex="-1">${t("orgsTitle")}</h1><p><a href="#/signin?next=%2Fadmin%2Forganizations">${t("signInFirst")}</a></p>`;
  if (!isAdmin(sess)) return html`<h1 tabindex="-1">${t("orgsTitle")}</h1><p>${t("adminForbidden")}</p>`;
  return html`
    <h1 tabindex="-1">${t("orgsTitle")}</h1>
    <p class="lead">${t("orgsIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${items && !items.length ? html`<p>${t("orgsNone")}</p>` : null}
    ${items && items.length
      ? html`<ul class="admin-list">${items.map((o) => html`<li data-testid="admin-organization" key=${o.id}>
          <a href=${`#/admin/organizations/${enc(o.id)}`}>${o.display_name || o.name}</a>
          <span class="muted">${t(`orgKind_${o.kind}`)}${o.email_domains.length ? ` · ${o.email_domains.join(", ")}` : ""}</span>
        </li>`)}</ul>`
      : null}`;
}

const TEAM_CREATE_NAMES = ["name", "description"];

function AdminOrganization({ t, id, sess }) {
  const [org, setOrg] = useState(null);
  const [teams, setTeams] = useState(null);
  const [error, setError] = useState(null);
  const [errors, setErrors] = useState({});
  const [summary, setSummary] = useState(null);
  const [general, setGeneral] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  const teamsPath = `/admin/organizations/${enc(id)}/teams`;

  useEffect(() => {
    if (!isAdmin(sess)) return undefined;
    let alive = true;
    Promise.all([api(`/admin/organizations/${enc(id)}`), api(teamsPath)])
      .then(([o, list]) => { if (alive) { setOrg(o); setTeams(list.items); setError(null); } })
      .catch((e) => { if (alive) setError(e); });
    return () => { alive = false; };
  }, [id, sess && sess.token]);

  if (!sess) return html`<h1 tabindex="-1">${t("orgsTitle")}</h1><p><a href=${`#/signin?next=${enc(`/admin/organizations/${id}`)}`}>${t("signInFirst")}</a></p>`;
  if (!isAdmin(sess)) return html`<h1 tabindex="-1">${t("orgsTitle")}</h1><p>${t("adminForbidden")}</p>`;
  const backLink = html`<p><a href="#/admin/organizations">← ${t("backToOrgs")}</a></p>`;
  if (!org) {
    return html`${backLink}
      <h1 tabindex="-1">${error ? (error.status === 404 ? t("notFound") : t("orgsTitle")) : t("loading")}</h1>
      <${Alert}>${error && problemText(t, error)}<//>`;
  }

  const create = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const fd = new FormData(form);
    const body = { name: String(fd.get("name") || "").trim() };
    // Left out when empty: the API's description, when given, has at least one character.
    const description = String(fd.get("description") || "").trim();
    if (description) body.description = description;
    setBusy(true); setErrors({}); setSummary(null); setGeneral(null); setDone(null);
    try {
      const team = await api(teamsPath, { method: "POST", body });
      form.reset();
      setTeams((old) => [...(old || []), team].sort((a, b) => a.name.localeCompare(b.name, t.lang)));
      setDone(t("teamCreated", { name: team.name }));
    } catch (err) {
      showFormErrors(t, err, TEAM_CREATE_NAMES, formRef.current, { setErrors, setSummary, setGeneral });
    }
    setBusy(false);
  };
  const a11y = (name) => (errors[name] ? { "aria-invalid": "true", "aria-describedby": `err-${name}` } : {});
  return html`
    ${backLink}
    <h1 tabindex="-1">${org.display_name || org.name}</h1>
    <p class="muted">${t(`orgKind_${org.kind}`)}${org.email_domains.length
      ? ` · ${t("orgDomains", { domains: org.email_domains.join(", ") })}` : ` · ${t("orgOpen")}`}</p>
    <section class="block" aria-labelledby="org-teams-title">
      <h2 id="org-teams-title">${t("orgTeamsTitle")}</h2>
      ${teams && !teams.length ? html`<p data-testid="org-teams-none">${t("orgTeamsNone")}</p>` : null}
      ${teams && teams.length
        ? html`<ul class="admin-list">${teams.map((x) => html`<li data-testid="org-team" key=${x.id}>
            <strong>${x.name}</strong>${x.description ? html` <span class="muted">${x.description}</span>` : null}
          </li>`)}</ul>`
        : null}
    </section>
    <section class="block" aria-labelledby="create-team-title">
      <h2 id="create-team-title">${t("createTeamTitle")}</h2>
      <form class="stack-form" data-testid="team-create-form" onSubmit=${create} novalidate ref=${formRef}>
        <div class="field">
          <label for="team-name">${t("teamNameLabel")} <span aria-hidden="true">*</span></label>
          <input id="team-name" name="name" maxlength="80" aria-required="true" ...${a11y("name")} />
          <${FieldError} name="name" errors=${errors} />
        </div>
        <div class="field">
          <label for="team-description">${t("teamDescriptionLabel")}</label>
          <textarea id="team-description" name="description" rows="2" maxlength="500" ...${a11y("description")}></textarea>
          <${FieldError} name="description" errors=${errors} />
        </div>
        <${Alert}>${summary}<//>
        <${Alert} testid="team-create-error">${general}<//>
        <button type="submit" data-testid="team-create" disabled=${busy}>${t("createTeam")}</button>
      </form>
      <${Alert} kind="ok" testid="team-created">${done}<//>
    </section>`;
}

// ---------------------------------------------------------------- sign-in
const SIGNIN_FIELDS = ["name", "role", "org_id", "email"];

function SignIn({ t, query }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [busy, setBusy] = useState(false);
  const [role, setRole] = useState("participant");
  const next = query.get("next");
  const back = () => go(next && next.startsWith("/") && !next.startsWith("/signin") ? next : "/");

  const submit = async (e) => {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const body = { name: String(fd.get("name") || "").trim(), role: String(fd.get("role")), locale: t.lang };
    for (const k of ["org_id", "email"]) {
      const v = String(fd.get(k) || "").trim();
      if (v) body[k] = v;
    }
    setBusy(true); setErrors({}); setGeneral(null);
    try {
      const answer = await api("/dev/token", { method: "POST", body });
      setToken(answer.token);
      back();
    } catch (err) {
      if (err.status === 404) setGeneral(t("devSignInMissing"));
      else {
        const { byField, general: rest } = fieldErrors(err, SIGNIN_FIELDS);
        setErrors(byField);
        setGeneral(rest.length || !Object.keys(byField).length ? problemText(t, err) : null);
      }
    }
    setBusy(false);
  };
  const useToken = (e) => {
    e.preventDefault();
    const token = String(new FormData(e.currentTarget).get("token") || "").trim();
    if (!sessionFrom(token)) { setGeneral(t("badToken")); return; }
    setToken(token);
    back();
  };
  const invalid = (name) => (errors[name] ? { "aria-invalid": "true", "aria-describedby": `err-${name}` } : {});

  if (CONFIG.cognito && CONFIG.cognito.domain && !CONFIG.devSignIn) {
    // In AWS: Cognito's Hosted UI (authorization code with PKCE, web/auth.js).
    const hosted = async () => {
      setBusy(true);
      try { await startSignIn(CONFIG.cognito, next || "/"); } catch (err) { setGeneral(problemText(t, err)); setBusy(false); }
    };
    return html`
      <h1 tabindex="-1">${t("signInTitle")}</h1>
      <p><button type="button" data-testid="hosted-signin" onClick=${hosted} disabled=${busy}>${t("signInSubmit")}</button></p>
      <${Alert} testid="form-error">${general}<//>`;
  }

  return html`
    <h1 tabindex="-1">${t("signInTitle")}</h1>
    <p>${t("signInIntro")}</p>
    <form class="stack-form" data-testid="signin-form" onSubmit=${submit} novalidate>
      <div class="field">
        <label for="si-name">${t("name")}</label>
        <input id="si-name" name="name" autocomplete="username" maxlength="64" ...${invalid("name")} />
        <${FieldError} name="name" errors=${errors} />
      </div>
      <div class="field">
        <label for="si-role">${t("role")}</label>
        <select id="si-role" name="role" value=${role} onChange=${(e) => setRole(e.currentTarget.value)} ...${invalid("role")}>
          ${["participant", "admin", "org-admin"].map((r) => html`<option value=${r} selected=${r === role}>${t(`role_${r}`)}</option>`)}
        </select>
        <${FieldError} name="role" errors=${errors} />
      </div>
      <div class="field">
        <label for="si-org">${t("orgId")}</label>
        <input id="si-org" name="org_id" autocomplete="organization" ...${invalid("org_id")} />
        <${FieldError} name="org_id" errors=${errors} />
      </div>
      <div class="field">
        <label for="si-email">${t("email")}</label>
        <input id="si-email" name="email" type="email" autocomplete="email" ...${invalid("email")} />
        <${FieldError} name="email" errors=${errors} />
      </div>
      <${Alert} testid="form-error">${general}<//>
      <button type="submit" disabled=${busy}>${t("signInSubmit")}</button>
    </form>
    <details class="block">
      <summary>${t("tokenTitle")}</summary>
      <form class="stack-form" onSubmit=${useToken}>
        <div class="field">
          <label for="si-token">${t("token")}</label>
          <textarea id="si-token" name="token" rows="3" spellcheck="false"></textarea>
        </div>
        <button type="submit" class="secondary">${t("tokenSubmit")}</button>
      </form>
    </details>`;
}

// ---------------------------------------------------------------- my pledges
function MyPledges({ t, sess }) {
  const [items, setItems] = useState(null);
  const [titles, setTitles] = useState({});
  const [error, setError] = useState(null);

  useEffect(() => {
    if (!sess) return undefined;
    let alive = true;
    apiAll("/me/pledges").then(async (list) => {
      if (!alive) return;
      setItems(list);
      const found = {};
      await Promise.all(list.map((p) => api(`/challenges/${enc(p.challenge_id)}`)
        .then((c) => { found[p.challenge_id] = c; }).catch(() => {})));
      if (alive) setTitles(found);
    }).catch((e) => { if (alive) setError(e); });
    return () => { alive = false; };
  }, [sess && sess.sub]);

  if (!sess) return html`<h1 tabindex="-1">${t("myTitle")}</h1><p><a href="#/signin?next=%2Fme">${t("signInFirst")}</a></p>`;
  return html`
    <h1 tabindex="-1">${t("myTitle")}</h1>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${items && !items.length ? html`<p>${t("myNone")}</p>` : null}
    ${items && items.length
      ? html`<ul class="cards">
          ${items.map((p) => {
            const c = titles[p.challenge_id];
            return html`<li class="card" data-testid="my-pledge" key=${p.challenge_id}>
              <h2 class="card-title"><a href=${`#/challenges/${enc(p.challenge_id)}`}>${c ? c.title : p.challenge_id}</a></h2>
              <p class="muted">${t("pledgedAt", { date: t.date(p.created_at) })}${p.display_name ? ` · ${p.display_name}` : ""}${
                p.area ? ` · ${t("areaLabel", { area: p.area })}` : ""}</p>
              ${c && c.target.unit && p.quantity_reported ? html`<p>${t("pledgedQuantity", { q: `${t.number(p.quantity_reported)} ${c.target.unit}` })}</p>` : null}
              ${c ? html`<${CardProgress} t=${t} ch=${c} />` : null}
            </li>`;
          })}
        </ul>`
      : null}`;
}

// ---------------------------------------------------------------- admin
const CREATE_FIELDS = [
  { name: "title", required: true },
  { name: "action", required: true },
  { name: "description", type: "textarea" },
  { name: "target.metric", type: "select", options: ["participants", "quantity"], labels: "metric_" },
  { name: "target.value", type: "number", required: true },
  { name: "target.unit" },
  { name: "sponsor.name", required: true },
  { name: "sponsor.email", type: "email", required: true },
  { name: "beneficiary.name" },
  { name: "beneficiary.email", type: "email" },
  // Instead of one beneficiary: the participants choose among these, one per line.
  { name: "beneficiary_choice", type: "textarea", hint: "candidatesHint" },
  { name: "vote_closes_at", type: "datetime-local" },
  { name: "reward", required: true },
  { name: "ends_at", type: "datetime-local" },
  { name: "campaign_id" },
  { name: "organization_id" },
  { name: "visibility", type: "select", options: ["public", "organization"], labels: "visibility_" },
  { name: "publish", type: "checkbox" },
];
const CREATE_NAMES = CREATE_FIELDS.map((f) => f.name);

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  keys.slice(0, -1).forEach((k) => { o = o[k] = o[k] || {}; });
  o[keys[keys.length - 1]] = value;
}

// "Name | e-mail | description" per line; the id is the name in lower-case ASCII.
function candidatesFrom(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [name = "", email = "", ...rest] = line.split("|").map((part) => part.trim());
    const id = name.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "candidate";
    const candidate = { id, name, email };
    if (rest.length) candidate.description = rest.join(" | ");
    return candidate;
  });
}

function createBody(form) {
  const fd = new FormData(form);
  const body = {};
  for (const f of CREATE_FIELDS) {
    if (f.type === "checkbox") { setPath(body, f.name, fd.get(f.name) === "on"); continue; }
    if (f.name === "beneficiary_choice" || f.name === "vote_closes_at") continue;
    const v = String(fd.get(f.name) || "").trim();
    if (!v) continue;
    if (f.type === "number") setPath(body, f.name, Number.isFinite(Number(v)) ? Number(v) : v);
    else if (f.type === "datetime-local") setPath(body, f.name, Number.isNaN(Date.parse(v)) ? v : new Date(v).toISOString());
    else setPath(body, f.name, v);
  }
  if (body.visibility === "public") delete body.visibility;
  const candidates = String(fd.get("beneficiary_choice") || "").trim();
  if (candidates) {
    const choice = { candidates: candidatesFrom(candidates) };
    const closes = String(fd.get("vote_closes_at") || "").trim();
    if (closes) choice.closes_at = Number.isNaN(Date.parse(closes)) ? closes : new Date(closes).toISOString();
    body.beneficiary_choice = choice;
  }
  return body;
}

function CreateForm({ t, onCreated }) {
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [summary, setSummary] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);

  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    setBusy(true); setErrors({}); setGeneral(null); setSummary(null); setDone(null);
    try {
      const created = await api("/admin/challenges", { method: "POST", body: createBody(form) });
      form.reset();
      setDone(html`${t("created", { title: created.title })} <a href=${`#/admin/challenges/${enc(created.id)}`}>${created.title}</a>`);
      onCreated(created);
    } catch (err) {
      showFormErrors(t, err, CREATE_NAMES, formRef.current, { setErrors, setSummary, setGeneral });
    }
    setBusy(false);
  };

  const field = (f) => {
    const id = `cf-${f.name.replace(".", "-")}`;
    const err = errors[f.name];
    const a11y = err ? { "aria-invalid": "true", "aria-describedby": `err-${f.name}` } : {};
    const label = html`<label for=${id}>${t(`f_${f.name}`)}${f.required ? html` <span aria-hidden="true">*</span>` : null}</label>`;
    let input;
    if (f.type === "textarea") {
      const hint = f.hint ? { "aria-describedby": [`hint-${f.name}`, a11y["aria-describedby"]].filter(Boolean).join(" ") } : {};
      input = html`<textarea id=${id} name=${f.name} rows="3" ...${a11y} ...${hint}></textarea>${
        f.hint ? html`<p class="muted" id=${`hint-${f.name}`}>${t(f.hint)}</p>` : null}`;
    } else if (f.type === "select") {
      input = html`<select id=${id} name=${f.name} ...${a11y}>${f.options.map((o) => html`<option value=${o}>${t(`${f.labels}${o}`)}</option>`)}</select>`;
    } else if (f.type === "checkbox") {
      return html`<div class="field checkbox" key=${f.name}>
        <input id=${id} name=${f.name} type="checkbox" ...${a11y} />${label}
        <${FieldError} name=${f.name} errors=${errors} /></div>`;
    } else {
      const extra = f.type === "number" ? { step: "any", min: "0", inputmode: "decimal" } : {};
      input = html`<input id=${id} name=${f.name} type=${f.type || "text"} aria-required=${f.required ? "true" : null} ...${extra} ...${a11y} />`;
    }
    return html`<div class="field" key=${f.name}>${label}${input}<${FieldError} name=${f.name} errors=${errors} /></div>`;
  };

  return html`
    <section class="block" aria-labelledby="create-title">
      <h2 id="create-title">${t("createTitle")}</h2>
      <form class="stack-form create-form" data-testid="create-form" onSubmit=${submit} novalidate ref=${formRef}>
        ${CREATE_FIELDS.map(field)}
        <${Alert}>${summary}<//>
        <${Alert} testid="form-error">${general}<//>
        <button type="submit" data-testid="create" disabled=${busy}>${t("createSubmit")}</button>
      </form>
      <${Alert} kind="ok">${done}<//>
    </section>`;
}

// ---------------------------------------------------------------- audit trail (admin)
function AuditTrail({ t, sess }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);

  // The trail lists oldest first from `since`: the last 24 hours, shown newest first.
  const load = useCallback(async () => {
    try {
      const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
      const entries = await apiAll(`/admin/audit?since=${enc(since)}`);
      setItems(entries.reverse());
      setError(null);
    } catch (e) { setError(e); }
  }, []);
  useEffect(() => { if (isAdmin(sess)) load(); }, [sess && sess.sub]);

  if (!isAdmin(sess)) return html`<h1 tabindex="-1">${t("auditTitle")}</h1><p>${t("adminForbidden")}</p>`;
  return html`
    <h1 tabindex="-1">${t("auditTitle")}</h1>
    <p>${t("auditIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${items && !items.length ? html`<p>${t("auditNone")}</p>` : null}
    ${items && items.length ? html`
      <div class="table-wrap" tabindex="0" role="region" aria-label=${t("auditTitle")}>
        <table class="deliveries">
          <thead><tr>
            <th scope="col">${t("auditAt")}</th><th scope="col">${t("auditActor")}</th>
            <th scope="col">${t("auditAction")}</th><th scope="col">${t("auditTarget")}</th>
            <th scope="col">${t("auditOrganization")}</th>
          </tr></thead>
          <tbody>
            ${items.map((e) => html`<tr data-testid="audit-row" key=${e.id}>
              <td>${t.date(e.at)}</td>
              <td>${e.actor.sub} (${e.actor.role})</td>
              <td data-testid="audit-action">${e.action}</td>
              <td data-testid="audit-target">${e.target.type}/${e.target.id}</td>
              <td>${e.organization_id || "–"}</td>
            </tr>`)}
          </tbody>
        </table>
      </div>` : null}`;
}

function AdminConsole({ t, sess }) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);

  const load = useCallback(async (after) => {
    try {
      const page = await api(`/admin/challenges?limit=50${after ? `&cursor=${enc(after)}` : ""}`);
      setItems((old) => (after && old ? [...old, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) { setError(e); }
  }, []);
  useEffect(() => { if (isAdmin(sess)) load(null); }, [load, sess && sess.token]);

  if (!sess) return html`<h1 tabindex="-1">${t("adminTitle")}</h1><p><a href="#/signin?next=%2Fadmin">${t("signInFirst")}</a></p>`;
  if (!isAdmin(sess)) return html`<h1 tabindex="-1">${t("adminTitle")}</h1><p>${t("adminForbidden")}</p>`;

  return html`
    <h1 tabindex="-1">${t("adminTitle")}</h1>
    <p><a href="#/admin/organizations" data-testid="organizations-link">${t("adminOrganizationsLink")}</a></p>
    <${CreateForm} t=${t} onCreated=${(c) => setItems((old) => [c, ...(old || []).filter((x) => x.id !== c.id)])} />
    <section class="block" aria-labelledby="admin-list-title">
      <h2 id="admin-list-title">${t("adminListTitle")}</h2>
      <${Alert}>${error && problemText(t, error)}<//>
      ${items === null && !error ? html`<p>${t("loading")}</p>` : null}
      ${items && !items.length ? html`<p>${t("adminNone")}</p>` : null}
      ${items && items.length
        ? html`<ul class="admin-list">
            ${items.map((c) => html`<li data-testid="admin-challenge" key=${c.id}>
              <a href=${`#/admin/challenges/${enc(c.id)}`}>${c.title}</a>
              <${StatusBadge} t=${t} status=${c.status} />
              <span class="muted">${progressText(t, c)}</span>
            </li>`)}
          </ul>`
        : null}
      ${cursor ? html`<button type="button" class="secondary" onClick=${() => load(cursor)}>${t("loadMore")}</button>` : null}
    </section>`;
}

// ---------------------------------------------------------------- my data (GDPR)
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

function MyData({ t, sess }) {
  const [held, setHeld] = useState(null);
  const [error, setError] = useState(null);
  const [sure, setSure] = useState(false);
  const [busy, setBusy] = useState(false);
  const [erased, setErased] = useState(false);

  const load = useCallback(() => api("/me/export").then(setHeld).catch(setError), []);
  useEffect(() => { if (sess) load(); }, [sess && sess.sub]);

  if (!sess) return html`<h1 tabindex="-1">${t("dataTitle")}</h1><p><a href="#/signin?next=%2Fme%2Fdata">${t("signInFirst")}</a></p>`;
  const download = () => saveBlob(new Blob([JSON.stringify(held, null, 2)], { type: "application/json" }), "crowdact-my-data.json");
  const erase = async () => {
    setBusy(true); setError(null);
    try {
      await api("/me", { method: "DELETE" });
      setErased(true);
      setSure(false);
      await load();
    } catch (err) { setError(err); }
    setBusy(false);
  };
  const counts = held && {
    pledges: held.pledges.length, reports: held.reports.length,
    emails: held.notifications.length, moderation: (held.moderation || []).length,
  };
  return html`
    <h1 tabindex="-1">${t("dataTitle")}</h1>
    <p>${t("dataIntro")}</p>
    <${Alert}>${error && problemText(t, error)}<//>
    ${held === null && !error ? html`<p>${t("loading")}</p>` : null}
    ${counts ? html`
      <section class="block" aria-labelledby="data-held">
        <h2 id="data-held">${t("dataHeld")}</h2>
        <p data-testid="export-summary">${t("dataSummary", counts)}</p>
        <button type="button" class="secondary" data-testid="export" onClick=${download}>${t("dataDownload")}</button>
      </section>
      <section class="block" aria-labelledby="data-erase">
        <h2 id="data-erase">${t("dataEraseTitle")}</h2>
        <p>${t("dataEraseIntro")}</p>
        <div class="field checkbox">
          <input id="erase-sure" type="checkbox" checked=${sure} onChange=${(e) => setSure(e.currentTarget.checked)} />
          <label for="erase-sure">${t("dataEraseSure")}</label>
        </div>
        <button type="button" class="danger" data-testid="erase" onClick=${erase} disabled=${!sure || busy}>${t("dataErase")}</button>
      </section>` : null}
    <${Alert} kind="ok">${erased ? html`<span data-testid="erased">${t("dataErased")}</span>` : null}<//>`;
}

async function downloadReport(id, format, lang) {
  const res = await api(`/admin/challenges/${enc(id)}/report?format=${format}&locale=${lang}`, { raw: true });
  const blob = await res.blob();
  const disposition = res.headers.get("Content-Disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = m ? decodeURIComponent(m[1]) : `bilan-${id}.${format === "csv" ? "zip" : format}`;
  saveBlob(blob, name);
}

function AdminChallenge({ t, id, sess }) {
  const [ch, setCh] = useState(null);
  const [deliveries, setDeliveries] = useState(null);
  const [error, setError] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const [payouts, setPayouts] = useState(0);  // bumped when one is recorded: reload the trail

  usePolling(async (alive) => {
    if (!isAdmin(sess)) return;
    try {
      const [c, d] = await Promise.all([
        api(`/admin/challenges/${enc(id)}`),
        apiAll(`/admin/challenges/${enc(id)}/notifications`, 5),
      ]);
      if (!alive()) return;
      setCh(c); setDeliveries(d); setError(null);
    } catch (e) { if (alive()) setError(e); }
  }, [id, sess && sess.token]);

  if (!sess) return html`<h1 tabindex="-1">${t("adminTitle")}</h1><p><a href=${`#/signin?next=${enc(`/admin/challenges/${id}`)}`}>${t("signInFirst")}</a></p>`;
  if (!isAdmin(sess)) return html`<h1 tabindex="-1">${t("adminTitle")}</h1><p>${t("adminForbidden")}</p>`;
  if (!ch) {
    return html`<p><a href="#/admin">← ${t("backToAdmin")}</a></p>
      <h1 tabindex="-1">${error ? (error.status === 404 ? t("notFound") : t("adminTitle")) : t("loading")}</h1>
      <${Alert}>${error && problemText(t, error)}<//>`;
  }

  const act = async (verb) => {
    setBusy(true); setActionError(null); setDone(null);
    try {
      const c = await api(`/admin/challenges/${enc(id)}/${verb}`, { method: "POST" });
      setCh(c);
      setDone(t(verb === "publish" ? "published" : "closedDone"));
    } catch (e) { setActionError(e); }
    setBusy(false);
  };
  const download = (format) => async (e) => {
    e.preventDefault();
    setActionError(null);
    try { await downloadReport(id, format, t.lang); } catch (err) { setActionError(err); }
  };
  const reportHref = (format) => `${CONFIG.apiBase}/admin/challenges/${enc(id)}/report?format=${format}`;

  return html`
    <p><a href="#/admin">← ${t("backToAdmin")}</a></p>
    <h1 tabindex="-1">${ch.title} <${StatusBadge} t=${t} status=${ch.status} /></h1>
    <p class="if-then">${ifThen(t, ch)}</p>
    <${ProgressBar} t=${t} ch=${ch} />
    ${ch.progress.reached ? html`<p class="reached" data-testid="reached">${t("reached")}</p>` : null}
    <p><span class="muted">${t("timeLeft")} :</span> <span data-testid="time-left">${timeLeft(t, ch)}</span>${
      ch.status !== "draft" ? html` · <a href=${`#/challenges/${enc(ch.id)}`}>${t("publicPage")}</a>` : null}</p>
    <div class="actions">
      <button type="button" data-testid="publish" disabled=${busy || ch.status !== "draft"} onClick=${() => act("publish")}>${t("publish")}</button>
      <button type="button" class="danger" data-testid="close" disabled=${busy || ch.status !== "live"} onClick=${() => act("close")}>${t("close")}</button>
    </div>
    <${Alert}>${actionError && problemText(t, actionError)}<//>
    <${Alert} kind="ok">${done}<//>
    <${Alert} kind="warn">${error && problemText(t, error)}<//>

    <section class="block" aria-labelledby="contacts-title">
      <h2 id="contacts-title">${t("contacts")}</h2>
      <dl class="facts">
        <div><dt>${t("sponsor")}</dt><dd data-testid="sponsor">${ch.sponsor.name}${ch.sponsor.email ? ` <${ch.sponsor.email}>` : ""}${
          ch.sponsor.webhook_url ? ` · ${ch.sponsor.webhook_url}` : ""}</dd></div>
        <div><dt>${t("beneficiary")}</dt><dd data-testid="beneficiary">${ch.beneficiary.name}${ch.beneficiary.email ? ` <${ch.beneficiary.email}>` : ""}</dd></div>
        <div><dt>${t("reward")}</dt><dd data-testid="reward">${ch.reward}</dd></div>
      </dl>
    </section>

    <${PostUpdateForm} t=${t} id=${ch.id} />
    <${CreateMeetupForm} t=${t} id=${ch.id} />
    ${ch.progress.reached
      ? html`<${PayoutForm} t=${t} ch=${ch} onRecorded=${() => setPayouts((n) => n + 1)} />
        <${PayoutTrail} t=${t} id=${ch.id} reload=${payouts} />`
      : null}

    <section class="block" aria-labelledby="reports-title">
      <h2 id="reports-title">${t("reportsTitle")}</h2>
      <ul class="downloads">
        <li><a href=${reportHref("json")} data-testid="report-json" onClick=${download("json")}>${t("downloadJson")}</a></li>
        <li><a href=${reportHref("csv")} data-testid="report-csv" onClick=${download("csv")}>${t("downloadCsv")}</a></li>
        <li><a href=${reportHref("pdf")} data-testid="report-pdf" onClick=${download("pdf")}>${t("downloadPdf")}</a></li>
      </ul>
    </section>

    <section class="block">
      <h2 id="delivery-title">${t("deliveryTitle")}</h2>
      ${deliveries && !deliveries.length ? html`<p>${t("deliveryNone")}</p>` : null}
      ${deliveries && deliveries.length
        ? html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="delivery-title">
            <table class="deliveries">
              <thead><tr>
                ${["d_event", "d_role", "d_channel", "d_to", "d_status", "d_attempts", "d_created", "d_sent"].map((k) => html`<th scope="col">${t(k)}</th>`)}
              </tr></thead>
              <tbody>
                ${deliveries.map((d) => html`<tr data-testid="delivery-row" key=${d.id}>
                  <td>${d.event}</td>
                  <td data-testid="delivery-role">${d.recipient_role}</td>
                  <td data-testid="delivery-channel">${d.channel}</td>
                  <td>${d.to}</td>
                  <td data-testid="delivery-status"><span class=${`badge badge-${d.status}`}>${d.status}</span></td>
                  <td>${d.attempts}</td>
                  <td>${d.created_at ? t.dateTime(d.created_at) : ""}</td>
                  <td>${d.sent_at ? t.dateTime(d.sent_at) : ""}</td>
                </tr>`)}
              </tbody>
            </table>
          </div>`
        : null}
    </section>`;
}

// ---------------------------------------------------------------- app
function route(r, t, sess) {
  const m = (re) => re.exec(r.path);
  let x;
  if (r.path === "/" || r.path === "") return html`<${ChallengeList} t=${t} />`;
  if (r.path === "/signin") return html`<${SignIn} t=${t} query=${r.query} />`;
  if (r.path === "/me") return html`<${MyPledges} t=${t} sess=${sess} />`;
  if (r.path === "/me/data") return html`<${MyData} t=${t} sess=${sess} />`;
  if (r.path === "/me/feed") return html`<${MyFeed} t=${t} sess=${sess} />`;
  if (r.path === "/unsubscribe") return html`<${Unsubscribe} t=${t} query=${r.query} />`;
  if (r.path === "/admin") return html`<${AdminConsole} t=${t} sess=${sess} />`;
  if (r.path === "/admin/audit") return html`<${AuditTrail} t=${t} sess=${sess} />`;
  if (r.path === "/proposals") return html`<${ProposalList} t=${t} sess=${sess} key=${sess ? sess.token : "anon"} />`;
  if (r.path === "/admin/proposals") return html`<${AdminProposals} t=${t} sess=${sess} />`;
  if (r.path === "/admin/organizations") return html`<${AdminOrganizations} t=${t} sess=${sess} />`;
  if ((x = m(/^\/admin\/organizations\/([^/]+)$/))) {
    const id = decodeURIComponent(x[1]);
    return html`<${AdminOrganization} t=${t} id=${id} sess=${sess} key=${id} />`;
  }
  if ((x = m(/^\/campaigns\/([^/]+)$/))) {
    const id = decodeURIComponent(x[1]);
    return html`<${CampaignPage} t=${t} id=${id} sess=${sess} key=${id} />`;
  }
  if ((x = m(/^\/proposals\/([^/]+)$/))) {
    const id = decodeURIComponent(x[1]);
    return html`<${ProposalPage} t=${t} id=${id} sess=${sess} key=${id} />`;
  }
  if ((x = m(/^\/admin\/challenges\/([^/]+)$/))) {
    const id = decodeURIComponent(x[1]);
    return html`<${AdminChallenge} t=${t} id=${id} sess=${sess} key=${id} />`;
  }
  if ((x = m(/^\/challenges\/([^/]+)$/))) {
    const id = decodeURIComponent(x[1]);
    return html`<${ChallengePage} t=${t} id=${id} sess=${sess} key=${id} />`;
  }
  return html`<h1 tabindex="-1">${t("notFound")}</h1><p><a href="#/">${t("backToList")}</a></p>`;
}

function App() {
  const [r, setR] = useState(parseHash);
  const [lang, setLangState] = useState(initialLang);
  const [sess, setSess] = useState(session);
  const [note, setNote] = useState(notice);
  const first = useRef(true);

  useEffect(() => {
    const onHash = () => setR(parseHash());
    const onAuth = () => { setSess(session); setNote(notice); };
    window.addEventListener("hashchange", onHash);
    listeners.add(onAuth);
    return () => { window.removeEventListener("hashchange", onHash); listeners.delete(onAuth); };
  }, []);

  useEffect(() => { keepLang(lang); }, [lang]);
  const setLang = (l) => { keepLang(l); setLangState(l); };

  const t = translator(lang);
  useEffect(() => { document.title = t("appName"); }, [lang]);

  // After a navigation (not the first load), move the focus to the new page's heading.
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    window.scrollTo(0, 0);
    const target = document.querySelector("main h1") || document.getElementById("main");
    if (target) target.focus({ preventScroll: true });
  }, [r.path]);

  return html`
    <a class="skip-link" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>${t("skip")}</a>
    <${Header} t=${t} sess=${sess} lang=${lang} setLang=${setLang} />
    <main id="main" class="wrap" tabindex="-1">
      ${note ? html`<p class="alert alert-warn" role="status">${t(note)} <a href=${`#/signin?next=${enc(r.path)}`}>${t("signIn")}</a></p>` : null}
      ${route(r, t, sess)}
    </main>
    <footer class="site-footer"><div class="wrap muted">crowdact · ${CONFIG.stage}</div></footer>`;
}

// Back from the Hosted UI (`?code=…&state=…`): exchange the code, then drop it from the URL.
async function start() {
  if (CONFIG.cognito && CONFIG.cognito.domain && window.location.search.includes("code=")) {
    try {
      const done = await finishSignIn(CONFIG.cognito, window.location.search);
      if (done) {
        setToken(done.token);
        window.history.replaceState(null, "", `${window.location.pathname}#${done.next}`);
      }
    } catch (err) {
      window.history.replaceState(null, "", `${window.location.pathname}#/signin`);
    }
  }
  render(html`<${App} />`, document.getElementById("app"));
}
start();
