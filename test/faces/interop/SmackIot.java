// XEP-0323/0325 interop: Smack 4.4.8's IoT API (IoTDataManager, IoTControlManager) against the agent.
//
// Usage: java -cp THIS_CLASS:SMACK_CLASSPATH SmackIot HOST PORT CA_FILE AGENT_FULL_JID READOUTS
// (test/support/smack.ts compiles both).
// Logs in as ops (control operator), viewer (read operator) and mallory (a stranger), password "<user>-secret",
// runs the whole scenario in this one JVM and prints one JSON line per check:
//   {"check":"readout","by":…,"try":n,"nodes":[[{"name","type","value"}…]…],"ms":…}   what Smack's API returned
//   {"check":"set","by":…,"data":"bool state=true","outcome":"ok"|"error","condition":…,"text":…,"ms":…}
//   {"check":"connection","by":…,"connected":…,"closedOnError":null|"…"}                 at the end
// A failure Smack throws is reported with its class and message ("outcome":"exception"), never raised.
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import org.jivesoftware.smack.ConnectionConfiguration.SecurityMode;
import org.jivesoftware.smack.ConnectionListener;
import org.jivesoftware.smack.XMPPException.XMPPErrorException;
import org.jivesoftware.smack.tcp.XMPPTCPConnection;
import org.jivesoftware.smack.tcp.XMPPTCPConnectionConfiguration;
import org.jivesoftware.smackx.iot.control.IoTControlManager;
import org.jivesoftware.smackx.iot.control.element.SetBoolData;
import org.jivesoftware.smackx.iot.control.element.SetData;
import org.jivesoftware.smackx.iot.control.element.SetIntData;
import org.jivesoftware.smackx.iot.data.IoTDataManager;
import org.jivesoftware.smackx.iot.data.element.IoTDataField;
import org.jivesoftware.smackx.iot.data.element.IoTFieldsExtension;
import org.jivesoftware.smackx.iot.data.element.NodeElement;
import org.jivesoftware.smackx.iot.data.element.TimestampElement;
import org.jxmpp.jid.EntityFullJid;
import org.jxmpp.jid.impl.JidCreate;

public final class SmackIot {
    private static String host;
    private static int port;
    private static X509TrustManager trust;
    private static EntityFullJid agent;

    /** One logged-in user and what ended its connection, if anything did. */
    private static final class User {
        final String name;
        final XMPPTCPConnection connection;
        volatile String closedOnError;

        User(String name, XMPPTCPConnection connection) {
            this.name = name;
            this.connection = connection;
        }
    }

    public static void main(String[] args) throws Exception {
        host = args[0];
        port = Integer.parseInt(args[1]);
        trust = trustManagerFor(args[2]);
        agent = JidCreate.entityFullFrom(args[3]);
        int readouts = Integer.parseInt(args[4]);

        User ops = login("ops");
        User viewer = login("viewer");
        User mallory = login("mallory");

        for (int i = 1; i <= readouts; i++) readout(ops, "try", i);
        set(ops, new SetBoolData("state", true));
        readout(ops, "after", "state=true");
        set(ops, new SetBoolData("state", false));
        readout(ops, "after", "state=false");
        set(ops, new SetIntData("state", 1));
        set(ops, new SetIntData("duty", 2048));
        readout(ops, "after", "duty=2048");

        readout(viewer, "try", 1);
        set(viewer, new SetBoolData("state", true));
        readout(mallory, "try", 1);
        set(mallory, new SetBoolData("state", true));

        for (User user : new User[] {ops, viewer, mallory}) {
            Map<String, Object> line = check("connection", user);
            line.put("connected", user.connection.isConnected() && user.connection.isAuthenticated());
            line.put("closedOnError", user.closedOnError);
            emit(line);
            user.connection.disconnect();
        }
    }

