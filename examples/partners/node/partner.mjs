// Reference LgNet partner client in Node.js, written from docs/partners.md alone (no LgNet code).
//
// It loads the onboarding bundle the city gave (LGNET_BUNDLE), fetches intake's public key (GET /inbound-key),
// seals each person's whole identity at once (registration v3, `identity.all`: a JSON object of its identifying
// fields) with HPKE (@hpke/core: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; info "lgnet:<kid>:all",
// empty aad), wraps each event in a structured-mode CloudEvent, signs the exact value
// (Ed25519, node:crypto) and produces a small registration sequence to the inbound topic with kafkajs over
// TLS + SASL/SCRAM-SHA-512 (keyed by the partner id, kafkajs's default compression), plus one event that must be
// refused, and books an appointment with the person it registered; then it reads its own rejection topic and its
// own reminders topic (the city's reminder of that appointment, the day before) and prints a JSON summary on stdout.
// Every answer read is verified first (docs/partners.md, "Answers are verified"): signed by a registered key of a
// deployment of its city (or the national one) whose service may write the topic and the answer's type; any other is
// refused, logged on stderr by topic, partition, offset and reason (never its content) and counted in the summary's
// `refused_answers`.
//
// Environment: LGNET_BUNDLE (path of the bundle JSON), LGNET_SIGNING_SEED (hex of the 32-byte Ed25519 private
// key whose public half the city registered), LGNET_RUN (a suffix that keeps ids unique between runs),
// LGNET_APPOINTMENT_AT (when the appointment starts, ISO 8601 with offset; default: tomorrow 10:00 UTC),
// LGNET_ANSWER_KEYS (optional: a pinned-keys file, as `lgnet-audit keys --out` writes it; without it the keys are
// read from the cluster's registries `lgnet.signing-keys.*`).

import crypto from "node:crypto";
import fs from "node:fs";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Kafka, logLevel } from "kafkajs";

const bundle = JSON.parse(fs.readFileSync(process.env.LGNET_BUNDLE, "utf8"));
const run = process.env.LGNET_RUN || crypto.randomUUID().slice(0, 8);
const partner = bundle.partner;
const b64url = (bytes) => Buffer.from(bytes).toString("base64url"); // no padding, as the docs require
const utf8 = (s) => new TextEncoder().encode(s);

// Ed25519 private key from its 32-byte seed: PKCS#8 is a fixed 16-byte prefix followed by the seed.
const seed = Buffer.from(process.env.LGNET_SIGNING_SEED, "hex");
const signingKey = crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
  format: "der",
  type: "pkcs8",
});
const sign = (value) => `ed25519;${bundle.signing.key_id};${b64url(crypto.sign(null, value, signingKey))}`;

// Intake's current key (it rotates: fetch it before a batch).
const intake = bundle.services.intake;
const answer = await fetch(bundle.inbound_key_url, { headers: { Authorization: `Bearer ${intake.token}` } });
if (!answer.ok) throw new Error(`GET /inbound-key: ${answer.status} ${await answer.text()}`);
const inboundKey = await answer.json();
const kid = `hpke:${inboundKey.key_id}`;
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
const recipientPublicKey = await suite.kem.importKey("raw", Buffer.from(inboundKey.public_key, "base64url"), true);

async function seal(field, plaintext) {
  const { ct, enc } = await suite.seal({ recipientPublicKey, info: utf8(`lgnet:${kid}:${field}`) }, utf8(plaintext));
  return { kid, n: "", ct: b64url(Buffer.concat([Buffer.from(enc), Buffer.from(ct)])) };
}

function record(type, version, data) {
  const event = {
    specversion: "1.0",
    id: crypto.randomUUID(),
    source: `/partners/${partner}`,
    type,
    dataschema: `urn:lgnet:schema:${type}:v${version}`,
    time: new Date().toISOString(),
    city: bundle.city,
    partner,
    partitionkey: partner,
    data,
  };
  const value = Buffer.from(JSON.stringify(event), "utf8"); // signed exactly as sent
  return {
    id: event.id,
    message: {
      key: partner,
      value,
      headers: { "content-type": "application/cloudevents+json; charset=utf-8", "lgnet-signature": sign(value) },
    },
  };
}

