// Drives Debian's Chromium (through npm playwright-core) over ugate's status
// page for test_status.py. Prints one JSON line per step on stdout; reads a
// stream ID to wait for, then a filter to type, from stdin.
//   node status_page_browser.js URL SCREENSHOT.png
'use strict';
const { chromium } = require('playwright-core');
const readline = require('readline');

const [url, screenshot] = process.argv.slice(2);
const input = readline.createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const say = (step, data) => console.log(JSON.stringify({ step, ...data }));

// What the page shows, read from its markup (the data-field cells).
async function read(page) {
  return page.evaluate(() => {
    const text = (el) => (el ? el.textContent.trim() : null);
    const cells = (row) => Object.fromEntries([...row.querySelectorAll('[data-field]')]
      .map((c) => [c.dataset.field, c.textContent.trim()]));
    return {
      state: text(document.getElementById('state')),
      activeStreams: text(document.getElementById('active-streams')),
      nodeId: text(document.querySelector('#identity [data-field="node_id"]')),
      spiffeId: text(document.querySelector('#identity [data-field="spiffe_id"]')),
      listeners: Object.fromEntries([...document.querySelectorAll('tr[data-listener]')]
        .map((r) => [r.dataset.listener, cells(r)])),
      streams: [...document.querySelectorAll('tr[data-stream]')].map(cells),
      live: text(document.getElementById('live')),
      width: document.documentElement.scrollWidth,
    };
  });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const noScript = await browser.newContext({ javaScriptEnabled: false });
    const plain = await noScript.newPage();
    await plain.goto(url);
    say('no-javascript', await read(plain));
    await noScript.close();

    // A phone's screen.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('Live'));
    await page.screenshot({ path: screenshot, fullPage: true });
    say('loaded', { ...(await read(page)), errors });

    const id = (await lines.next()).value.trim();
    await page.waitForSelector(`tr[data-stream="${id}"]`, { timeout: 15000 });
    say('stream-appeared', { ...(await read(page)), url: page.url(), errors });

    const filter = (await lines.next()).value.trim();
    await page.fill('input[name="filter"]', filter);
    await page.waitForFunction((f) => {
      const rows = [...document.querySelectorAll('tr[data-stream]')];
      return rows.length > 0 && rows.every((r) => r.textContent.includes(f));
    }, filter, { timeout: 15000 });
    say('filtered', { ...(await read(page)), url: page.url(), errors });
  } finally {
    await browser.close();
    input.close();
  }
})().catch((e) => {
  say('error', { message: String(e && e.stack || e) });
  process.exit(1);
});
