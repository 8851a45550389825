// Sign-in in AWS: Cognito's Hosted UI with the authorization code flow and PKCE (RFC 7636),
// no client secret. `cognito` is config.js's {domain: "https://…amazoncognito.com", clientId,
// redirectUri}. The verifier and state wait in sessionStorage for the redirect back; the ID
// token the API reads (`token_use: id`) is then kept in sessionStorage like the local one.
const PENDING_KEY = "crowdact.pkce";

function b64url(bytes) {
  let text = "";
  bytes.forEach((b) => { text += String.fromCharCode(b); });
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes);
  return b64url(bytes);
}

export async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

// Leaves the page for the Hosted UI; `next` is the hash route to come back to.
export async function startSignIn(cognito, next) {
  const verifier = randomString(48); // 64 characters, within RFC 7636's 43-128
  const state = randomString(16);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, next }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: cognito.clientId,
    redirect_uri: cognito.redirectUri,
    scope: "openid email profile",
    code_challenge_method: "S256",
    code_challenge: await challengeFor(verifier),
    state,
  });
  window.location.assign(`${cognito.domain}/oauth2/authorize?${query}`);
}

// On the way back (`?code=…&state=…`): the ID token and where to go, or null if this page
// load is not a sign-in's return. Throws when the state does not match (a forged return).
export async function finishSignIn(cognito, search) {
  const params = new URLSearchParams(search);
  const code = params.get("code");
  if (!code) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  if (!pending || pending.state !== params.get("state")) throw new Error("sign-in state mismatch");
  const answer = await fetch(`${cognito.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: cognito.clientId,
      code,
      redirect_uri: cognito.redirectUri,
      code_verifier: pending.verifier,
    }),
  });
  if (!answer.ok) throw new Error(`sign-in failed (${answer.status})`);
  const tokens = await answer.json();
  return { token: tokens.id_token, next: pending.next || "/" };
}

export function signOutUrl(cognito) {
  const query = new URLSearchParams({ client_id: cognito.clientId, logout_uri: cognito.redirectUri });
  return `${cognito.domain}/logout?${query}`;
}
