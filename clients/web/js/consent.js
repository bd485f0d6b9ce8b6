// The OAuth consent screen (/app/oauth/authorize?...): which app asks, for what, in plain words, and the
// person's answer. The server checks the request (server/api/apps.py); the page only shows and forwards it.
// An unknown app or an unregistered redirect address is shown as an error and never followed.

const PARAMS = ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
  "code_challenge_method"];
export const CONSENT_PATH = "/app/oauth/authorize";

const $ = (selector) => document.querySelector(selector);

function request() {
  const query = new URLSearchParams(location.search);
  return Object.fromEntries(PARAMS.filter((k) => query.has(k)).map((k) => [k, query.get(k)]));
}

function redirectOf(error) {
  const first = error && error.details && error.details[0];
  return first && first.redirect_to;
}

export async function showConsent(api) {
  const params = request();
  $("#consent").hidden = false;
  const fail = (error) => {
    const back = redirectOf(error);
    if (back) { location.assign(back); return; }  // the app hears of its own mistake at its address
    $("#consent-error").textContent = error.message || String(error);
    $("#consent-allow").disabled = true;
    $("#consent-deny").disabled = true;
  };
  let asked;
  try {
    asked = await api.call("GET", `/oauth/authorize?${new URLSearchParams(params)}`);
  } catch (error) {
    fail(error);
    return;
  }
  $("#consent-app").textContent = asked.app.name;
  $("#consent-platform").hidden = !asked.app.platform;
  const list = $("#consent-scopes");
  list.replaceChildren(...asked.scopes.map((s) => {
    const item = document.createElement("li");
    item.textContent = s.description;
    return item;
  }));
  const answer = async (decision) => {
    try {
      const { redirect_to } = await api.call("POST", "/oauth/authorize", { ...params, decision });
      location.assign(redirect_to);
    } catch (error) {
      fail(error);
    }
  };
  $("#consent-allow").onclick = () => answer("allow");
  $("#consent-deny").onclick = () => answer("deny");
  $("#consent-title").focus();
}
