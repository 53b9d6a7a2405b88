package it.lgnet.partner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.bouncycastle.crypto.hpke.HPKE;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * Reference LgNet partner client, written from docs/partners.md alone (no LgNet code).
 *
 * <p>It loads the onboarding bundle the city gave (LGNET_BUNDLE), fetches intake's public key (GET /inbound-key),
 * seals each person's whole identity at once (registration v3, {@code identity.all}: a JSON object of its
 * identifying fields) with HPKE (Bouncy Castle: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM;
 * info "lgnet:&lt;kid&gt;:all", empty aad), wraps each event in a structured-mode CloudEvent, signs the exact
 * value (Ed25519) and produces a small registration sequence to the inbound topic with kafka-clients over TLS +
 * SASL/SCRAM-SHA-512 (keyed by the partner id, the client's default compression and idempotent producer), plus
 * one event that must be refused, and books an appointment with the person it registered; then it reads its own
 * rejection topic and its own reminders topic (the city's reminder of that appointment, the day before) and prints
 * a JSON summary on stdout. Every answer read is verified first ({@link AnswerVerifier}; docs/partners.md, "Answers
 * are verified"): any answer no deployment that may write it signed is refused, logged and counted in the summary's
 * {@code refused_answers}.
 *
 * <p>Environment: LGNET_BUNDLE (path of the bundle JSON), LGNET_SIGNING_SEED (hex of the 32-byte Ed25519 private
 * key whose public half the city registered), LGNET_RUN (a suffix that keeps ids unique between runs),
 * LGNET_APPOINTMENT_AT (when the appointment starts, ISO 8601 with offset; default: tomorrow 10:00 UTC),
 * LGNET_ANSWER_KEYS (optional: a pinned-keys file, as {@code lgnet-audit keys --out} writes it; without it the keys
 * are read from the cluster's registries {@code lgnet.signing-keys.*}).
 */
public final class Partner {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Base64.Encoder B64URL = Base64.getUrlEncoder().withoutPadding();

  private final JsonNode bundle;
  private final Ed25519PrivateKeyParameters signingKey;
  private final HPKE hpke =
      new HPKE(HPKE.mode_base, HPKE.kem_X25519_SHA256, HPKE.kdf_HKDF_SHA256, HPKE.aead_AES_GCM128);
  private String kid;
  private AsymmetricKeyParameter intakeKey;
  private AnswerVerifier answers;

  Partner(JsonNode bundle, byte[] seed) {
    this.bundle = bundle;
    this.signingKey = new Ed25519PrivateKeyParameters(seed, 0);
  }

  public static void main(String[] args) throws Exception {
    JsonNode bundle = JSON.readTree(Files.readString(Path.of(System.getenv("LGNET_BUNDLE"))));
    byte[] seed = HexFormat.of().parseHex(System.getenv("LGNET_SIGNING_SEED"));
    String run = System.getenv().getOrDefault("LGNET_RUN", UUID.randomUUID().toString().substring(0, 8));
    new Partner(bundle, seed).play(run);
  }

  /** Intake's current key (it rotates: fetch it before a batch). */
  void fetchIntakeKey() throws Exception {
    JsonNode intake = bundle.path("services").path("intake");
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(bundle.path("inbound_key_url").asText()))
            .header("Authorization", "Bearer " + intake.path("token").asText())
            .timeout(Duration.ofSeconds(20))
            .build();
    HttpResponse<String> answer = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
    if (answer.statusCode() != 200) {
      throw new IllegalStateException("GET /inbound-key: " + answer.statusCode() + " " + answer.body());
    }
    JsonNode key = JSON.readTree(answer.body());
    kid = "hpke:" + key.path("key_id").asText();
    intakeKey = hpke.deserializePublicKey(Base64.getUrlDecoder().decode(key.path("public_key").asText()));
  }

  /** One field sealed to intake (here {@code all}, the whole identity): ct = base64url(enc || ciphertext), no
   * padding. */
  ObjectNode seal(String field, String plaintext) throws Exception {
    byte[] info = ("lgnet:" + kid + ":" + field).getBytes(StandardCharsets.UTF_8);
    byte[][] out = hpke.seal(intakeKey, info, new byte[0], plaintext.getBytes(StandardCharsets.UTF_8), null, null, null);
    byte[] ciphertext = out[0];
    byte[] enc = out[1];
    byte[] both = new byte[enc.length + ciphertext.length];
    System.arraycopy(enc, 0, both, 0, enc.length);
    System.arraycopy(ciphertext, 0, both, enc.length, ciphertext.length);
    ObjectNode sealed = JSON.createObjectNode();
    sealed.put("kid", kid).put("n", "").put("ct", B64URL.encodeToString(both));
    return sealed;
  }

  String sign(byte[] value) {
    Ed25519Signer signer = new Ed25519Signer();
    signer.init(true, signingKey);
    signer.update(value, 0, value.length);
    return "ed25519;" + bundle.path("signing").path("key_id").asText() + ";" + B64URL.encodeToString(signer.generateSignature());
  }

  /** A structured-mode CloudEvent, signed over exactly the bytes that are sent. */
  ProducerRecord<String, byte[]> record(String id, String type, int version, ObjectNode data) throws Exception {
    String partner = bundle.path("partner").asText();
    ObjectNode event = JSON.createObjectNode();
    event.put("specversion", "1.0").put("id", id).put("source", "/partners/" + partner).put("type", type);
    event.put("dataschema", "urn:lgnet:schema:" + type + ":v" + version);
    event.put("time", Instant.now().toString()).put("city", bundle.path("city").asText());
    event.put("partner", partner).put("partitionkey", partner).set("data", data);
    byte[] value = JSON.writeValueAsBytes(event);
    ProducerRecord<String, byte[]> record =
        new ProducerRecord<>(bundle.path("kafka").path("inbound_topic").asText(), partner, value);
    record.headers().add("content-type", "application/cloudevents+json; charset=utf-8".getBytes(StandardCharsets.UTF_8));
    record.headers().add("lgnet-signature", sign(value).getBytes(StandardCharsets.UTF_8));
    return record;
  }

  Properties kafka() throws Exception {
    JsonNode k = bundle.path("kafka");
    Properties p = new Properties();
    p.put("bootstrap.servers", k.path("bootstrap_servers").asText());
    p.put("security.protocol", k.path("security_protocol").asText());
    p.put("sasl.mechanism", k.path("sasl_mechanism").asText());
    p.put(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + k.path("username").asText() + "\" password=\"" + k.path("password").asText() + "\";");
    if (!k.path("ca_pem").isNull()) {
      Path ca = Files.createTempFile("lgnet-ca", ".pem");
      Files.writeString(ca, k.path("ca_pem").asText());
      p.put("ssl.truststore.type", "PEM");
      p.put("ssl.truststore.location", ca.toString());
    }
    return p;
  }

  void play(String run) throws Exception {
    fetchIntakeKey();
    String today = LocalDate.now(ZoneOffset.UTC).toString();
    String mother = "java-" + run + "-p1";
    String child = "java-" + run + "-p2";
    String household = "java-" + run + "-h1";
    Map<String, String> ids = new LinkedHashMap<>();
    List<ProducerRecord<String, byte[]>> records = new ArrayList<>();

    ObjectNode motherData = JSON.createObjectNode();
    motherData.put("person_id", mother).put("sex", "female").put("nationality", "NG");
    motherData.putArray("languages").add("en");
    ObjectNode identity = JSON.createObjectNode();
    identity.put("given_name", "Adaeze").put("family_name", "Nwosu").put("birth_date", "1988-09-14");
    identity.put("fiscal_code", "NWSDZA88P54Z335Q");
    motherData.putObject("identity").set("all", seal("all", JSON.writeValueAsString(identity)));
    add(ids, records, "mother", "lgnet.partner.person_registration_submitted", 3, motherData);

    ObjectNode childData = JSON.createObjectNode();
    childData.put("person_id", child).put("sex", "male").put("nationality", "NG");
    ObjectNode childIdentity = JSON.createObjectNode();
    childIdentity.put("given_name", "Chidi").put("birth_date", "2017-02-03");
    childData.putObject("identity").set("all", seal("all", JSON.writeValueAsString(childIdentity)));
    add(ids, records, "child", "lgnet.partner.person_registration_submitted", 3, childData);

    ObjectNode householdData = JSON.createObjectNode();
    householdData.put("household_id", household).put("reference_person_id", mother);
    ArrayNode members = householdData.putArray("member_ids");
    members.add(mother).add(child);
    add(ids, records, "household", "lgnet.partner.household_formation_submitted", 1, householdData);

    ObjectNode caseData = JSON.createObjectNode();
    caseData.put("case_id", "java-" + run + "-c1").put("household_id", household);
    caseData.put("action_area", "housing_inclusion").put("channel", "desk").put("opened_on", today);
    caseData.put("housing_need", true);
    add(ids, records, "case", "lgnet.partner.case_opening_submitted", 1, caseData);

    // The household changes (docs/partners.md, "Events you send"; `reason` from its list, "Codes and their
    // lists"): the father and a newborn are registered, the baby joins (birth), the father joins (reunification)
    // and is named reference person (household_choice); the mother stays a member.
    String father = "java-" + run + "-p3";
    String baby = "java-" + run + "-p4";
    ObjectNode fatherData = JSON.createObjectNode();
    fatherData.put("person_id", father).put("sex", "male").put("nationality", "NG");
    fatherData.putArray("languages").add("en");
    ObjectNode fatherIdentity = JSON.createObjectNode();
    fatherIdentity.put("given_name", "Obinna").put("family_name", "Nwosu").put("birth_date", "1985-05-30");
    fatherData.putObject("identity").set("all", seal("all", JSON.writeValueAsString(fatherIdentity)));
    add(ids, records, "father", "lgnet.partner.person_registration_submitted", 3, fatherData);

    ObjectNode babyData = JSON.createObjectNode();
    babyData.put("person_id", baby).put("sex", "female").put("nationality", "NG");
    ObjectNode babyIdentity = JSON.createObjectNode(); // born three weeks ago
    babyIdentity.put("given_name", "Ngozi").put("birth_date", LocalDate.now(ZoneOffset.UTC).minusDays(20).toString());
    babyData.putObject("identity").set("all", seal("all", JSON.writeValueAsString(babyIdentity)));
    add(ids, records, "baby", "lgnet.partner.person_registration_submitted", 3, babyData);

    ArrayNode changes = JSON.createArrayNode();
    change(changes, "baby_joined", baby, "joined", "birth");
    change(changes, "father_joined", father, "joined", "reunification");
    change(changes, "reference_person", father, "reference_person", "household_choice");
    // Must be refused: the reference person (the father, now) leaving (conflict at data.person_id).
    change(changes, "refused_leave", father, "left", "moved");
    for (JsonNode c : changes) {
      ObjectNode data = JSON.createObjectNode();
      data.put("household_id", household).put("person_id", c.path("person_id").asText());
      boolean reference = c.path("change").asText().equals("reference_person");
      if (!reference) {
        data.put("change", c.path("change").asText());
      }
      data.put("reason", c.path("reason").asText()).put("on", today);
      add(ids, records, c.path("sent").asText(), reference
          ? "lgnet.partner.household_reference_person_change_submitted"
          : "lgnet.partner.household_member_change_submitted", 1, data);
    }

    String appointment = "java-" + run + "-a1";
    String at = System.getenv("LGNET_APPOINTMENT_AT");
    OffsetDateTime startsAt = at != null
        ? OffsetDateTime.parse(at)
        : LocalDate.now(ZoneOffset.UTC).plusDays(1).atTime(10, 0).atOffset(ZoneOffset.UTC);
    ObjectNode booking = JSON.createObjectNode();
    // One operator per run: a second run the same day books no time that overlaps the first's.
    booking.put("appointment_id", appointment).put("agenda", "desk").put("operator", "op-java-" + run);
    booking.put("person_id", mother).put("purpose", "plan_review");
    DateTimeFormatter rfc3339 = DateTimeFormatter.ISO_OFFSET_DATE_TIME; // seconds always (toString drops ":00")
    booking.put("starts_at", rfc3339.format(startsAt)).put("ends_at", rfc3339.format(startsAt.plusMinutes(30)));
    add(ids, records, "appointment", "lgnet.partner.appointment_booking_submitted", 1, booking);

    // Must be refused: a household this partner never formed (not_found).
    ObjectNode refused = JSON.createObjectNode();
    refused.put("case_id", "java-" + run + "-c2").put("household_id", "java-" + run + "-never-formed");
    refused.put("action_area", "taking_charge").put("channel", "desk").put("opened_on", today);
    add(ids, records, "refused", "lgnet.partner.case_opening_submitted", 1, refused);

    Properties producerProps = kafka();
    producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProps)) {
      for (ProducerRecord<String, byte[]> r : records) {
        producer.send(r).get(); // in order, one partition (the partner id is the key)
      }
    }

    JsonNode k = bundle.path("kafka");
    String pinned = System.getenv("LGNET_ANSWER_KEYS");
    answers = new AnswerVerifier(
        Map.of(
            k.path("rejections_topic").asText(),
            new AnswerVerifier.Rule(Set.of("intake"), Set.of("lgnet.intake.inbound_rejected")),
            k.path("reminders_topic").asText(),
            new AnswerVerifier.Rule(Set.of("intake", "housing"),
                Set.of("lgnet.intake.partner_appointment_reminder", "lgnet.housing.partner_match_reminder"))),
        kafka(), k.path("topic_prefix").asText(),
        pinned == null || pinned.isEmpty() ? null : JSON.readTree(Files.readString(Path.of(pinned))));
    Set<String> ours = Set.copyOf(ids.values());
    String last = ids.get("refused");
    List<JsonNode> rejections = readOwn(run, "rejections_topic", 60_000, event -> {
      String inbound = event.path("data").path("inbound_event_id").asText();
      return !ours.contains(inbound) ? Verdict.SKIP : inbound.equals(last) ? Verdict.LAST : Verdict.KEEP;
    });
    // The city's reminder of the appointment (ids and codes, no personal data).
    List<JsonNode> reminders = readOwn(run, "reminders_topic", 120_000, event ->
        event.path("type").asText().equals("lgnet.intake.partner_appointment_reminder")
            && event.path("data").path("appointment_id").asText().equals(appointment) ? Verdict.LAST : Verdict.SKIP);
    ObjectNode summary = JSON.createObjectNode();
    summary.put("client", "java");
    ObjectNode sent = summary.putObject("sent");
    ids.forEach(sent::put);
    summary.set("household_changes", changes);
    summary.putArray("rejections").addAll(rejections);
    summary.putArray("reminders").addAll(reminders);
    summary.set("refused_answers", JSON.valueToTree(answers.refused()));
    System.out.println(JSON.writeValueAsString(summary));
  }

  void add(Map<String, String> ids, List<ProducerRecord<String, byte[]>> records, String name, String type,
      int version, ObjectNode data) throws Exception {
    String id = UUID.randomUUID().toString();
    ids.put(name, id);
    records.add(record(id, type, version, data));
  }

  /** One household change as the summary lists it: the name it was sent under, whom it names, what and why. */
  static void change(ArrayNode changes, String sent, String person, String change, String reason) {
    changes.addObject().put("sent", sent).put("person_id", person).put("change", change).put("reason", reason);
  }

  enum Verdict { SKIP, KEEP, LAST }

  /** Reads one of this partner's own topics (named in the bundle) with its own consumer group: the data of each
   * answer `wanted` keeps, until it says LAST or the time is up. Every answer is verified first. */
  List<JsonNode> readOwn(String run, String topicField, long timeoutMs, Function<JsonNode, Verdict> wanted)
      throws Exception {
    JsonNode k = bundle.path("kafka");
    Properties p = kafka();
    String group = k.path("topic_prefix").asText() + k.path("group_prefix").asText() + "java-" + run + "-"
        + topicField;
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    List<JsonNode> found = new ArrayList<>();
    long deadline = System.currentTimeMillis() + timeoutMs;
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(k.path(topicField).asText()));
      while (System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (!answers.accept(r)) {
            continue;
          }
          JsonNode event = JSON.readTree(r.value());
          if (!event.path("city").asText().equals(bundle.path("city").asText())) {
            // A national deployment's answer of another city: not for this partner.
            System.err.println("lgnet: dropped an answer of another city on " + r.topic() + " partition "
                + r.partition() + " offset " + r.offset());
            continue;
          }
          Verdict verdict = wanted.apply(event);
          if (verdict != Verdict.SKIP) {
            found.add(event.path("data"));
          }
          if (verdict == Verdict.LAST) {
            return found;
          }
        }
      }
    }
    return found;
  }
}
