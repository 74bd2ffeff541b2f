// The npm side of the Web Push crypto benchmark: web-push's encrypt() (RFC 8291,
// aes128gcm, a fresh ECDH key per message, as sendNotification does) and
// http_ece's decrypt(), each for SECONDS on this one Node thread. Prints JSON.
'use strict';
const crypto = require('crypto');
const webPush = require('web-push');
const ece = require('http_ece');

const seconds = Number(process.argv[2] || 2);
const ua = crypto.createECDH('prime256v1');
ua.generateKeys();
const p256dh = ua.getPublicKey().toString('base64url');
const auth = crypto.randomBytes(16).toString('base64url');
const text = 'x'.repeat(100);  // the same 100-octet message as ugate-webpush-bench

function measure(op) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 16; i++) op();
    n += 16;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

const encrypt = measure(() => webPush.encrypt(p256dh, auth, text, 'aes128gcm'));
const body = webPush.encrypt(p256dh, auth, text, 'aes128gcm').cipherText;
const decrypt = measure(() => ece.decrypt(body, { version: 'aes128gcm', privateKey: ua, authSecret: auth }));
process.stdout.write(JSON.stringify({ encrypt_per_s: encrypt, decrypt_per_s: decrypt }) + '\n');
