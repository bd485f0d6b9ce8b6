// Connected apps (account view): the apps this person allowed to use their account, in plain words, and
// removing one, which stops its access at once (server/api/apps.py).

import { $, announce, button, element } from "./dom.js";

export async function loadConnectedApps(api) {
  const { items } = await api.call("GET", "/me/apps");
  const list = $("#connected-list");
  list.replaceChildren();
  if (!items.length) list.append(element("li", { textContent: "No connected apps." }));
  for (const app of items) {
    const scopes = element("ul", {}, ...app.scopes.map((s) => element("li", { textContent: s.description })));
    list.append(element("li", { className: "card" },
      element("h3", { textContent: app.name }),
      scopes,
      button("Remove access", async () => {
        await api.call("DELETE", `/me/apps/${app.app_id}`);
        announce(`${app.name} can no longer use your account.`);
        await loadConnectedApps(api);
      }, { ariaLabel: `Remove access for ${app.name}` }),
    ));
  }
}
