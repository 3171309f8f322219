#!/usr/bin/env node
// mcrm's test SMSC: an SMPP 3.4 server on the npm package `smpp` (node-smpp), so the gateway's
// smpplib codec is checked against an independent implementation. node-smpp does the framing and
// the PDU codec; this file is test policy only: auth, message ids, receipts, MO injection, fault
// knobs and a record of what arrived. Loopback only. Control it over HTTP (see README.md).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const smpp = require('smpp');

// ------------------------------------------------------------------ settings
const settings = {
  host: '127.0.0.1', port: 0, control_port: 0, system_id: 'mcrm', password: 'secret',
  records: true,               // false: keep no records, only /stats (the benchmark: cheaper per PDU)
  records_file: '',            // also append records as JSONL to this file ('' = memory only)
  max_records: 100000,         // oldest dropped past this (GET /records reports `dropped`)
  dlr: 'requested',            // requested (registered_delivery & 1) | always | never
  dlr_delay_ms: 0, dlr_stat: 'DELIVRD', dlr_err: '000',
  dlr_stat_by_part: {},        // {"2": "UNDELIV"}: stat for a given part number of a long message
  throttle: 0,                 // > N submit_sm within one wall-clock second (all sessions) -> 0x58
  fail_rate: 0, fail_status: 0x08,   // random share of submit_sm answered with fail_status
  fail_next: 0,                // the next N submit_sm answered with fail_status (deterministic)
  drop_after: 0,               // destroy a connection on its N-th PDU (bind counts), then reset to 0
  drop_repeat: false,          // keep drop_after armed for every later connection
  resp_delay_ms: 0,            // delay every submit_sm_resp
  silent: false,               // never answer submit_sm (response-timeout tests)
  mo_retry_ms: 300, mo_retries: 20,   // re-send an MO part the ESME answered with an error
  lose_mo_resp: 0,             // the next N MO deliver_sm_resp are "lost": the link is cut as it
                               // arrives and the MO is delivered again after the ESME rebinds
  verbose: false,
};
const NUMERIC = new Set(['port', 'control_port', 'max_records', 'dlr_delay_ms', 'throttle', 'fail_rate',
  'fail_status', 'fail_next', 'drop_after', 'resp_delay_ms', 'mo_retry_ms', 'mo_retries', 'lose_mo_resp']);
const BOOLEAN = new Set(['records', 'drop_repeat', 'silent', 'verbose']);

function setOption(name, value) {
  const key = name.replace(/-/g, '_');
  if (!(key in settings)) throw new Error('unknown setting: ' + name);
  if (NUMERIC.has(key)) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(key + ' must be a number');
    settings[key] = n;
  } else if (BOOLEAN.has(key)) {
    settings[key] = value === true || value === 'true' || value === '1';
  } else if (key === 'dlr_stat_by_part') {
    settings[key] = typeof value === 'string' ? JSON.parse(value) : (value || {});
  } else {
    settings[key] = String(value);
  }
  if (key === 'dlr' && !['requested', 'always', 'never'].includes(settings.dlr)) throw new Error('bad dlr');
}

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const m = /^--([\w-]+)(?:=(.*))?$/.exec(args[i]);
  if (!m) { console.error('usage: smsc_peer.js [--name value]...'); process.exit(2); }
  const value = m[2] !== undefined ? m[2] : (BOOLEAN.has(m[1].replace(/-/g, '_')) ? 'true' : args[++i]);
  try { setOption(m[1], value); } catch (e) { console.error(e.message); process.exit(2); }
}
// never listen beyond this machine
if (!/^127\.|^::1$|^localhost$/.test(settings.host)) { console.error('loopback hosts only'); process.exit(2); }

const startup = JSON.parse(JSON.stringify(settings));   // POST /reset goes back to these
const debug = (...a) => settings.verbose && console.error('[smsc]', ...a);

// ------------------------------------------------------------------ records
let records = [];
let recordSeq = 0, dropped = 0;
let recordsFd = settings.records_file ? fs.openSync(settings.records_file, 'a') : null;
function record(type, data) {
  if (!settings.records) return null;
  const rec = { n: ++recordSeq, ts: Date.now(), type, ...data };
  records.push(rec);
  if (records.length > settings.max_records) { records.shift(); dropped++; }
  if (recordsFd !== null) fs.writeSync(recordsFd, JSON.stringify(rec) + '\n');
  return rec;
}
const stats = { submit_sm: 0, accepted: 0, rejected: 0, dlr_sent: 0, dlr_acked: 0, mo_sent: 0, mo_acked: 0,
  mo_nacked: 0, mo_resp_lost: 0, binds: 0, bind_refused: 0, drops: 0, unbinds: 0 };

