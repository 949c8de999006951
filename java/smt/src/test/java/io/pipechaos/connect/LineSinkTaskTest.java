package io.pipechaos.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LineSinkTaskTest {
    @TempDir
    Path dir;

    static SinkRecord rec(long offset, String site) {
        ConnectHeaders hs = new ConnectHeaders();
        hs.addString("pipechaos-id", Long.toString(offset + 100));
        if (site != null) {
            hs.addString("wm-site-id", site);
        }
        hs.add("nothing", null, null);
        return new SinkRecord("audit", 0, null, "k" + offset, null, ("v" + offset).getBytes(StandardCharsets.UTF_8), offset, 0L, null, hs);
    }

    @Test
    void commitsOnlyWhatIsWritten() throws Exception {
        LineSinkTask t = new LineSinkTask();
        String file = dir.resolve("out").toString();
        t.start(Map.of(LineSink.FILE_CONFIG, file, LineSink.FLUSH_SIZE_CONFIG, "3", LineSinkTask.TASK_CONFIG, "2"));
        TopicPartition tp = new TopicPartition("audit", 0);
        t.put(List.of(rec(0, "US"), rec(1, null)));
        Map<TopicPartition, OffsetAndMetadata> c = t.preCommit(Map.of(tp, new OffsetAndMetadata(2)));
        assertTrue(c.isEmpty(), "two records buffered under a flush size of 3: nothing to commit, got " + c);
        t.put(List.of(rec(2, "CA")));
        c = t.preCommit(Map.of(tp, new OffsetAndMetadata(3)));
        assertEquals(3, c.get(tp).offset());
        t.stop();

        List<String> lines = Files.readAllLines(Path.of(file + ".task-2"));
        assertEquals(3, lines.size());
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertEquals("100", first.get("headers").get("pipechaos-id").asText());
        assertEquals("US", first.get("headers").get("wm-site-id").asText());
        assertTrue(first.get("headers").get("nothing").isNull(), "a null header is JSON null");
        assertEquals("djA=", first.get("value_b64").asText());
        assertTrue(new ObjectMapper().readTree(lines.get(1)).get("headers").get("wm-site-id") == null, "an absent header is absent");
    }

    @Test
    void flushSizeZeroWritesEveryBatch() throws Exception {
        LineSinkTask t = new LineSinkTask();
        String file = dir.resolve("out").toString();
        t.start(Map.of(LineSink.FILE_CONFIG, file));
        t.put(List.of(rec(5, "US")));
        assertEquals(1, Files.readAllLines(Path.of(file + ".task-0")).size());
        assertEquals(6, t.preCommit(Map.of(new TopicPartition("audit", 0), new OffsetAndMetadata(6))).get(new TopicPartition("audit", 0)).offset());
        t.stop();
    }
}
