// What the local broker has served since it started, from its own JMX metrics: requests by kind, client connections
// (each a TLS handshake and a SCRAM exchange), the controller's metadata counters. Read it before and after a run
// and subtract (docs/benchmarks.md, "Twenty-ninth pass"). Java 17 runs a single source file as is, no build:
//
//     java bench/BrokerCounts.java "$(cat .local/kafka/kafka.pid)"
//
// It attaches to the broker's JVM (same user, same machine) and starts its local management agent.
import com.sun.tools.attach.VirtualMachine;
import javax.management.*;
import javax.management.remote.*;
import java.util.*;

public class BrokerCounts {
    public static void main(String[] a) throws Exception {
        VirtualMachine vm = VirtualMachine.attach(a[0]);
        String addr = vm.startLocalManagementAgent();
        JMXConnector c = JMXConnectorFactory.connect(new JMXServiceURL(addr));
        MBeanServerConnection s = c.getMBeanServerConnection();
        TreeMap<String,String> out = new TreeMap<>();
        for (ObjectName n : s.queryNames(new ObjectName("kafka.network:type=RequestMetrics,name=RequestsPerSec,*"), null)) {
            Object v = s.getAttribute(n, "Count");
            if (((Number) v).longValue() > 0) out.put("requests " + n.getKeyProperty("request") + " v" + n.getKeyProperty("version"), v.toString());
        }
        for (ObjectName n : s.queryNames(new ObjectName("kafka.server:type=socket-server-metrics,*"), null)) {
            for (String attr : new String[]{"connection-creation-total", "successful-authentication-total", "failed-authentication-total", "connection-count"}) {
                try { Object v = s.getAttribute(n, attr); out.put("socket " + n.getKeyProperty("listener") + "/" + n.getKeyProperty("networkProcessor") + " " + attr, v.toString()); } catch (Exception e) {}
            }
        }
        for (ObjectName n : s.queryNames(new ObjectName("kafka.controller:type=KafkaController,*"), null)) {
            try { out.put("controller " + n.getKeyProperty("name"), s.getAttribute(n, "Value").toString()); } catch (Exception e) {}
        }
        for (ObjectName n : s.queryNames(new ObjectName("kafka.server:type=BrokerTopicMetrics,name=*,*"), null)) {
            if (n.getKeyProperty("topic") != null) continue;
            try { out.put("topics " + n.getKeyProperty("name"), s.getAttribute(n, "Count").toString()); } catch (Exception e) {}
        }
        out.forEach((k, v) -> System.out.println(k + " = " + v));
        c.close(); vm.detach();
    }
}