// ------------------------------------------------------------------ state
const idBase = (process.pid % 0xffff).toString(16).padStart(4, '0');
let nextId = 1, nextSession = 1;
const bound = new Set();
const waiting = [];            // deliver_sm with no receiver bound: sent on the next bind
const partsSeen = new Map();   // logical message assembly: key -> {total, parts: Map(n -> {text, id})}
let second = 0, inSecond = 0;

const receives = (s) => s.bindType === 'bind_transceiver' || s.bindType === 'bind_receiver';
const hex = (b) => (Buffer.isBuffer(b) ? b.toString('hex') : null);
const two = (n) => String(n).padStart(2, '0');
const smscTime = (d) => two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
  two(d.getUTCHours()) + two(d.getUTCMinutes());

function concatOf(pdu) {
  const sm = pdu.short_message || {};
  for (const ie of sm.udh || []) {
    if (ie[0] === 0x00 && ie[1] === 3) return { ref: ie[2], total: ie[3], n: ie[4], bits: 8 };
    if (ie[0] === 0x08 && ie[1] === 4) return { ref: ie.readUInt16BE(2), total: ie[4], n: ie[5], bits: 16 };
  }
  if (pdu.sar_msg_ref_num !== undefined) {
    return { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, n: pdu.sar_segment_seqnum, bits: 16 };
  }
  return null;
}

// PDUs written in one turn of the event loop leave in one writev, not a syscall each
function cork(session) {
  if (session.corked || !session.socket) return;
  session.corked = true;
  session.socket.cork();
  process.nextTick(() => uncork(session));
}
function uncork(session) {
  if (!session.corked) return;
  session.corked = false;
  session.socket.uncork();
}

// receipts due at once are sent together, after the submit_sm_resp of the same read
const dueReceipts = [];
function receiptSoon(go) {
  if (dueReceipts.push(go) === 1) setImmediate(() => { for (const f of dueReceipts.splice(0)) f(); });
}

// send one deliver_sm to a receiver of that system_id (the origin session first); retried on error
let generation = 0;             // bumped by POST /reset: deliveries of an earlier test are dropped
function deliver(fields, kind, origin, attempt = 0, gen = generation) {
  return new Promise((resolve) => {
    if (gen !== generation) { resolve({ cancelled: true }); return; }
    const target = (origin && bound.has(origin) && receives(origin)) ? origin
      : [...bound].find((s) => receives(s) && s.systemId === settings.system_id);
    if (!target) { waiting.push({ fields, kind }); resolve({ queued: true }); return; }
    stats[kind === 'dlr' ? 'dlr_sent' : 'mo_sent']++;
    let settled = false;
    const retry = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      target.unanswered.delete(onLost);
      if (attempt + 1 >= settings.mo_retries) { resolve({ ...result, gave_up: true }); return; }
      setTimeout(() => deliver(fields, kind, null, attempt + 1, gen).then(resolve), settings.mo_retry_ms);
    };
    const timer = setTimeout(() => retry({ status: null, timeout: true }), 10000);
    const onLost = () => retry({ status: null, closed: true });   // session gone before it answered
    target.unanswered.add(onLost);
    cork(target);
    const sent = target.deliver_sm({ ...fields }, (resp) => {
      if (settled) return;
      if (kind === 'mo' && settings.lose_mo_resp > 0) {
        // as if the resp never crossed the network: this SMSC saw no answer, so it delivers again
        settings.lose_mo_resp--;
        stats.mo_resp_lost++;
        record('mo_resp_lost', { session: target.id, source_addr: fields.source_addr });
        bound.delete(target);
        target.destroy();            // the close calls onLost, which schedules the redelivery
        return;
      }
      settled = true;
      clearTimeout(timer);
      target.unanswered.delete(onLost);
      if (settings.records) {
        record('deliver_sm', { kind, session: target.id, source_addr: fields.source_addr,
          destination_addr: fields.destination_addr, esm_class: fields.esm_class, data_coding: fields.data_coding,
          receipted_message_id: fields.receipted_message_id || null, status: resp.command_status, attempt });
      }
      if (resp.command_status === 0) {
        stats[kind === 'dlr' ? 'dlr_acked' : 'mo_acked']++;
        resolve({ session: target.id, status: 0, attempts: attempt + 1 });
      } else {
        stats.mo_nacked++;
        settled = false;
        retry({ session: target.id, status: resp.command_status });
      }
    });
    if (!sent) retry({ status: null, closed: true });
  });
}

