// Two-factor sign-in in the account view: turn it on (the key to type into an
// authenticator app, or its otpauth link on a phone, then a first code; the
// recovery codes are shown once), or off with a code.

import { $, announce, button, element, field, input } from "./dom.js";

export class TwoFactor {
  constructor(api) {
    this.api = api;
  }

  async show() {
    const { enabled } = await this.api.call("GET", "/me/two-factor");
    $("#two-factor-state").textContent = enabled
      ? "On: signing in needs a code from your authenticator app."
      : "Off: add a code from an authenticator app to your password when you sign in.";
    $("#two-factor-body").replaceChildren(enabled
      ? this.codeForm("Turn off two-factor sign-in", "/me/two-factor/disable", async () => {
        announce("Two-factor sign-in is off.");
        await this.show();
        $("#two-factor-title").focus();
      })
      : button("Turn on two-factor sign-in", () => this.start()));
  }

  async start() {
    const { secret, otpauth_uri } = await this.api.call("POST", "/me/two-factor");
    $("#two-factor-body").replaceChildren(
      element("p", { textContent: "In your authenticator app, add an account with this key (or open the link on your phone):" }),
      element("p", { className: "key", id: "two-factor-key", textContent: secret.match(/.{1,4}/g).join(" ") }),
      element("p", {}, element("a", { href: otpauth_uri, textContent: "Open in an authenticator app" })),
      this.codeForm("Turn on", "/me/two-factor/confirm", async (answer) => {
        $("#two-factor-state").textContent = "On: signing in needs a code from your authenticator app.";
        $("#two-factor-body").replaceChildren(
          element("p", { className: "notice", textContent: "Keep these recovery codes somewhere safe. Each signs you in once if you lose your phone. They are not shown again." }),
          element("ul", { id: "recovery-codes", className: "plain key" }, ...answer.recovery_codes.map((c) => element("li", { textContent: c }))),
          button("Done", () => this.show().then(() => $("#two-factor-title").focus())));
        announce("Two-factor sign-in is on. Save your recovery codes.");
        $("#two-factor-title").focus();
      }));
    $("#two-factor-body input").focus();
  }

  codeForm(label, path, done) {
    const code = input("code", { inputMode: "numeric", autocomplete: "one-time-code", required: true, minLength: 6, maxLength: 20 });
    const error = element("p", { className: "error", role: "alert" });
    const form = element("form", {}, field("Code from your authenticator app", code), element("button", { type: "submit", textContent: label }), error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        await done(await this.api.call("POST", path, { code: code.value.trim() }));
      } catch (e) {
        error.textContent = e.message;
        code.focus();
      }
    });
    return form;
  }
}
