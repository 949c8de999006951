package io.pipechaos.connect;

import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * A plain sink connector: every record becomes one JSON line in a local file
 * (one file per task, {@code file} + ".task-N"), written and fsynced before
 * its offset is committed. It stands in for Kafka's FileStreamSink (not
 * served on Maven Central for 4.4.0) where a test needs a sink whose output
 * the harness reads for itself: the worker's own tests, an SMT's.
 *
 * <p>{@code flush.size} records are buffered in the task's heap before they
 * are written (0, the default: every batch the worker hands over is written
 * at once). A large flush size holds records in memory as incident 4's sink
 * did; the committed offsets never pass what was written.
 */
public class LineSink extends SinkConnector {
    public static final String FILE_CONFIG = "file";
    public static final String FLUSH_SIZE_CONFIG = "flush.size";

    static final ConfigDef CONFIG_DEF = new ConfigDef()
            .define(FILE_CONFIG, ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE, ConfigDef.Importance.HIGH,
                    "The path the tasks write to; task N writes <file>.task-N.")
            .define(FLUSH_SIZE_CONFIG, ConfigDef.Type.INT, 0, ConfigDef.Range.atLeast(0), ConfigDef.Importance.MEDIUM,
                    "Records held in memory before they are written; 0 writes every batch at once.");

    private Map<String, String> props;

    @Override
    public void start(Map<String, String> props) {
        CONFIG_DEF.parse(props); // a bad config fails the connector, not its tasks
        this.props = props;
    }

    @Override
    public Class<? extends Task> taskClass() {
        return LineSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> out = new java.util.ArrayList<>();
        for (int i = 0; i < maxTasks; i++) {
            Map<String, String> c = new java.util.HashMap<>(props);
            c.put(LineSinkTask.TASK_CONFIG, Integer.toString(i));
            out.add(c);
        }
        return out;
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return CONFIG_DEF;
    }

    @Override
    public String version() {
        return "1";
    }
}
