// The login page: keep the key for this tab, check it against the portal, go back.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const reasons = {
    expired: "Your key was not accepted (unknown or removed): log in again.",
  };
  // Only a page of this portal may be the way back (no open redirect).
  const next = params.get("next") || "";
  const back = next.startsWith(portal.portalRoot) && !next.startsWith("//") ? next : portal.portalRoot;
  const reason = document.getElementById("login-reason");
  if (reasons[params.get("reason")]) {
    reason.textContent = reasons[params.get("reason")];
    reason.hidden = false;
  }
  const error = document.getElementById("login-error");
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const candidate = document.getElementById("api-key").value.trim();
    if (!candidate) return;
    portal.setKey(candidate);
    try {
      await portal.api("/portal/session", { quiet: true });
      location.assign(back);
    } catch (failure) {
      sessionStorage.clear();
      error.textContent = failure.status === 401 ? "Unknown API key."
        : failure.status === 403 ? "This key has no role for this portal (" + portal.describe(failure.status, failure.code, failure.detail) + ")."
          : failure.message;
      error.hidden = false;
    }
  });
})();