    private static X509TrustManager trustManagerFor(String caFile) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        try (InputStream in = new FileInputStream(caFile)) {
            store.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager) return (X509TrustManager) manager;
        }
        throw new IllegalStateException("no X509TrustManager for " + caFile);
    }

    private static User login(String name) throws Exception {
        XMPPTCPConnectionConfiguration config = XMPPTCPConnectionConfiguration.builder()
                .setXmppDomain("localhost")
                .setHostAddress(InetAddress.getByName(host))
                .setPort(port)
                .setUsernameAndPassword(name, name + "-secret")
                .setResource("smack")
                .setSecurityMode(SecurityMode.required)
                // A custom SSLContext would be ignored by Smack 4.4.8 in favour of the JDK's trust store.
                .setCustomX509TrustManager(trust)
                .build();
        XMPPTCPConnection connection = new XMPPTCPConnection(config);
        User user = new User(name, connection);
        connection.addConnectionListener(new ConnectionListener() {
            @Override
            public void connectionClosedOnError(Exception error) {
                user.closedOnError = error.toString();
            }
        });
        connection.connect().login();
        return user;
    }

    /** A momentary readout through IoTDataManager: each node's fields as Smack's API hands them over. */
    private static void readout(User user, String label, Object value) {
        Map<String, Object> line = check("readout", user);
        line.put(label, value);
        IoTDataManager data = IoTDataManager.getInstanceFor(user.connection);
        attempt(line, () -> {
            List<Object> nodes = new ArrayList<>();
            for (IoTFieldsExtension fields : data.requestMomentaryValuesReadOut(agent)) {
                for (NodeElement node : fields.getNodes()) {
                    List<Object> values = new ArrayList<>();
                    for (TimestampElement timestamp : node.getTimestampElements()) {
                        for (IoTDataField field : timestamp.getDataFields()) values.add(fieldOf(field));
                    }
                    nodes.add(values);
                }
            }
            line.put("nodes", nodes);
            return null;
        });
        emit(line);
    }

    private static Map<String, Object> fieldOf(IoTDataField field) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", field.getName());
        if (field instanceof IoTDataField.IntField) {
            out.put("type", "int");
            out.put("value", ((IoTDataField.IntField) field).getValue());
        } else if (field instanceof IoTDataField.BooleanField) {
            out.put("type", "boolean");
            out.put("value", ((IoTDataField.BooleanField) field).getValue());
        } else {
            out.put("type", field.getClass().getSimpleName());
            out.put("value", field.getValueString());
        }
        return out;
    }

    /** A control set through IoTControlManager.setUsingIq, which sends no node. */
    private static void set(User user, SetData data) {
        Map<String, Object> line = check("set", user);
        line.put("data", data.getElementName() + " " + data.getName() + "=" + data.getValue());
        attempt(line, () -> IoTControlManager.getInstanceFor(user.connection).setUsingIq(agent, data));
        emit(line);
    }

    private static Map<String, Object> check(String name, User user) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("check", name);
        line.put("by", user.name);
        return line;
    }

    /** Runs one call and records its outcome: ok, the stanza error Smack reports, or what Smack threw. */
    private static void attempt(Map<String, Object> line, Callable<Object> call) {
        long started = System.nanoTime();
        try {
            call.call();
            line.put("outcome", "ok");
        } catch (XMPPErrorException error) {
            line.put("outcome", "error");
            line.put("condition", error.getStanzaError().getCondition().toString());
            line.put("text", error.getStanzaError().getDescriptiveText());
        } catch (Exception | LinkageError error) {
            line.put("outcome", "exception");
            line.put("exception", error.toString());
        }
        line.put("ms", (System.nanoTime() - started) / 1_000_000);
    }

    private static void emit(Map<String, Object> line) {
        System.out.println(json(line));
        System.out.flush();
    }

    private static String json(Object value) {
        if (value == null) return "null";
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof Map) {
            StringBuilder out = new StringBuilder("{");
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
                if (out.length() > 1) out.append(',');
                out.append(json(String.valueOf(entry.getKey()))).append(':').append(json(entry.getValue()));
            }
            return out.append('}').toString();
        }
        if (value instanceof List) {
            StringBuilder out = new StringBuilder("[");
            for (Object item : (List<?>) value) {
                if (out.length() > 1) out.append(',');
                out.append(json(item));
            }
            return out.append(']').toString();
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toString().toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
