package io.pipechaos.connect;

import org.apache.kafka.connect.header.Headers;

/**
 * The header router of incident 1. A GCS sink connector routed compliance
 * audit records with a transform that did
 *
 * <pre>header.value().toString().equals("US")</pre>
 *
 * Legacy records carried no {@code wm-site-id} header: the first one threw
 * a NullPointerException, and with {@code errors.tolerance=none} the task
 * failed and the connector stopped consuming every record; about six hours
 * of audit data stopped flowing while the topic backed up, and nothing
 * alerted.
 *
 * <p>The defect is the line marked BUG in {@link #route}: an absent header
 * is a null {@code Header}, a null one a null value, and both are
 * dereferenced. A malformed value is simply "not US" and takes the other
 * route. Valid headers are routed exactly as {@link HeaderRouter} routes
 * them, and nothing is counted.
 */
public class BuggyHeaderRouter extends HeaderRouter {
    @Override
    protected String route(Headers headers) {
        if (headers.lastWithName(header).value().toString().equals(homeSite)) { // BUG: no header, or a null value, throws.
            return homeRoute;
        }
        return otherRoute;
    }
}
