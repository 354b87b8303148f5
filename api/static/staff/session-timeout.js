// Progressive enhancement of the signed-in staff pages: five minutes before the session would end, show the
// banner (in the staff layout) that links to the "you'll be signed out soon" page, where one button keeps
// the session and comes back here. It only shows the banner: nothing typed on the page is lost.
const banner = document.querySelector("[data-session-warning-in]");
const seconds = banner ? Number(banner.dataset.sessionWarningIn) : NaN;
if (banner && Number.isFinite(seconds)) {
  setTimeout(() => {
    const link = banner.querySelector("a");
    if (link) {
      link.href = `/staff/session-timeout-warning?next=${encodeURIComponent(window.location.pathname)}`;
    }
    banner.hidden = false;
  }, Math.max(seconds, 0) * 1000);
}
