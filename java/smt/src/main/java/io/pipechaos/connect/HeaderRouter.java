package io.pipechaos.connect;

import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.metrics.Gauge;
import org.apache.kafka.common.metrics.Monitorable;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.header.Headers;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.transforms.Transformation;

/**
 * Routes each sink record by its {@code wm-site-id} header, the transform of
 * incident 1 done right. The home site's records ({@code home.site}, "US")
 * take {@code home.route} ("site=us"); every other valid site id (two
 * uppercase ASCII letters) takes {@code other.route} ("site=intl"). The
 * route is written into the record as the header {@code route.header}
 * ("pipechaos-route"), where a sink turns it into an object key prefix.
 *
 * <p>A record whose header is absent, null (present with no value) or
 * malformed takes the home route — the permissive default — and is counted
 * by reason in the plugin metric {@code filter-exceptions-total{reason}}
 * (JMX, under the worker's {@code kafka.connect:type=plugins} beans) and
 * marked with the header {@code exception.header}
 * ("pipechaos-filter-exception": absent, null or malformed). The router
 * never throws on a header, so under {@code errors.tolerance=none} a legacy
 * record cannot stop the task. The decision mirrors connectors/headerfilter
 * of this repository; {@link BuggyHeaderRouter} is the incident's.
 *
 * <p>Header values arrive as the connector's header converter made them:
 * a String (SimpleHeaderConverter, StringConverter) or the raw bytes
 * (ByteArrayConverter); any other type (a number the SimpleHeaderConverter
 * parsed, a map) is malformed.
 */
public class HeaderRouter implements Transformation<SinkRecord>, Monitorable {
    public static final String HEADER_CONFIG = "header";
    public static final String HOME_SITE_CONFIG = "home.site";
    public static final String HOME_ROUTE_CONFIG = "home.route";
    public static final String OTHER_ROUTE_CONFIG = "other.route";
    public static final String ROUTE_HEADER_CONFIG = "route.header";
    public static final String EXCEPTION_HEADER_CONFIG = "exception.header";

    /** Why a header could not be routed: the "reason" tag of the exceptions metric. */
    public enum Reason {
        ABSENT, NULL, MALFORMED;

        /** The lowercase name, as the metric tag and the exception header carry it. */
        public String tag() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public static final ConfigDef CONFIG_DEF = new ConfigDef()
            .define(HEADER_CONFIG, ConfigDef.Type.STRING, "wm-site-id", ConfigDef.Importance.HIGH,
                    "The header records are routed on.")
            .define(HOME_SITE_CONFIG, ConfigDef.Type.STRING, "US", ConfigDef.Importance.HIGH,
                    "The site id of the home route: two uppercase ASCII letters.")
            .define(HOME_ROUTE_CONFIG, ConfigDef.Type.STRING, "site=us", ConfigDef.Importance.HIGH,
                    "The route of the home site's records and of every record whose header is absent, null or malformed.")
            .define(OTHER_ROUTE_CONFIG, ConfigDef.Type.STRING, "site=intl", ConfigDef.Importance.HIGH,
                    "The route of every other valid site id.")
            .define(ROUTE_HEADER_CONFIG, ConfigDef.Type.STRING, "pipechaos-route", ConfigDef.Importance.MEDIUM,
                    "The header the route is written to.")
            .define(EXCEPTION_HEADER_CONFIG, ConfigDef.Type.STRING, "pipechaos-filter-exception", ConfigDef.Importance.LOW,
                    "The header that marks a record routed by default, with the reason.");

    protected String header;
    protected String homeSite;
    protected String homeRoute;
    protected String otherRoute;
    private String routeHeader;
    private String exceptionHeader;
    private final Map<Reason, AtomicLong> exceptions = new EnumMap<>(Reason.class);

    public HeaderRouter() {
        for (Reason r : Reason.values()) {
            exceptions.put(r, new AtomicLong());
        }
    }

    @Override
    public void configure(Map<String, ?> props) {
        AbstractConfig c = new AbstractConfig(CONFIG_DEF, props);
        header = c.getString(HEADER_CONFIG);
        homeSite = c.getString(HOME_SITE_CONFIG);
        homeRoute = c.getString(HOME_ROUTE_CONFIG);
        otherRoute = c.getString(OTHER_ROUTE_CONFIG);
        routeHeader = c.getString(ROUTE_HEADER_CONFIG);
        exceptionHeader = c.getString(EXCEPTION_HEADER_CONFIG);
        if (site(homeSite) == null) {
            throw new ConfigException(HOME_SITE_CONFIG, homeSite, "not a site id: use two uppercase ASCII letters, like \"US\"");
        }
        if (homeRoute.isBlank() || otherRoute.isBlank()) {
            throw new ConfigException(HOME_ROUTE_CONFIG, homeRoute, "routes must not be empty: a route is an object key prefix like \"site=us\"");
        }
        if (homeRoute.equals(otherRoute)) {
            throw new ConfigException(OTHER_ROUTE_CONFIG, otherRoute, "the home and other routes are the same: give them different prefixes");
        }
    }

    @Override
    public void withPluginMetrics(PluginMetrics metrics) {
        for (Reason r : Reason.values()) {
            LinkedHashMap<String, String> tags = new LinkedHashMap<>();
            tags.put("reason", r.tag());
            AtomicLong n = exceptions.get(r);
            metrics.addMetric(metrics.metricName("filter-exceptions-total",
                    "Records whose site header could not be routed and took the home route, by reason.", tags),
                    (Gauge<Long>) (config, now) -> n.get());
        }
    }

    @Override
    public SinkRecord apply(SinkRecord record) {
        Headers headers = record.headers().duplicate();
        String route = route(headers);
        headers.remove(routeHeader).addString(routeHeader, route);
        return record.newRecord(record.topic(), record.kafkaPartition(), record.keySchema(), record.key(),
                record.valueSchema(), record.value(), record.timestamp(), headers);
    }

    /**
     * The routing decision, in place on the record's (copied) headers: a
     * header that cannot be routed takes the home route and is counted and
     * marked, never thrown.
     */
    protected String route(Headers headers) {
        Header h = headers.lastWithName(header);
        Reason reason;
        if (h == null) {
            reason = Reason.ABSENT;
        } else if (h.value() == null) {
            reason = Reason.NULL;
        } else {
            String site = site(h.value());
            if (site != null) {
                return site.equals(homeSite) ? homeRoute : otherRoute;
            }
            reason = Reason.MALFORMED;
        }
        exceptions.get(reason).incrementAndGet();
        headers.remove(exceptionHeader).addString(exceptionHeader, reason.tag());
        return homeRoute;
    }

    /** The site id v holds, or null when v is not two uppercase ASCII letters. */
    static String site(Object v) {
        byte[] b;
        if (v instanceof String s) {
            b = s.getBytes(StandardCharsets.UTF_8);
        } else if (v instanceof byte[] raw) {
            b = raw;
        } else {
            return null;
        }
        if (b.length != 2 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'A' || b[1] > 'Z') {
            return null;
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    /** How many records took the home route for reason. */
    public long exceptions(Reason reason) {
        return exceptions.get(reason).get();
    }

    @Override
    public ConfigDef config() {
        return CONFIG_DEF;
    }

    @Override
    public void close() {
    }
}