function flushWaiting(session) {
  const todo = waiting.splice(0, waiting.length);
  for (const w of todo) deliver(w.fields, w.kind, session);
}

function sendReceipt(origin, sub, messageId, stat, err, submitted) {
  const final = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8, ENROUTE: 1 };
  const text = `id:${messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:${smscTime(submitted)}` +
    ` done date:${smscTime(new Date())} stat:${stat} err:${err} text:`;
  return deliver({
    source_addr_ton: sub.dest_addr_ton, source_addr_npi: sub.dest_addr_npi, source_addr: sub.destination_addr,
    dest_addr_ton: sub.source_addr_ton, dest_addr_npi: sub.source_addr_npi, destination_addr: sub.source_addr,
    esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: messageId, message_state: final[stat] || 7,
  }, 'dlr', origin);
}

// a 'message' record once every part of a (concatenated) message has arrived
function recordMessage(pdu, part, text, messageId) {
  let done = null;
  if (!part) done = { parts: [{ text, id: messageId }] };
  else {
    const key = [pdu.source_addr, pdu.destination_addr, part.bits, part.ref, part.total].join('|');
    const entry = partsSeen.get(key) || { parts: new Map() };
    entry.parts.set(part.n, { text, id: messageId });
    partsSeen.set(key, entry);
    if (entry.parts.size === part.total) {
      partsSeen.delete(key);
      done = { parts: [...entry.parts.keys()].sort((a, b) => a - b).map((n) => entry.parts.get(n)) };
    }
  }
  if (done) {
    record('message', { source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
      data_coding: pdu.data_coding, parts: done.parts.length, message_ids: done.parts.map((p) => p.id),
      text: done.parts.every((p) => p.text !== null) ? done.parts.map((p) => p.text).join('') : null });
  }
}

// ------------------------------------------------------------------ submit_sm
function onSubmit(session, pdu) {
  stats.submit_sm++;
  const sm = pdu.short_message || {};
  const part = concatOf(pdu);
  const now = Math.floor(Date.now() / 1000);
  if (now !== second) { second = now; inSecond = 0; }
  inSecond++;
  let status = 0;
  if (settings.throttle > 0 && inSecond > settings.throttle) status = 0x58;
  else if (settings.fail_next > 0) { settings.fail_next--; status = settings.fail_status; }
  else if (settings.fail_rate > 0 && Math.random() < settings.fail_rate) status = settings.fail_status;
  const messageId = status ? null : idBase + (nextId++).toString(16).padStart(8, '0');
  const text = typeof sm.message === 'string' ? sm.message : null;
  if (settings.records) {
    // octets of short_message as sent (node-smpp decodes it and drops sm_length): UDH + body
    const udh = sm.udh && sm.udh.length ? Buffer.concat(sm.udh) : null;
    const enc = pdu.data_coding === 8 ? 'UCS2' : pdu.data_coding === 3 ? 'LATIN1' : 'ASCII';
    const bodyOctets = text === null ? (Buffer.isBuffer(sm.message) ? sm.message.length : 0)
      : smpp.encodings[enc].encode(text).length;
    const smOctets = (udh ? udh.length + 1 : 0) + bodyOctets;
    record('submit_sm', { session: session.id, seq: pdu.sequence_number, source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
      destination_addr: pdu.destination_addr, dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi,
      esm_class: pdu.esm_class, data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery,
      sm_length: smOctets, udh: hex(udh), concat: part, text,
      message_hex: Buffer.isBuffer(sm.message) ? hex(sm.message) : null, status, message_id: messageId });
  }
  if (status) stats.rejected++; else stats.accepted++;

  if (!settings.silent) {
    const answer = () => session.send(pdu.response(status ? { command_status: status } : { message_id: messageId }));
    if (settings.resp_delay_ms > 0) setTimeout(answer, settings.resp_delay_ms); else answer();
  }
  if (status) return;

  if (settings.records) recordMessage(pdu, part, text, messageId);
  const wanted = settings.dlr === 'always' || (settings.dlr === 'requested' && (pdu.registered_delivery & 0x01));
  if (wanted) {
    const stat = (part && settings.dlr_stat_by_part[String(part.n)]) || settings.dlr_stat;
    const submitted = new Date();
    const gen = generation;
    const go = () => gen === generation && sendReceipt(session, pdu, messageId, stat, settings.dlr_err, submitted);
    if (settings.dlr_delay_ms > 0) setTimeout(go, settings.dlr_delay_ms); else receiptSoon(go);
  }
}

