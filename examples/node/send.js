#!/usr/bin/env node
// Send an OTP through Switchboard and verify a status callback's signature.
//
// Standard library only (Node 18+, for the global fetch). Run a gateway
// (make run), then:
//
//   node examples/node/send.js
//
// Environment: SWITCHBOARD_URL (default http://127.0.0.1:8080),
// SWITCHBOARD_API_KEY (default the example config's send key),
// SWITCHBOARD_CALLBACK_SECRET (the secret callbacks are signed with).
'use strict';
const crypto = require('node:crypto');
const http = require('node:http');

const BASE = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const API_KEY = process.env.SWITCHBOARD_API_KEY || 'dev-send-key-0123456789';
const SECRET = process.env.SWITCHBOARD_CALLBACK_SECRET || 'whsec-example-secret';
const TOLERANCE = 300; // seconds: reject older (replayed) callbacks

// sign returns the Switchboard-Signature header for body (a Buffer) at unix time t.
function sign(secret, body, t) {
  const mac = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${mac}`;
}

// verify checks header against the raw body: any v1= may match (a secret
// rotation sends several), compared in constant time, and t must be fresh.
function verify(secret, header, body, now = Date.now() / 1000) {
  let t = null;
  const sigs = [];
  for (const part of (header || '').split(',')) {
    const i = part.indexOf('=');
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't') {
      if (t !== null) return false;
      t = v;
    } else if (k === 'v1') {
      sigs.push(v);
    }
  }
  if (!t || !/^[0-9]+$/.test(t) || sigs.length === 0) return false;
  const want = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  const ok = sigs.some((s) => {
    const got = Buffer.from(s, 'hex');
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
  return ok && Math.abs(now - Number(t)) <= TOLERANCE;
}

// api calls Switchboard; it retries 429/503 (honouring Retry-After) and
// network errors. The Idempotency-Key makes those retries safe.
async function api(method, path, body, idempotencyKey, attempts = 4) {
  const headers = { Authorization: `Bearer ${API_KEY}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  for (let attempt = 0; ; attempt++) {
    let resp;
    try {
      resp = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      if (attempt + 1 >= attempts) throw err;
      await sleep(250 * 2 ** attempt);
      continue;
    }
    const data = await resp.json();
    if ((resp.status === 429 || resp.status === 503) && attempt + 1 < attempts) {
      await sleep(1000 * Number(resp.headers.get('Retry-After') || '1'));
      continue;
    }
    if (!resp.ok) {
      const e = data.error || {};
      throw new Error(`${resp.status} ${e.code}: ${e.message} (field ${e.field || '-'})`);
    }
    return data;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The business app's callback endpoint.
function startHooks() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks); // the raw bytes: verify before parsing
      if (req.method !== 'POST' || req.url !== '/hooks/switchboard' ||
          !verify(SECRET, req.headers['switchboard-signature'], body)) {
        res.writeHead(401).end();
        return;
      }
      const cb = JSON.parse(body);
      // Callbacks are at-least-once: handle them idempotently on (id, status, attempt).
      console.error(`callback: message ${cb.id} is ${cb.status} on ${cb.channel} (attempt ${cb.attempt})`);
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function postCallback(url, body, header) {
  const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Switchboard-Signature': header }, body });
  return resp.status;
}

async function main() {
  const server = await startHooks();
  const hookURL = `http://127.0.0.1:${server.address().port}/hooks/switchboard`;
  try {
    const code = String(crypto.randomInt(1000000)).padStart(6, '0');
    const sent = await api('POST', '/v1/messages', {
      to: { whatsapp: '+15551234567', phone: '+15551234567' },
      body: `Your code is ${code}`,
      tags: ['otp'],
      ttl: '10m',
      callback_url: hookURL,
    }, crypto.randomUUID());
    console.log(`accepted ${sent.id}: policy ${sent.policy}, route ${sent.route.join(' -> ')}`);
    const msg = await api('GET', `/v1/messages/${sent.id}`);
    console.log(`status ${msg.status}`);

    // A status callback, signed here the way the gateway signs it.
    const payload = Buffer.from(JSON.stringify({
      id: sent.id, status: 'delivered', channel: sent.route[0], attempt: 1,
      is_fallback: false, duplicate: false, timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    }));
    const header = sign(SECRET, payload, Math.floor(Date.now() / 1000));
    if (await postCallback(hookURL, payload, header) !== 204) throw new Error('the signed callback was refused');
    console.log('callback signature verified');
    const tampered = Buffer.from(payload.toString().replace('"delivered"', '"failed"'));
    if (await postCallback(hookURL, tampered, header) !== 401) throw new Error('a tampered callback was accepted');
    console.log('tampered callback rejected');
    // During a rotation (callback_secrets: [new, old]) the gateway signs with
    // each secret, one v1= each: a receiver holding either accepts.
    const t = Math.floor(Date.now() / 1000);
    const rotating = `${sign('whsec-the-new-one', payload, t)},${sign(SECRET, payload, t).split(',')[1]}`;
    if (await postCallback(hookURL, payload, rotating) !== 204) throw new Error('a callback signed during a rotation was refused');
    console.log('callback signed during a rotation verified');
  } finally {
    server.close();
  }
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
