// Forgot password: ask for the reset email, and the page the emailed link opens
// (`/app/#reset=<token>`): choose a new password, which signs out every session,
// then sign in with it. The token is taken out of the address bar at once so it
// is not left in the history.

import { $, announce, onSubmit } from "./dom.js";

export function installReset(api) {
  onSubmit($("#forgot-form"), async (data) => {
    const answer = await api.call("POST", "/auth/password-reset", { email: data.get("email") }, { auth: false });
    $("#forgot-form [data-done]").textContent = `${answer.message} The link works once, for an hour.`;
  });

  let token = null;
  onSubmit($("#reset-form"), async (data) => {
    await api.call("POST", "/auth/password-reset/confirm", { token, password: data.get("password") }, { auth: false });
    api.forget("Your password was changed. Sign in with the new one.");
    $("#reset").hidden = true;
    $("#signin-form").hidden = false;
    $("#signin-reason").textContent = "Password changed. Sign in with your new password.";
    announce("Password changed.");
    $("#signin-email").focus();
  });
  // The link opened in a tab already on the app changes only the hash.
  const opened = () => {
    token = new URLSearchParams(location.hash.slice(1)).get("reset");
    if (!token) return false;
    history.replaceState(null, "", location.pathname);
    if (api.session) api.forget("Your password is being changed.");
    if (api.ended) api.ended("");
    $("#reset").hidden = false;
    $("#signin-form").hidden = true;
    $("#reset-title").focus();
    return true;
  };
  window.addEventListener("hashchange", opened);
  return opened();
}
