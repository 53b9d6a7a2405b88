package it.lgnet.partner;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * Verifies the answers a partner reads on its own topics, written from docs/partners.md ("Answers are verified")
 * and docs/reporting.md ("Checking signatures with your own tools") alone: an answer is kept only when a registered
 * key of a deployment of the partner's city (or the national one) signed it, that deployment's service may write the
 * topic, and the answer's type is one the topic carries and that service's own. Any other answer is refused, logged
 * on stderr by topic, partition, offset and reason (never its content) and counted by reason ({@link #refused()},
 * the Python SDK's reason names).
 *
 * <p>Keys come from the cluster's registries {@code lgnet.signing-keys.<deployment>.<service>}, read with the
 * partner's own Kafka user (again when an answer names a key not seen yet, at most every 10 s), or only from a
 * pinned-keys file ({@code lgnet-audit keys --out}'s format) when one is given.
 */
final class AnswerVerifier {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] BATCH_CONTEXT = "lgnet-fact-batch-v1\n".getBytes(StandardCharsets.UTF_8);
  private static final String HEADER = "lgnet-signature";

  /** Which services may write a topic, and which types it carries. */
  record Rule(Set<String> writers, Set<String> types) {}

  record Key(String keyId, String deployment, String service, Ed25519PublicKeyParameters publicKey) {}

  /** A parsed signature header: {@code size} 0 for a plain signature of the value, -1 when malformed. */
  record Signature(String keyId, byte[] signature, int index, int size, byte[] proof) {}

  record Refusal(String code, String why) {}

  private final Map<String, Rule> rules;
  private final Properties kafka;
  private final String registries;
  private final boolean pinned;
  private final Map<String, Key> keys = new HashMap<>();
  private final Map<String, Integer> refused = new TreeMap<>();
  private long readAt;

  /**
   * @param rules the partner's answer topics (as named in its bundle) and who may write them
   * @param kafka the partner's client settings, for reading the registries
   * @param topicPrefix the bundle's {@code topic_prefix}
   * @param pinnedFile a pinned-keys file ({@code {"keys": [...]}}), or null to read the registries
   */
  AnswerVerifier(Map<String, Rule> rules, Properties kafka, String topicPrefix, JsonNode pinnedFile) {
    this.rules = rules;
    this.kafka = kafka;
    this.registries = topicPrefix + "lgnet.signing-keys.";
    this.pinned = pinnedFile != null;
    if (pinned) {
      for (JsonNode doc : pinnedFile.path("keys")) {
        Key key = keyOf(doc, null);
        if (key == null) {
          throw new IllegalArgumentException(
              "LGNET_ANSWER_KEYS: " + doc.path("key_id").asText() + ": its id does not match its owner and key");
        }
        keys.put(key.keyId(), key);
      }
    }
  }

  /** How many answers were refused, by reason. */
  Map<String, Integer> refused() {
    return refused;
  }

  /** Whether to take the answer: refused ones are logged and counted here. */
  boolean accept(ConsumerRecord<?, byte[]> r) throws Exception {
    if (!pinned && readAt == 0) {
      readRegistries();
    }
    Refusal refusal = refusalOf(r.topic(), r.headers(), r.value() == null ? new byte[0] : r.value());
    if (refusal == null) {
      return true;
    }
    refused.merge(refusal.code(), 1, Integer::sum);
    System.err.println("lgnet: refused an answer on " + r.topic() + " partition " + r.partition() + " offset "
        + r.offset() + ": " + refusal.code() + " (" + refusal.why() + ")");
    return false;
  }

  static String cityOf(String deployment) { // torino, torino-north -> torino; national -> national
    return deployment.split("-", 2)[0];
  }

  static byte[] sha256(byte[]... parts) {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      for (byte[] part : parts) {
        digest.update(part);
      }
      return digest.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * A key record (a registry value or a pinned entry) when it is well formed: 32 raw bytes whose fingerprint is in
   * its id ({@code <deployment>.<service>.<first 8 bytes of SHA-256(public key), hex>}) and, read from a registry
   * topic, that topic's own deployment and service ({@code writer}) and the deployment's city; else null.
   */
  static Key keyOf(JsonNode doc, String writer) {
    if (doc == null || !doc.path("key_id").isTextual() || !doc.path("public_key").isTextual()) {
      return null;
    }
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(doc.path("public_key").asText());
    } catch (IllegalArgumentException e) {
      return null;
    }
    String deployment = doc.path("deployment").asText();
    String owner = deployment + "." + doc.path("service").asText();
    String fingerprint = HexFormat.of().formatHex(Arrays.copyOf(sha256(raw), 8));
    if (raw.length != 32 || !doc.path("key_id").asText().equals(owner + "." + fingerprint)) {
      return null;
    }
    if (writer != null && (!writer.equals(owner) || !doc.path("city").asText().equals(cityOf(deployment)))) {
      return null;
    }
    return new Key(owner + "." + fingerprint, deployment, doc.path("service").asText(),
        new Ed25519PublicKeyParameters(raw, 0));
  }

  /** Every key registered in the cluster's registries, read to their current end (no consumer group needed). */
  void readRegistries() throws Exception {
    Properties p = new Properties();
    p.putAll(kafka);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (Map.Entry<String, List<PartitionInfo>> topic : consumer.listTopics(Duration.ofSeconds(20)).entrySet()) {
        if (topic.getKey().startsWith(registries)) {
          topic.getValue().forEach(info -> partitions.add(new TopicPartition(info.topic(), info.partition())));
        }
      }
      readAt = System.currentTimeMillis();
      if (partitions.isEmpty()) {
        throw new IllegalStateException("no signing-key registry (lgnet.signing-keys.*) is readable with this user,"
            + " so no answer can be verified: ask the city's operator to run `lgnet-kafka-admin add-partner` again,"
            + " or pin the keys (LGNET_ANSWER_KEYS)");
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      long deadline = System.currentTimeMillis() + 20_000;
      while (System.currentTimeMillis() < deadline
          && partitions.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          JsonNode doc;
          try {
            doc = JSON.readTree(r.value());
          } catch (Exception e) {
            continue; // a key that cannot be read verifies nothing
          }
          Key key = keyOf(doc, r.topic().substring(registries.length()));
          if (key != null) {
            keys.putIfAbsent(key.keyId(), key); // the first registration of an id stays
          }
        }
      }
    }
  }

  /** A key not known yet: the registries are read again (a deployment may have registered it since). */
  Key lookup(String keyId) throws Exception {
    if (!keys.containsKey(keyId) && !pinned && System.currentTimeMillis() - readAt > 10_000) {
      readRegistries();
    }
    return keys.get(keyId);
  }

  /** The lgnet-signature header, version 2 (binary, first byte 0x02) or 1 (text); null when there is none or it
   * names no key. */
  static Signature parseSignature(Headers headers) {
    byte[] h = null;
    Header exact = headers.headers(HEADER).iterator().hasNext() ? headers.headers(HEADER).iterator().next() : null;
    if (exact != null) {
      h = exact.value();
    } else {
      for (Header header : headers) {
        if (header.key().equalsIgnoreCase(HEADER)) {
          h = header.value();
          break;
        }
      }
    }
    if (h == null || h.length == 0) {
      return null;
    }
    if (h[0] == 0x02) {
      if (h.length < 2 || h[1] == 0 || h.length < 2 + (h[1] & 0xff)) {
        return null;
      }
      int end = 2 + (h[1] & 0xff);
      for (int i = 2; i < end; i++) {
        if (h[i] < 0) { // a key id is ASCII
          return null;
        }
      }
      String keyId = new String(h, 2, end - 2, StandardCharsets.US_ASCII);
      int proofLength = h.length - end - 64 - 4;
      if (proofLength < 0 || proofLength % 32 != 0) {
        return new Signature(keyId, null, 0, -1, null);
      }
      int index = ((h[end + 64] & 0xff) << 8) | (h[end + 65] & 0xff);
      int size = ((h[end + 66] & 0xff) << 8) | (h[end + 67] & 0xff);
      return new Signature(keyId, Arrays.copyOfRange(h, end, end + 64), index, size,
          Arrays.copyOfRange(h, end + 68, h.length));
    }
    String[] parts = new String(h, StandardCharsets.UTF_8).split(";", -1);
    if (parts.length < 2 || parts[1].isEmpty()) {
      return null;
    }
    Base64.Decoder b64url = Base64.getUrlDecoder();
    try {
      if (parts[0].equals("ed25519") && parts.length == 3) {
        return new Signature(parts[1], b64url.decode(parts[2]), 0, 0, new byte[0]);
      }
      if (parts[0].equals("ed25519-merkle") && parts.length == 6) {
        byte[] proof = b64url.decode(parts[5]);
        int index = Integer.parseInt(parts[3]);
        int size = Integer.parseInt(parts[4]);
        if (proof.length % 32 != 0 || size < 1 || index < 0) {
          return new Signature(parts[1], null, 0, -1, null);
        }
        return new Signature(parts[1], b64url.decode(parts[2]), index, size, proof);
      }
    } catch (IllegalArgumentException e) { // bad base64 or number
      return new Signature(parts[1], null, 0, -1, null);
    }
    return null;
  }

  /** RFC 9162 section 2.1.3.2: the root a leaf at {@code index} of a tree of {@code size} leaves leads to with
   * {@code proof} (sibling hashes, deepest first), or null when the proof does not fit. */
  static byte[] rootFromInclusion(byte[] leaf, int index, int size, byte[] proof) {
    if (index >= size) {
      return null;
    }
    long fn = index;
    long sn = size - 1;
    byte[] r = leaf;
    byte[] node = {1};
    for (int i = 0; i < proof.length; i += 32) {
      byte[] p = Arrays.copyOfRange(proof, i, i + 32);
      if (sn == 0) {
        return null;
      }
      if (fn % 2 == 1 || fn == sn) {
        r = sha256(node, p, r);
        while (fn % 2 == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      } else {
        r = sha256(node, r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn == 0 ? r : null;
  }

  static boolean verifies(Key key, byte[] message, byte[] signature) {
    Ed25519Signer verifier = new Ed25519Signer();
    verifier.init(false, key.publicKey());
    verifier.update(message, 0, message.length);
    return verifier.verifySignature(signature);
  }

  /** Why an answer on {@code topic} is not provably written by a deployment that may write it, or null when it is.
   * Answers are structured-mode CloudEvents: the signed bytes are the value. */
  Refusal refusalOf(String topic, Headers headers, byte[] value) throws Exception {
    Rule rule = rules.get(topic);
    Signature signature = parseSignature(headers);
    if (signature == null) {
      return new Refusal("missing", "no lgnet-signature header");
    }
    Key key = lookup(signature.keyId());
    if (key == null) {
      return new Refusal("unknown_key", "key " + signature.keyId() + " is not registered");
    }
    boolean verified = false;
    if (signature.size() == 0) {
      verified = verifies(key, value, signature.signature());
    } else if (signature.size() > 0) {
      byte[] root = rootFromInclusion(sha256(new byte[] {0}, value), signature.index(), signature.size(),
          signature.proof());
      if (root != null) {
        byte[] signed = Arrays.copyOf(BATCH_CONTEXT, BATCH_CONTEXT.length + root.length);
        System.arraycopy(root, 0, signed, BATCH_CONTEXT.length, root.length);
        verified = verifies(key, signed, signature.signature());
      }
    }
    if (!verified) {
      return new Refusal("invalid", "the signature does not verify with key " + key.keyId());
    }
    if (!rule.writers().contains(key.service())) {
      return new Refusal("not_a_writer", "key " + key.keyId() + " is " + key.service() + "'s, which may not write"
          + " this topic");
    }
    JsonNode event;
    try {
      event = JSON.readTree(value);
    } catch (Exception e) {
      event = null;
    }
    if (event == null || !event.isObject()) {
      return new Refusal("claims", "its claims cannot be read");
    }
    if (!event.path("signingkey").asText("").equals(key.keyId())) {
      return new Refusal("claims", "it does not name key " + key.keyId());
    }
    String city = cityOf(key.deployment());
    if (!city.equals("national") && !city.equals(event.path("city").asText(""))) {
      return new Refusal("claims", "its city is not that of deployment " + key.deployment());
    }
    String type = event.path("type").asText("");
    if (!rule.types().contains(type)) {
      return new Refusal("wrong_topic", "type " + type + " does not belong here");
    }
    if (!type.split("\\.")[1].equals(key.service())) {
      return new Refusal("not_a_writer", "type " + type + " is not " + key.service() + "'s");
    }
    return null;
  }
}
