package io.pipechaos.connect;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

/** The task of {@link LineSink}. */
public class LineSinkTask extends SinkTask {
    static final String TASK_CONFIG = "pipechaos.task";
    private static final ObjectMapper JSON = new ObjectMapper();

    private FileChannel out;
    private int flushSize;
    private final List<byte[]> buffer = new ArrayList<>();
    private final Map<TopicPartition, Long> buffered = new HashMap<>(); // next offset, held in memory
    private final Map<TopicPartition, Long> written = new HashMap<>();  // next offset, on disk

    @Override
    public void start(Map<String, String> props) {
        AbstractConfig c = new AbstractConfig(LineSink.CONFIG_DEF, props);
        flushSize = c.getInt(LineSink.FLUSH_SIZE_CONFIG);
        Path p = Path.of(c.getString(LineSink.FILE_CONFIG) + ".task-" + props.getOrDefault(TASK_CONFIG, "0"));
        try {
            out = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new ConnectException("line sink: open " + p + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        for (SinkRecord r : records) {
            buffer.add(line(r));
            // originalTopic/Partition/Offset: what the worker commits, whatever an SMT did to the record.
            buffered.put(new TopicPartition(r.originalTopic(), r.originalKafkaPartition()), r.originalKafkaOffset() + 1);
        }
        if (buffer.size() >= flushSize) {
            write();
        }
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> current) {
        if (flushSize == 0) {
            write();
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

    /** Writes the buffer and fsyncs it; only then do its offsets count as written. */
    private void write() {
        if (buffer.isEmpty()) {
            return;
        }
        try {
            for (byte[] b : buffer) {
                ByteBuffer bb = ByteBuffer.wrap(b);
                while (bb.hasRemaining()) {
                    out.write(bb);
                }
            }
            out.force(true);
        } catch (IOException e) {
            throw new ConnectException("line sink: write: " + e.getMessage(), e);
        }
        buffer.clear();
        written.putAll(buffered);
        buffered.clear();
    }

    /** One record as a JSON line: topic, partition, offset, key, value (base64 for bytes), headers. */
    private static byte[] line(SinkRecord r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("topic", r.originalTopic());
        n.put("partition", r.originalKafkaPartition());
        n.put("offset", r.originalKafkaOffset());
        n.put("key", text(r.key()));
        if (r.value() instanceof byte[] b) {
            n.put("value_b64", Base64.getEncoder().encodeToString(b));
        } else {
            n.put("value", text(r.value()));
        }
        ObjectNode hs = n.putObject("headers");
        Map<String, String> last = new LinkedHashMap<>();
        for (Header h : r.headers()) {
            last.put(h.key(), text(h.value()));
        }
        last.forEach(hs::put);
        try {
            byte[] b = JSON.writeValueAsBytes(n);
            byte[] withNewline = java.util.Arrays.copyOf(b, b.length + 1);
            withNewline[b.length] = '\n';
            return withNewline;
        } catch (IOException e) {
            throw new ConnectException("line sink: encode: " + e.getMessage(), e);
        }
    }

    private static String text(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof byte[] b) {
            return new String(b, StandardCharsets.UTF_8);
        }
        return v.toString();
    }

    @Override
    public void stop() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException ignored) {
                // the task is stopping; what was fsynced is what counts
            }
        }
    }

    @Override
    public String version() {
        return "1";
    }
}