// ------------------------------------------------------------------ SMPP server
const server = smpp.createServer((session) => {
  session.id = nextSession++;
  session.unanswered = new Set();    // deliver_sm sent on this session and not answered yet
  const lost = () => { bound.delete(session); for (const f of [...session.unanswered]) f(); };
  let count = 0;
  debug('connect', session.id);
  session.on('pdu', (pdu) => {
    cork(session);
    count++;
    if (settings.drop_after > 0 && count >= settings.drop_after) {
      debug('drop_after: destroying', session.id);
      stats.drops++;
      record('drop', { session: session.id, after: count });
      if (!settings.drop_repeat) settings.drop_after = 0;
      bound.delete(session);
      session.pause();
      uncork(session);             // what was answered before the drop still goes out
      session.destroy();
      return;
    }
    if (pdu.isResponse()) return;
    if (pdu.command.startsWith('bind_')) {
      let status = 0;
      if (session.bindType) status = 0x05;
      else if (pdu.system_id !== settings.system_id) status = 0x0f;
      else if (pdu.password !== settings.password) status = 0x0e;
      record('bind', { session: session.id, command: pdu.command, system_id: pdu.system_id, status });
      if (status) {
        stats.bind_refused++;
        session.send(pdu.response({ command_status: status }));
        if (status !== 0x05) session.close();
        return;
      }
      stats.binds++;
      session.bindType = pdu.command;
      session.systemId = pdu.system_id;
      bound.add(session);
      session.send(pdu.response({ system_id: 'MCRMPEER' }));
      if (receives(session)) flushWaiting(session);
      return;
    }
    switch (pdu.command) {
      case 'enquire_link':
        session.send(pdu.response());
        return;
      case 'unbind':
        record('unbind', { session: session.id, by: 'esme' });
        bound.delete(session);
        session.send(pdu.response());
        session.close();
        return;
      case 'submit_sm':
        if (!session.bindType || session.bindType === 'bind_receiver') {
          session.send(pdu.response({ command_status: 0x04 }));
          return;
        }
        onSubmit(session, pdu);
        return;
      default:
        session.send(pdu.response({ command_status: 0x03 }));
    }
  });
  session.on('close', () => { lost(); debug('close', session.id); });
  session.on('error', (e) => { lost(); debug('error', session.id, e.message); });
});

// ------------------------------------------------------------------ MO injection
function moParts(text, dc, concat) {
  // returns [{short_message, esm_class, tlvs}] split like a handset would
  const ucs2 = dc === 8;
  const units = ucs2 ? text.length : [...text].reduce((n, c) => n + ('\f^{}\\[~]|€'.includes(c) ? 2 : 1), 0);
  if (units <= (ucs2 ? 70 : 160)) return [{ short_message: { message: text }, esm_class: 0 }];
  const per = concat === 'sar' ? (ucs2 ? 70 : 160) : (ucs2 ? 67 : 153) - (concat === 'udh16' ? 1 : 0);
  const chunks = [];
  let cur = '', used = 0;
  for (const ch of ucs2 ? text.split('') : [...text]) {
    const cost = ucs2 ? 1 : ('\f^{}\\[~]|€'.includes(ch) ? 2 : 1);
    const high = ucs2 && /[\ud800-\udbff]/.test(ch);
    if (used + cost + (high ? 1 : 0) > per) { chunks.push(cur); cur = ''; used = 0; }
    cur += ch; used += cost;
  }
  chunks.push(cur);
  const ref = Math.floor(Math.random() * (concat === 'udh16' ? 65536 : 256));
  return chunks.map((c, i) => {
    if (concat === 'sar') {
      return { short_message: { message: c }, esm_class: 0,
        tlvs: { sar_msg_ref_num: ref, sar_total_segments: chunks.length, sar_segment_seqnum: i + 1 } };
    }
    const udh = concat === 'udh16'
      ? Buffer.from([6, 8, 4, ref >> 8, ref & 0xff, chunks.length, i + 1])
      : Buffer.from([5, 0, 3, ref, chunks.length, i + 1]);
    return { short_message: { udh, message: c }, esm_class: 0x40 };
  });
}

