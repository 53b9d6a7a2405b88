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
//
// Environment: LGNET_BUNDLE (path of the bundle JSON), LGNET_SIGNING_SEED (hex of the 32-byte Ed25519 private
// key whose public half the city registered), LGNET_RUN (a suffix that keeps ids unique between runs),
// LGNET_APPOINTMENT_AT (when the appointment starts, ISO 8601 with offset; default: tomorrow 10:00 UTC).

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
  appointment: record("lgnet.partner.appointment_booking_submitted", 1, {
    appointment_id: `node-${run}-a1`,
    agenda: "desk",
    operator: "op-node",
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

// Read one of this partner's own topics with its own consumer group until `wanted` says a record ends the wait.
async function readOwn(topic, suffix, wanted, timeoutMs) {
  const found = [];
  const consumer = kafka.consumer({ groupId: `${bundle.kafka.topic_prefix}${bundle.kafka.group_prefix}node-${run}-${suffix}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    consumer.run({
      eachMessage: async ({ message }) => {
        const event = JSON.parse(message.value.toString("utf8"));
        const verdict = wanted(event);
        if (verdict === "skip") return;
        found.push(event.data);
        if (verdict === "last") {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
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
console.log(JSON.stringify({ client: "node", sent: ids, rejections, reminders }));
