package io.pipechaos.connect;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;

/** The task of {@link S3JsonSink}. */
public class S3JsonSinkTask extends SinkTask {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One object being filled: records of one partition under one route, from startOffset on. */
    private static final class Buffer {
        final String route;
        final TopicPartition tp;
        final long startOffset;
        final StringBuilder lines = new StringBuilder();
        int count;
        long nextOffset;

        Buffer(String route, TopicPartition tp, long startOffset) {
            this.route = route;
            this.tp = tp;
            this.startOffset = startOffset;
        }
    }

    private S3Client s3;
    private String bucket;
    private int flushSize;
    private String idHeader;
    private String routeHeader;
    private final Map<String, Buffer> buffers = new HashMap<>(); // route + tp → open buffer
    private final Map<TopicPartition, Long> written = new HashMap<>(); // next offset, durable
    // route + tp → the next offset taken (buffered or written): a batch the
    // worker hands over again after a failed put is not buffered twice.
    private final Map<String, Long> taken = new HashMap<>();

    @Override
    public void start(Map<String, String> props) {
        AbstractConfig c = new AbstractConfig(S3JsonSink.CONFIG_DEF, props);
        bucket = c.getString(S3JsonSink.BUCKET_CONFIG);
        flushSize = c.getInt(S3JsonSink.FLUSH_SIZE_CONFIG);
        idHeader = c.getString(S3JsonSink.ID_HEADER_CONFIG);
        routeHeader = c.getString(S3JsonSink.ROUTE_HEADER_CONFIG);
        s3 = S3Client.builder()
                .endpointOverride(URI.create(c.getString(S3JsonSink.ENDPOINT_CONFIG)))
                .forcePathStyle(true)
                .region(Region.of(c.getString(S3JsonSink.REGION_CONFIG)))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(
                        c.getString(S3JsonSink.ACCESS_KEY_CONFIG), c.getPassword(S3JsonSink.SECRET_KEY_CONFIG).value())))
                .httpClient(UrlConnectionHttpClient.builder().build())
                // Checksums only where S3 requires them: stores other than AWS's
                // (MinIO, gofakes3, a fault proxy) need not know the newer trailers.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        // A full buffer whose write failed is tried again first.
        for (Iterator<Buffer> it = buffers.values().iterator(); it.hasNext(); ) {
            Buffer b = it.next();
            if (b.count >= flushSize) {
                upload(b);
                it.remove();
            }
        }
        for (SinkRecord r : records) {
            TopicPartition tp = new TopicPartition(r.originalTopic(), r.originalKafkaPartition());
            String route = text(r.headers().lastWithName(routeHeader));
            String k = (route == null ? "" : route) + "\u0000" + tp;
            if (r.originalKafkaOffset() < taken.getOrDefault(k, -1L)) {
                continue; // redelivered after a failed put: already buffered or written
            }
            taken.put(k, r.originalKafkaOffset() + 1);
            Buffer b = buffers.get(k);
            if (b == null) {
                b = new Buffer(route, tp, r.originalKafkaOffset());
                buffers.put(k, b);
            }
            ObjectNode n = JSON.createObjectNode();
            String id = text(r.headers().lastWithName(idHeader));
            if (id == null) {
                throw new ConnectException("s3 json sink: record " + tp + "@" + r.originalKafkaOffset() + " has no " + idHeader + " header");
            }
            n.put("id", Long.parseUnsignedLong(id));
            n.put("key", r.key() instanceof byte[] kb ? new String(kb, StandardCharsets.UTF_8) : r.key() == null ? null : r.key().toString());
            n.put("offset", r.originalKafkaOffset());
            b.lines.append(n).append('\n');
            b.count++;
            b.nextOffset = r.originalKafkaOffset() + 1;
            if (b.count >= flushSize) {
                upload(b);
                buffers.remove(k);
            }
        }
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> current) {
        for (Iterator<Buffer> it = buffers.values().iterator(); it.hasNext(); ) {
            upload(it.next());
            it.remove();
        }
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        for (TopicPartition tp : current.keySet()) {
            Long next = written.get(tp);
            if (next != null) {
                commit.put(tp, new OffsetAndMetadata(next));
            }
        }
        return commit;
    }

    @Override
    public void close(Collection<TopicPartition> partitions) {
        // Revoked partitions: drop what is buffered (the next owner redoes it
        // from the committed offsets) and forget what was written.
        buffers.values().removeIf(b -> partitions.contains(b.tp));
        partitions.forEach(written::remove);
        taken.keySet().removeIf(k -> partitions.stream().anyMatch(tp -> k.endsWith("\u0000" + tp)));
    }

    private void upload(Buffer b) {
        String key = (b.route == null ? "" : b.route + "/") + "topics/" + b.tp.topic() + "/partition=" + b.tp.partition() + "/"
                + b.tp.topic() + "+" + b.tp.partition() + "+" + b.startOffset + ".jsonl";
        try {
            s3.putObject(PutObjectRequest.builder().bucket(bucket).key(key).build(), RequestBody.fromString(b.lines.toString(), StandardCharsets.UTF_8));
        } catch (SdkException e) {
            // Nothing past the last durable write is committed; the worker
            // redelivers from there.
            throw new RetriableException("s3 json sink: put " + key + ": " + e.getMessage(), e);
        }
        written.merge(b.tp, b.nextOffset, Math::max);
    }

    private static String text(Header h) {
        if (h == null || h.value() == null) {
            return null;
        }
        return h.value() instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : h.value().toString();
    }

    @Override
    public void stop() {
        if (s3 != null) {
            s3.close();
        }
    }

    @Override
    public String version() {
        return "1";
    }
}