async function injectMo(body) {
  const text = String(body.text || '');
  const dc = body.data_coding !== undefined ? Number(body.data_coding)
    : (smpp.encodings.ASCII.match(text) ? 0 : 8);
  const parts = body.hex ? [{ short_message: Buffer.from(body.hex, 'hex'), esm_class: Number(body.esm_class || 0) }]
    : moParts(text, dc, body.concat || 'udh8');
  const order = body.order === 'reverse' ? parts.slice().reverse() : parts;
  const results = [];
  for (const p of order) {
    results.push(await deliver({
      source_addr: String(body.from || ''), destination_addr: String(body.to || ''),
      source_addr_ton: body.source_addr_ton ?? 1, source_addr_npi: body.source_addr_npi ?? 1,
      dest_addr_ton: body.dest_addr_ton ?? 0, dest_addr_npi: body.dest_addr_npi ?? 0,
      esm_class: p.esm_class, data_coding: dc, short_message: p.short_message, ...(p.tlvs || {}),
    }, 'mo'));
  }
  return { parts: parts.length, results };
}

// ------------------------------------------------------------------ HTTP control
const routes = {
  'GET /health': () => ({ ok: true, sessions: [...bound].map((s) => ({ id: s.id, bind: s.bindType })),
    waiting: waiting.length, settings }),
  'GET /stats': () => stats,
  'GET /records': (_b, q) => {
    const since = Number(q.get('since') || 0);
    const type = q.get('type');
    return { dropped, last: recordSeq,
      records: records.filter((r) => r.n > since && (!type || r.type === type)) };
  },
  'POST /config': (b) => { for (const k of Object.keys(b)) setOption(k, b[k]); return settings; },
  'POST /reset': () => {           // forget records, counters and queued deliveries; startup settings
    records = []; partsSeen.clear(); waiting.length = 0; generation++;
    for (const k of Object.keys(stats)) stats[k] = 0;
    Object.assign(settings, JSON.parse(JSON.stringify(startup)));
    if (recordsFd !== null) { fs.closeSync(recordsFd); recordsFd = fs.openSync(settings.records_file, 'w'); }
    return { ok: true };
  },
  'POST /mo': (b) => injectMo(b),
  'POST /dlr': (b) => sendReceipt(null, { source_addr: b.source_addr || '', destination_addr: b.destination_addr || '',
    source_addr_ton: 0, source_addr_npi: 0, dest_addr_ton: 1, dest_addr_npi: 1 },
  String(b.message_id), b.stat || 'DELIVRD', b.err || '000', new Date()),
  'POST /drop': () => {
    const n = server.sessions.length;
    stats.drops += n;
    record('drop', { sessions: n });
    for (const s of [...server.sessions]) { bound.delete(s); uncork(s); s.destroy(); }
    return { dropped: n };
  },
  'POST /unbind': () => {          // SMSC-initiated unbind of every bound session
    const list = [...bound];
    stats.unbinds += list.length;
    for (const s of list) {
      record('unbind', { session: s.id, by: 'smsc' });
      s.unbind((resp) => { record('unbind_resp', { session: s.id, status: resp.command_status }); bound.delete(s); s.close(); });
    }
    return { unbinding: list.length };
  },
};

const control = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const route = routes[req.method + ' ' + url.pathname];
    let code = 200, out;
    try {
      if (!route) { code = 404; out = { error: 'no route ' + req.method + ' ' + url.pathname }; }
      else out = await route(body ? JSON.parse(body) : {}, url.searchParams);
    } catch (e) { code = 400; out = { error: e.message }; }
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
});

server.on('error', (e) => { console.error('smpp listen failed:', e.message); process.exit(1); });
control.on('error', (e) => { console.error('control listen failed:', e.message); process.exit(1); });
server.listen(settings.port, settings.host, () => {
  control.listen(settings.control_port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ event: 'ready', host: settings.host, smpp_port: server.address().port,
      control_port: control.address().port, pid: process.pid }) + '\n');
  });
});

function shutdown() {
  control.close();
  server.close();
  for (const s of [...server.sessions]) s.destroy();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);   // parent gone (its pipe closed): do not linger
process.stdin.resume();
