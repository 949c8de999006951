package io.pipechaos.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.stream.Stream;

import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The header states of incident 1, as connectors/headerfilter's tests list them, through both routers. */
class HeaderRouterTest {
    private static final String SITE = "wm-site-id";

    /** A record with the given headers (name, value pairs; a null value is a null header). */
    static SinkRecord rec(Object... kv) {
        ConnectHeaders hs = new ConnectHeaders();
        hs.addString("pipechaos-id", "1");
        for (int i = 0; i < kv.length; i += 2) {
            hs.add((String) kv[i], kv[i + 1], null);
        }
        return new SinkRecord("audit", 1, null, "k", null, "v".getBytes(StandardCharsets.UTF_8), 7, 0L, null, hs);
    }

    static <T extends HeaderRouter> T router(T r) {
        r.configure(Map.of());
        return r;
    }

    static String route(SinkRecord r) {
        Header h = r.headers().lastWithName("pipechaos-route");
        return h == null ? null : (String) h.value();
    }

    static String exception(SinkRecord r) {
        Header h = r.headers().lastWithName("pipechaos-filter-exception");
        return h == null ? null : (String) h.value();
    }

    /** name, record, the fixed router's route, the reason it counts (null: none). */
    static Stream<Arguments> states() {
        return Stream.of(
                Arguments.of("US", rec(SITE, "US"), "site=us", null),
                Arguments.of("CA", rec(SITE, "CA"), "site=intl", null),
                Arguments.of("GB as bytes", rec(SITE, "GB".getBytes(StandardCharsets.US_ASCII)), "site=intl", null),
                Arguments.of("US as bytes", rec(SITE, "US".getBytes(StandardCharsets.US_ASCII)), "site=us", null),
                Arguments.of("absent", rec(), "site=us", "absent"),
                Arguments.of("null", rec(SITE, null), "site=us", "null"),
                Arguments.of("empty", rec(SITE, ""), "site=us", "malformed"),
                Arguments.of("blanks", rec(SITE, "  "), "site=us", "malformed"),
                Arguments.of("lowercase", rec(SITE, "us"), "site=us", "malformed"),
                Arguments.of("symbol", rec(SITE, "u$"), "site=us", "malformed"),
                Arguments.of("not utf-8", rec(SITE, new byte[] {(byte) 0xff, (byte) 0xfe}), "site=us", "malformed"),
                Arguments.of("a number", rec(SITE, 42), "site=us", "malformed"),
                Arguments.of("too long", rec(SITE, "US-EAST-1-but-longer-than-any-site-id"), "site=us", "malformed"),
                Arguments.of("last header wins", rec(SITE, null, SITE, "MX"), "site=intl", null),
                Arguments.of("last header null", rec(SITE, "US", SITE, null), "site=us", "null"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("states")
    void fixedRoutesEveryStateAndCountsTheDefaults(String name, SinkRecord in, String route, String reason) {
        HeaderRouter f = router(new HeaderRouter());
        SinkRecord out = f.apply(in);
        assertEquals(route, route(out), name);
        assertEquals(reason, exception(out), name);
        for (HeaderRouter.Reason r : HeaderRouter.Reason.values()) {
            assertEquals(r.tag().equals(reason) ? 1 : 0, f.exceptions(r), name + ": " + r.tag());
        }
        // The record is otherwise untouched: topic, partition, offset, key, value.
        assertEquals(in.originalTopic(), out.originalTopic());
        assertEquals(in.kafkaOffset(), out.kafkaOffset());
        assertEquals(in.value(), out.value());
        assertNull(route(in), "the input record's headers are not modified");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("states")
    void buggyThrowsOnAbsentOrNullAndRoutesTheRestAsItReads(String name, SinkRecord in, String route, String reason) {
        BuggyHeaderRouter b = router(new BuggyHeaderRouter());
        if ("absent".equals(reason) || "null".equals(reason)) {
            assertThrows(NullPointerException.class, () -> b.apply(in), name);
            return;
        }
        SinkRecord out = b.apply(in);
        assertNull(exception(out), "the buggy router counts nothing");
        if (reason == null && !(in.headers().lastWithName(SITE).value() instanceof byte[])) {
            assertEquals(route, route(out), name + ": a valid string header is routed like the fixed router does");
        } else if ("malformed".equals(reason)) {
            assertEquals("site=intl", route(out), name + ": a malformed header is \"not US\"");
        }
        for (HeaderRouter.Reason r : HeaderRouter.Reason.values()) {
            assertEquals(0, b.exceptions(r));
        }
    }

    @Test
    void badConfigIsRejectedWithTheReason() {
        ConfigException e = assertThrows(ConfigException.class, () -> new HeaderRouter().configure(Map.of("home.site", "usa")));
        assertTrue(e.getMessage().contains("two uppercase ASCII letters"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> new HeaderRouter().configure(Map.of("other.route", "site=us")));
        assertTrue(e.getMessage().contains("different prefixes"), e.getMessage());
    }

    @Test
    void configuredNamesAreUsed() {
        HeaderRouter f = new HeaderRouter();
        f.configure(Map.of("header", "region", "home.site", "EU", "home.route", "eu", "other.route", "rest", "route.header", "r"));
        SinkRecord out = f.apply(rec("region", "EU", SITE, "US"));
        assertEquals("eu", out.headers().lastWithName("r").value());
        out = f.apply(rec(SITE, "EU"));
        assertEquals("eu", out.headers().lastWithName("r").value(), "no region header: the home route");
        assertEquals(1, f.exceptions(HeaderRouter.Reason.ABSENT));
    }
}
