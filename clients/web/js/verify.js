// Email verification: the account view says whether the address is confirmed and
// can send a confirmation link; the link (`/app/#verify=<token>`) confirms it in
// whatever state the page is, signed in or not, and leaves the address bar.

import { $, announce, button, element } from "./dom.js";

export class EmailVerification {
  constructor(api) {
    this.api = api;
    const opened = () => {
      const token = new URLSearchParams(location.hash.slice(1)).get("verify");
      if (!token) return;
      history.replaceState(null, "", location.pathname);
      this.api.call("POST", "/auth/verify-email", { token }, { auth: false })
        .then(() => this.told("Your email address is confirmed. Thank you."))
        .catch((e) => this.told(e.message));
    };
    window.addEventListener("hashchange", opened);
    opened();
  }

  told(text) {
    announce(text);
    $("#signin-reason").textContent = this.api.session ? "" : text;
    if (this.api.session && !$("#account").hidden) this.show();
  }

  async show() {
    const box = $("#email-state");
    const { verified } = await this.api.call("GET", "/me/email-verification");
    if (verified) return box.replaceChildren(element("p", { className: "hint", textContent: "Your email address is confirmed." }));
    box.replaceChildren(
      element("p", { className: "notice", textContent: "Your email address is not confirmed yet." }),
      button("Email me a confirmation link", async () => {
        await this.api.call("POST", "/me/email-verification");
        box.querySelector(".notice").textContent = "We sent a confirmation link to your address. It works once, for a week.";
        announce("Confirmation link sent.");
      }));
  }
}