const today = new Date().toISOString().slice(0, 10);
const startsAt = process.env.LGNET_APPOINTMENT_AT
  ? new Date(process.env.LGNET_APPOINTMENT_AT)
  : new Date(`${new Date(Date.now() + 86400000).toISOString().slice(0, 10)}T10:00:00Z`);
const mother = `node-${run}-p1`;
const child = `node-${run}-p2`;
const household = `node-${run}-h1`;
const father = `node-${run}-p3`;
const baby = `node-${run}-p4`;
const babyBorn = new Date(Date.now() - 20 * 86400000).toISOString().slice(0, 10); // born three weeks ago
const changes = [
  { sent: "baby_joined", person_id: baby, change: "joined", reason: "birth" },
  { sent: "father_joined", person_id: father, change: "joined", reason: "reunification" },
  { sent: "reference_person", person_id: father, change: "reference_person", reason: "household_choice" },
  // Must be refused: the reference person (the father, now) leaving (conflict at data.person_id).
  { sent: "refused_leave", person_id: father, change: "left", reason: "moved" },
];
const sent = {
  mother: record("lgnet.partner.person_registration_submitted", 3, {
    person_id: mother,
    sex: "female",
    nationality: "NG",
    languages: ["en"],
    identity: {
      all: await seal(
        "all",
        JSON.stringify({
          given_name: "Amina",
          family_name: "Okafor",
          birth_date: "1991-04-02",
          fiscal_code: "KFRMNA91D42Z335D",
        }),
      ),
    },
  }),
  child: record("lgnet.partner.person_registration_submitted", 3, {
    person_id: child,
    sex: "male",
    nationality: "NG",
    identity: { all: await seal("all", JSON.stringify({ given_name: "Tobi", birth_date: "2019-06-15" })) },
  }),
  household: record("lgnet.partner.household_formation_submitted", 1, {
    household_id: household,
    reference_person_id: mother,
    member_ids: [mother, child],
  }),
  case: record("lgnet.partner.case_opening_submitted", 1, {
    case_id: `node-${run}-c1`,
    household_id: household,
    action_area: "housing_inclusion",
    channel: "desk",
    opened_on: today,
    housing_need: true,
  }),
  // The household changes (docs/partners.md, "Events you send"; `reason` from its list, "Codes and their lists"):
  // the father and a newborn are registered, the baby joins (`birth`), the father joins (`reunification`) and is
  // named reference person (`household_choice`); the mother stays a member.
  father: record("lgnet.partner.person_registration_submitted", 3, {
    person_id: father,
    sex: "male",
    nationality: "NG",
    languages: ["en"],
    identity: {
      all: await seal("all", JSON.stringify({ given_name: "Emeka", family_name: "Okafor", birth_date: "1987-11-20" })),
    },
  }),
  baby: record("lgnet.partner.person_registration_submitted", 3, {
    person_id: baby,
    sex: "female",
    nationality: "NG",
    identity: { all: await seal("all", JSON.stringify({ given_name: "Ada", birth_date: babyBorn })) },
  }),
  ...Object.fromEntries(
    changes.map(({ sent: name, person_id, change, reason }) => [
      name,
      change === "reference_person"
        ? record("lgnet.partner.household_reference_person_change_submitted", 1, {
            household_id: household,
            person_id,
            reason,
            on: today,
          })
        : record("lgnet.partner.household_member_change_submitted", 1, {
            household_id: household,
            person_id,
            change,
            reason,
            on: today,
          }),
    ]),
  ),
  appointment: record("lgnet.partner.appointment_booking_submitted", 1, {
    appointment_id: `node-${run}-a1`,
    agenda: "desk",
    // One operator per run: a second run the same day books no time that overlaps the first's.
    operator: `op-node-${run}`,
    person_id: mother,
    purpose: "plan_review",
    starts_at: startsAt.toISOString(),
    ends_at: new Date(startsAt.getTime() + 30 * 60000).toISOString(),
  }),
  // Must be refused: a household this partner never formed (not_found).
  refused: record("lgnet.partner.case_opening_submitted", 1, {
    case_id: `node-${run}-c2`,
    household_id: `node-${run}-never-formed`,
    action_area: "taking_charge",
    channel: "desk",
    opened_on: today,
  }),
};

