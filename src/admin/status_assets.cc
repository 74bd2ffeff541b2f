#include "admin/status_assets.h"

namespace ugate {

// Readable on a phone: one column, tables scroll sideways inside their box.
const std::string_view kStatusCss = R"css(
:root { color-scheme: light dark; --muted: #777; --line: #8884; --ok: #1a7f37; --bad: #cf222e; }
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 0 .8em 2em; max-width: 72em; }
h1 { font-size: 1.4em; margin: .6em 0 .2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1em; margin: .8em 0 .3em; }
small, footer, .facts { color: var(--muted); }
.facts span { margin-right: 1em; white-space: nowrap; }
.state { font-size: .7em; padding: .1em .5em; border-radius: 1em; vertical-align: middle; color: #fff; }
.state.ready { background: var(--ok); }
.state.starting, .state.draining { background: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0; }
dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: .9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { text-align: left; padding: .25em .6em .25em 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
form#filter { position: sticky; top: 0; padding: .5em 0; background: Canvas; display: flex; gap: .5em; }
form#filter input { flex: 1; min-width: 0; font: inherit; padding: .3em .5em; }
footer { margin-top: 2em; display: flex; flex-wrap: wrap; gap: 1em; }
footer a { margin-right: .6em; }
)css";

// Refreshes <main> from the server every second, keeps the filter in the
// address bar, and says in the footer whether the page is live.
const std::string_view kStatusJs = R"js('use strict';
(() => {
  const form = document.getElementById('filter');
  const input = form.elements.filter;
  const live = document.getElementById('live');
  let busy = false;
  let typing = 0;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const query = new URLSearchParams({ filter: input.value, part: 'main' });
      const reply = await fetch('/?' + query, { cache: 'no-store' });
      if (!reply.ok) throw new Error('HTTP ' + reply.status);
      document.getElementById('status').outerHTML = await reply.text();
      live.textContent = 'Live: updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      live.textContent = 'Not updating: ' + e.message + ' (is ugate running?)';
    } finally {
      busy = false;
    }
  }

  function applyFilter() {
    const url = input.value ? '/?filter=' + encodeURIComponent(input.value) : '/';
    history.replaceState(null, '', url);
    refresh();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    applyFilter();
  });
  input.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(applyFilter, 200);
  });
  live.textContent = 'Live: updates every second';
  setInterval(refresh, 1000);
})();
)js";

}  // namespace ugate
