// The npm side of the Web Push interop tests: npm `web-push` (which encrypts
// with npm `http_ece` and signs VAPID with npm `jws`) as the application
// server, and `http_ece` + `jws` as a receiver of what ugate sends.
// Run with NODE_PATH pointing at the node_modules the test installed.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const webPush = require('web-push');
const ece = require('http_ece');
const jws = require('jws');

const b64 = (buf) => Buffer.from(buf).toString('base64url');
const readJson = (path) => JSON.parse(fs.readFileSync(path, 'utf8'));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function publicKeyPem(raw) {
  const point = Buffer.from(raw, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', x: b64(point.subarray(1, 33)), y: b64(point.subarray(33, 65)) };
  return crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
}

// Checks `Authorization: vapid t=..., k=...` with jws, as a push service would.
function checkVapid(header, audience) {
  const m = /^vapid\s+t=([^,\s]+),\s*k=([^,\s]+)$/i.exec(header || '');
  if (!m) return { valid: false, why: 'not a vapid header' };
  const [, token, k] = m;
  const valid = jws.verify(token, 'ES256', publicKeyPem(k));
  const payload = jws.decode(token).payload;  // parsed already when typ is JWT
  const claims = typeof payload === 'string' ? JSON.parse(payload) : payload;
  const now = Math.floor(Date.now() / 1000);
  return { valid: valid && claims.aud === audience && claims.exp > now && claims.exp <= now + 86400, claims, k };
}

const commands = {
  // A subscriber's keys made by node: {p256dh, auth, private}.
  keys() {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    out({ p256dh: b64(ecdh.getPublicKey()), auth: b64(crypto.randomBytes(16)), private: b64(ecdh.getPrivateKey()) });
  },
  // web-push's sendNotification with VAPID to the subscription in SUB.
  async send(subFile, vapidFile, text, ttl, topic) {
    const vapid = readJson(vapidFile);
    const options = {
      TTL: Number(ttl),
      vapidDetails: { subject: 'mailto:interop@example.com', publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    };
    if (topic) options.topic = topic;
    try {
      const r = await webPush.sendNotification(readJson(subFile), text, options);
      out({ statusCode: r.statusCode, location: r.headers.location, ttl: r.headers.ttl });
    } catch (e) {
      out({ statusCode: e.statusCode || 0, body: e.body || String(e) });
      process.exitCode = 1;
    }
  },
  // The aes128gcm body web-push's encrypt() makes for SUB, base64url.
  encrypt(subFile, text) {
    const sub = readJson(subFile);
    const r = webPush.encrypt(sub.keys.p256dh, sub.keys.auth, text, 'aes128gcm');
    out({ body: b64(r.cipherText) });
  },
  // The Authorization header web-push makes for AUDIENCE.
  vapid(audience, vapidFile, expiresIn) {
    const v = readJson(vapidFile);
    const exp = expiresIn ? Math.floor(Date.now() / 1000) + Number(expiresIn) : undefined;
    const h = webPush.getVapidHeaders(audience, 'mailto:interop@example.com', v.publicKey, v.privateKey, 'aes128gcm', exp);
    out({ authorization: h.Authorization });
  },
  // An HTTPS push endpoint for one request on PORT (0: the kernel's pick, printed with `listening`):
  // checks VAPID with jws, decrypts with http_ece.
  capture(port, cert, key, keysFile) {
    const keys = readJson(keysFile);
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(keys.private, 'base64url'));
    const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const result = {
          ttl: req.headers.ttl, topic: req.headers.topic, urgency: req.headers.urgency,
          encoding: req.headers['content-encoding'],
          vapid: checkVapid(req.headers.authorization, `https://localhost:${server.address().port}`),
        };
        try {
          const plain = ece.decrypt(Buffer.concat(chunks), { version: 'aes128gcm', privateKey: ecdh, authSecret: keys.auth });
          result.text = plain.toString('utf8');
        } catch (e) {
          result.error = String(e);
        }
        res.writeHead(201, { Location: `https://localhost:${server.address().port}/m/captured` });
        res.end();
        out(result);
        server.close();
      });
    });
    server.listen(Number(port), '127.0.0.1', () => out({ listening: true, port: server.address().port }));
  },
  // http_ece decrypts BODY (base64url) with the node-made keys in KEYS.
  decrypt(keysFile, body) {
    const keys = readJson(keysFile);
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(keys.private, 'base64url'));
    const plain = ece.decrypt(Buffer.from(body, 'base64url'), { version: 'aes128gcm', privateKey: ecdh, authSecret: keys.auth });
    out({ text: plain.toString('utf8') });
  },
};

const [cmd, ...args] = process.argv.slice(2);
if (!commands[cmd]) {
  process.stderr.write(`usage: webpush_peer.js ${Object.keys(commands).join('|')} ...\n`);
  process.exit(2);
}
Promise.resolve(commands[cmd](...args)).catch((e) => {
  process.stderr.write(String(e.stack || e) + '\n');
  process.exit(1);
});