const kafka = new Kafka({
  clientId: `${partner}-node`,
  brokers: bundle.kafka.bootstrap_servers.split(","),
  ssl: bundle.kafka.ca_pem ? { ca: [bundle.kafka.ca_pem] } : true,
  sasl: { mechanism: "scram-sha-512", username: bundle.kafka.username, password: bundle.kafka.password },
  logLevel: logLevel.WARN,
});
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 }); // keeps the order on retries
await producer.connect();
await producer.send({ topic: bundle.kafka.inbound_topic, messages: Object.values(sent).map((r) => r.message) });
await producer.disconnect();

// ---- Answers are verified (docs/partners.md, "Answers are verified"; header layout: docs/reporting.md) ----

// Which services may write each answer topic, and which types it carries (each type is its service's: the second
// part of its name, lgnet.<service>.<what>).
const ANSWER_TOPICS = {
  [bundle.kafka.rejections_topic]: { writers: ["intake"], types: ["lgnet.intake.inbound_rejected"] },
  [bundle.kafka.reminders_topic]: {
    writers: ["intake", "housing"],
    types: ["lgnet.intake.partner_appointment_reminder", "lgnet.housing.partner_match_reminder"],
  },
};
const sha256 = (...parts) => crypto.createHash("sha256").update(Buffer.concat(parts)).digest();
const BATCH_CONTEXT = Buffer.from("lgnet-fact-batch-v1\n", "utf8");
const cityOf = (deployment) => deployment.split("-")[0]; // torino, torino-north -> torino; national -> national

// A key record (registry value or pinned entry) if it is well formed: 32 raw bytes whose fingerprint is in its id
// (<deployment>.<service>.<first 8 bytes of SHA-256(public key), hex>) and, read from a registry topic, that
// topic's own deployment and service (`writer`) and the deployment's city; else null.
function keyOf(doc, writer) {
  if (!doc || typeof doc.public_key !== "string" || typeof doc.key_id !== "string") return null;
  const raw = Buffer.from(doc.public_key, "base64");
  const owner = `${doc.deployment}.${doc.service}`;
  if (raw.length !== 32 || doc.key_id !== `${owner}.${sha256(raw).subarray(0, 8).toString("hex")}`) return null;
  if (writer !== undefined && (writer !== owner || doc.city !== cityOf(doc.deployment))) return null;
  const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]); // SPKI of an Ed25519 key
  return { ...doc, verifier: crypto.createPublicKey({ key: der, format: "der", type: "spki" }) };
}

const keys = new Map(); // key id -> key
const pinnedFile = process.env.LGNET_ANSWER_KEYS;
let keysReadAt = 0;
if (pinnedFile) {
  for (const doc of JSON.parse(fs.readFileSync(pinnedFile, "utf8")).keys || []) {
    const key = keyOf(doc);
    if (!key) throw new Error(`LGNET_ANSWER_KEYS: ${doc && doc.key_id}: its id does not match its owner and key`);
    keys.set(key.key_id, key);
  }
}

// Every key registered in the cluster's registries (one topic per service deployment), read to their current end
// with this partner's own user and a consumer group of its own.
async function readRegistries() {
  const family = `${bundle.kafka.topic_prefix}lgnet.signing-keys.`;
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map(); // "topic:partition" -> the offset to read up to
  try {
    for (const topic of (await admin.listTopics()).filter((t) => t.startsWith(family))) {
      for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
        if (Number(high) > Number(low)) ends.set(`${topic}:${partition}`, Number(high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  keysReadAt = Date.now();
  if (ends.size === 0) {
    throw new Error(
      "no signing-key registry (lgnet.signing-keys.*) is readable with this user, so no answer can be verified: " +
        "ask the city's operator to run `lgnet-kafka-admin add-partner` again, or pin the keys (LGNET_ANSWER_KEYS)",
    );
  }
  const topics = [...new Set([...ends.keys()].map((tp) => tp.slice(0, tp.lastIndexOf(":"))))];
  await readTopics(topics, `keys-${crypto.randomUUID().slice(0, 8)}`, 20000, ({ topic, partition, message }) => {
    const key = keyOf(parseJson(message.value), topic.slice(family.length));
    if (key && !keys.has(key.key_id)) keys.set(key.key_id, key); // the first registration of an id stays
    if (Number(message.offset) + 1 >= ends.get(`${topic}:${partition}`)) ends.delete(`${topic}:${partition}`);
    return ends.size === 0;
  });
}

// A key not known yet: read the registries again (a deployment may have registered it since), at most every 10 s.
async function lookup(keyId) {
  if (!keys.has(keyId) && !pinnedFile && Date.now() - keysReadAt > 10000) await readRegistries();
  return keys.get(keyId);
}

function parseJson(bytes) {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return null;
  }
}

// The lgnet-signature header, version 2 (binary, first byte 0x02) or 1 (text); null when there is none or it names
// no key; `size` -1 when malformed, 0 for a plain signature of the value (version 1 `ed25519`).
function parseSignature(headers) {
  const name = Object.keys(headers || {}).find((h) => h === "lgnet-signature") ??
    Object.keys(headers || {}).find((h) => h.toLowerCase() === "lgnet-signature");
  let h = name === undefined ? undefined : headers[name];
  if (Array.isArray(h)) h = h[0];
  if (h === undefined || h === null) return null;
  h = Buffer.from(h);
  if (h[0] === 0x02) {
    if (h.length < 2 || h[1] === 0 || h.length < 2 + h[1]) return null;
    const end = 2 + h[1];
    if (h.subarray(2, end).some((b) => b > 0x7f)) return null; // a key id is ASCII
    const keyId = h.subarray(2, end).toString("latin1");
    const proofLength = h.length - end - 64 - 4;
    if (proofLength < 0 || proofLength % 32) return { keyId, size: -1 };
    const signature = h.subarray(end, end + 64);
    const index = h.readUInt16BE(end + 64);
    const size = h.readUInt16BE(end + 66);
    return { keyId, signature, index, size, proof: h.subarray(end + 68) };
  }
  const parts = h.toString("utf8").split(";");
  const b64 = (s) => (/^[A-Za-z0-9_-]*$/.test(s) ? Buffer.from(s, "base64url") : null);
  if (parts[0] === "ed25519" && parts.length === 3 && parts[1]) {
    const signature = b64(parts[2]);
    return signature ? { keyId: parts[1], signature, index: 0, size: 0 } : { keyId: parts[1], size: -1 };
  }
  if (parts[0] === "ed25519-merkle" && parts.length === 6 && parts[1]) {
    const [signature, proof] = [b64(parts[2]), b64(parts[5])];
    const [index, size] = [parts[3], parts[4]].map((n) => (/^[0-9]+$/.test(n) ? Number(n) : -1));
    if (!signature || !proof || proof.length % 32 || size < 1 || index < 0) return { keyId: parts[1], size: -1 };
    return { keyId: parts[1], signature, index, size, proof };
  }
  return null;
}

// RFC 9162 section 2.1.3.2: the root a leaf at `index` of a tree of `size` leaves leads to with `proof` (sibling
// hashes, deepest first), or null when the proof does not fit (too short, too long, index out of the tree).
function rootFromInclusion(leaf, index, size, proof) {
  if (index >= size) return null;
  let [fn, sn, r] = [index, size - 1, leaf];
  for (let i = 0; i < proof.length; i += 32) {
    const p = proof.subarray(i, i + 32);
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >> 1, sn >> 1];
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    [fn, sn] = [fn >> 1, sn >> 1];
  }
  return sn === 0 ? r : null;
}

// Why an answer on `topic` is not provably written by a deployment that may write it ({code, why}; the codes are
// the Python SDK's), or null when it is. Answers are structured-mode CloudEvents: the signed bytes are the value.
async function refusalOf(topic, message) {
  const rule = ANSWER_TOPICS[topic];
  const signature = parseSignature(message.headers);
  if (!signature) return { code: "missing", why: "no lgnet-signature header" };
  const key = await lookup(signature.keyId);
  if (!key) return { code: "unknown_key", why: `key ${signature.keyId} is not registered` };
  const value = message.value || Buffer.alloc(0);
  let verified = false;
  try {
    if (signature.size === 0) {
      verified = crypto.verify(null, value, key.verifier, signature.signature);
    } else if (signature.size > 0) {
      const leaf = sha256(Buffer.from([0]), value);
      const root = rootFromInclusion(leaf, signature.index, signature.size, signature.proof);
      const signed = root && Buffer.concat([BATCH_CONTEXT, root]);
      verified = root !== null && crypto.verify(null, signed, key.verifier, signature.signature);
    }
  } catch {
    verified = false;
  }
  if (!verified) return { code: "invalid", why: `the signature does not verify with key ${key.key_id}` };
  if (!rule.writers.includes(key.service)) {
    return { code: "not_a_writer", why: `key ${key.key_id} is ${key.service}'s, which may not write this topic` };
  }
  const event = parseJson(value);
  if (!event || typeof event !== "object") return { code: "claims", why: "its claims cannot be read" };
  if (event.signingkey !== key.key_id) return { code: "claims", why: `it does not name key ${key.key_id}` };
  if (![event.city, "national"].includes(cityOf(key.deployment))) {
    return { code: "claims", why: `its city is not that of deployment ${key.deployment}` };
  }
  if (!rule.types.includes(event.type)) return { code: "wrong_topic", why: `type ${event.type} does not belong here` };
  if (event.type.split(".")[1] !== key.service) {
    return { code: "not_a_writer", why: `type ${event.type} is not ${key.service}'s` };
  }
  return null;
}

const refusedAnswers = {}; // reason -> how many answers were refused for it

// Read `topics` with a consumer group of this partner's own until `each` returns true or the time is up (nothing
// more is handed to `each` after that).
async function readTopics(topics, suffix, timeoutMs, each) {
  const groupId = `${bundle.kafka.topic_prefix}${bundle.kafka.group_prefix}node-${run}-${suffix}`;
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    let done = false;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done = true;
        resolve();
      }, timeoutMs);
      consumer
        .run({
          eachMessage: async (m) => {
            if (!done && (await each(m))) {
              done = true;
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

// Read one of this partner's own answer topics until `wanted` says a record ends the wait; every answer is verified
// first, and only the data of the answers that are kept is returned.
async function readOwn(topic, suffix, wanted, timeoutMs) {
  if (!pinnedFile && keysReadAt === 0) await readRegistries();
  const found = [];
  await readTopics([topic], suffix, timeoutMs, async ({ partition, message }) => {
    const place = `${topic} partition ${partition} offset ${message.offset}`;
    const refused = await refusalOf(topic, message);
    if (refused) {
      refusedAnswers[refused.code] = (refusedAnswers[refused.code] || 0) + 1;
      console.error(`lgnet: refused an answer on ${place}: ${refused.code} (${refused.why})`); // never its content
      return false;
    }
    const event = JSON.parse(message.value.toString("utf8"));
    if (event.city !== bundle.city) {
      // Genuine, but a national deployment's answer of another city: not for this partner.
      console.error(`lgnet: dropped an answer of another city on ${place}`);
      return false;
    }
    const verdict = wanted(event);
    if (verdict === "skip") return false;
    found.push(event.data);
    return verdict === "last";
  });
  return found;
}

// The answers: one per refused record, on this partner's own rejections topic.
const ours = new Set(Object.values(sent).map((r) => r.id));
const rejections = await readOwn(bundle.kafka.rejections_topic, "rejections", ({ data }) => {
  if (!ours.has(data.inbound_event_id)) return "skip";
  return data.inbound_event_id === sent.refused.id ? "last" : "keep";
}, 60000);
// The city's reminder of the appointment, on this partner's own reminders topic (ids and codes, no personal data).
const appointmentId = `node-${run}-a1`;
const reminders = await readOwn(bundle.kafka.reminders_topic, "reminders", ({ type, data }) => {
  if (type !== "lgnet.intake.partner_appointment_reminder" || data.appointment_id !== appointmentId) return "skip";
  return "last";
}, 120000);
const ids = Object.fromEntries(Object.entries(sent).map(([name, r]) => [name, r.id]));
console.log(
  JSON.stringify({
    client: "node",
    sent: ids,
    household_changes: changes,
    rejections,
    reminders,
    refused_answers: refusedAnswers,
  }),
);
